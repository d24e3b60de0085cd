"""Grading at paper scale: distinct answers graded once per prompt, spread over workers,
with the same verdicts as one check per sample; verdict-preserving worker speed-ups;
time-outs cut inside the worker or, failing that, by killing it."""

import logging
import os
from pathlib import Path

import pytest

from gvgap.tasks import get_task, mathcheck
from gvgap.tasks.base import Problem
from gvgap.tasks.mathcheck import MathChecker

# no size rule reads it; sympy spends > 20 s expanding it, with or without the worker speed-ups
SLOW = "(x+1)^{3000}-x^{3000}"
BUDGET = 4.0  # s per check: far above every other check here, even on a loaded machine
LIST_Q = "Find all real numbers $x$ such that $f(x) = 0$. Enter all the solutions, separated by commas."
DATA = Path(os.environ["GVGAP_DATA_DIR"])  # set by conftest
COUNT_Q = "How many positive integers less than 100000 are there?"


def fa(x):
    return f"Some work.\nFinal Answer: The final answer is ${x}$. I hope it is correct."


def per_sample(problems, texts, timeout):
    """The serial reference: one check per sample, no verdict cache, no worker speed-ups."""
    task = get_task("math", timeout=timeout)
    task.checker = MathChecker(timeout=timeout, cache_size=0, shortcuts=False)
    try:
        return [[task.checker.check(p.gold, task.extract_answer(c), p.question) for c in cs]
                for p, cs in zip(problems, texts)], task.checker.n_verify, task.checker.n_timeouts
    finally:
        task.close()


def deduplicated(problems, texts, timeout, workers=2):
    """What a run does: prefetch (distinct answers once, over workers), then per-sample look-ups."""
    task = get_task("math", timeout=timeout)
    try:
        task.prefetch(problems, texts, workers=workers)
        calls, timeouts = task.checker.n_verify, task.checker.n_timeouts
        verdicts = [[task.checker.check(p.gold, task.extract_answer(c), p.question) for c in cs]
                    for p, cs in zip(problems, texts)]
        utilities = [[task.utility(p, c) for c in cs] for p, cs in zip(problems, texts)]
        assert task.checker.n_verify == calls  # the look-ups graded nothing new
        return verdicts, utilities, calls, timeouts
    finally:
        task.close()


def test_distinct_answers_once_give_the_per_sample_verdicts(caplog):
    half = ["\\frac{1}{2}", "0.5", "1/2", "\\dfrac12", "\\frac{1}{2}", "0.5", "\\tfrac{1}{2}", ".5", "0.50"]
    problems = [
        Problem(id="half", question="q", gold="\\frac{1}{2}"),
        Problem(id="root", question="q", gold="\\frac{\\sqrt{2}}{2}"),
        Problem(id="poly", question="q", gold="x^2+2x+1"),
        Problem(id="slow", question="q", gold="5"),
    ]
    answers = [
        half + ["0.6", "\\frac{2}{3}", "\\frac{1}{", "I don't know", None],
        ["\\frac{1}{\\sqrt{2}}", "\\frac{1}{\\sqrt{2}}", "0.707107", "\\sqrt{2}", "\\sqrt{2}", "\\frac{\\sqrt{3}}{2}",
         "\\sqrt{2}/2", "\\text{no solution}", None, "0.7"],
        ["(x+1)^2", "(x + 1)^2", "\\left(x+1\\right)^2", "(x+1)^3", "(x+1)^3", "x^2+2x", "x^2+1+2x", "\\sqrt{", "y"],
        [SLOW, "5", "6", SLOW, "\\frac{10}{2}", "five", None],
    ]
    texts = [[fa(a) if a is not None else "I ran out of time" for a in row] for row in answers]
    serial, serial_calls, serial_timeouts = per_sample(problems, texts, timeout=BUDGET)
    with caplog.at_level(logging.WARNING, logger="gvgap.tasks.mathcheck"):
        ours, utilities, calls, timeouts = deduplicated(problems, texts, timeout=BUDGET)
    assert [[v.equal for v in row] for row in ours] == [[v.equal for v in row] for row in serial]
    # how, sample by sample: the same, except math-verify's verdicts ours knew by exact arithmetic
    diffs = [[(v.how, w.how) for v, w in zip(a, b) if v.how != w.how] for a, b in zip(ours, serial)]
    assert diffs[:3] == [[("rational", "math_verify")], [], []]  # 0.6 against 1/2
    assert diffs[3] == []  # the slow answer is cut in both paths
    assert utilities == [[float(v.equal) for v in row] for row in serial]
    assert [v.equal for v in serial[0]] == [True] * len(half) + [False] * 5
    assert [v.equal for v in serial[2][:3]] == [True] * 3 and serial[2][6].equal
    assert serial[3][0].how == "timeout" and not serial[3][0].equal and not serial[3][3].equal
    assert serial[3][4].equal and not serial[3][5].equal
    assert {serial[0][11].how, serial[2][7].how} <= {"unparsed", "error", "math_verify"}
    # the slow answer is cut once per sample by the serial path, once per prompt by ours
    assert serial_timeouts == 2 and timeouts == 1
    assert calls < serial_calls
    assert "cut at 4.0 s" in caplog.text  # a time-out is logged (here or in the serial path)


def test_the_verdict_cache_is_per_gold_and_problem():
    problems = [Problem(id="a", question="q", gold="2"), Problem(id="b", question="q", gold="3"),
                Problem(id="c", question="q", gold="\\frac{\\sqrt{2}}{2}"), Problem(id="d", question="q", gold="\\sqrt{2}"),
                Problem(id="e", question=LIST_Q, gold="30,150"), Problem(id="f", question=COUNT_Q, gold="30,150")]
    texts = [[fa("2")], [fa("2")], [fa("\\frac{1}{\\sqrt{2}}")], [fa("\\frac{1}{\\sqrt{2}}")], [fa("150, 30")],
             [fa("150, 30")]]
    _, utilities, _, _ = deduplicated(problems, texts, timeout=5.0)
    assert utilities == [[1.0], [0.0], [1.0], [0.0], [1.0], [0.0]]


def test_worker_speed_ups_keep_every_verdict():
    pairs = [("\\sqrt{2}", "1.414"), ("\\sqrt{2}", "1.41421356"), ("\\frac{1}{3}", "0.333333"), ("\\pi", "3.14"),
             ("\\sin^2 x+\\cos^2 x", "1"), ("x^2+2x+1", "(x+1)^2"), ("x^2+2x+1", "(x+1)^3"), ("\\frac{1}{10!}", "\\frac{1}{11!}"),
             ("e^{\\pi\\sqrt{163}}", "262537412640768744"), ("(-1)^n", "\\cos(\\pi n)"), ("\\ln(x^2)", "2\\ln x"),
             ("[2,5)", "[2,5]"), ("(1,2)", "(1,3)"), ("\\{1,2\\}", "\\{2,1\\}"), ("x=3", "3"), ("y=2x+1", "y=2x+2"),
             ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\3\\end{pmatrix}"), ("2+\\mathrm{e}", "2-e"),
             ("\\text{(C)}", "C"), ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}"), ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt{2}}{2}"),
             ("3\\sqrt{2}", "\\sqrt{18}"), ("i", "\\sqrt{-1}"), ("2^{100}", "2^{100}+1"), ("f(x)", "f(y)"), ("\\frac{1}{", "1")]
    with MathChecker(timeout=5.0, cache_size=0, shortcuts=False) as plain, MathChecker(timeout=5.0, cache_size=0) as fast:
        want = [plain.check(g, p) for g, p in pairs]
        got = [fast.check(g, p) for g, p in pairs]
    assert got == want
    assert want[1].equal and want[5].equal and want[13].equal and not want[7].equal and not want[11].equal


def test_clearly_different_only_for_numbers_far_apart():
    sympy = pytest.importorskip("sympy")
    from gvgap.tasks.mathfast import clearly_different

    x, n = sympy.Symbol("x"), sympy.Symbol("n", integer=True)
    assert clearly_different(sympy.sqrt(2), sympy.Float("1.414"))
    assert clearly_different((x + 1) ** 2, (x + 1) ** 3)
    assert not clearly_different(sympy.sin(x) ** 2 + sympy.cos(x) ** 2, sympy.Integer(1))  # equal: left to simplify
    assert not clearly_different(sympy.exp(sympy.pi * sympy.sqrt(163)), sympy.Integer(262537412640768744))  # 1e-30 apart
    assert not clearly_different(sympy.sin(sympy.pi * n), sympy.Integer(0))  # n may not take the test points
    assert not clearly_different(sympy.Function("f")(x), sympy.Function("f")(x + 1))  # not a number
    assert not clearly_different(sympy.Matrix([1, 2]), sympy.Matrix([1, 3]))  # not an Expr: math-verify decides


def test_a_worker_deaf_to_its_alarm_is_killed_after_the_grace(monkeypatch):
    monkeypatch.setattr(mathcheck, "_WORKER", "import sys, time; print('ready', flush=True); sys.stdin.readline(); "
                                             "time.sleep(120)")
    monkeypatch.setattr(mathcheck, "GRACE", 0.5)
    with MathChecker(timeout=0.5) as checker:
        verdict = checker.check("x+1", "x+2")  # not decided by the string paths: goes to the worker
        assert verdict == mathcheck.Verdict(False, "timeout")
        assert checker.n_timeouts == 1 and checker._proc is None


def test_a_big_batch_stays_cached_for_the_look_ups():
    with MathChecker(timeout=5.0, cache_size=2) as checker:
        pairs = [(str(k), str(k + 1)) for k in range(6)]  # decided by the number path, no worker
        checker.check_many(pairs)
        assert len(checker.cache) == 6
        assert [checker.check(g, p).equal for g, p in pairs] == [False] * 6 and checker.n_cached == 6
        checker.check("7", "7")  # a new key: back to the bound
        assert len(checker.cache) == 2 and checker.key("7", "7") in checker.cache
    with MathChecker(timeout=5.0, cache_size=0) as off:
        assert off.check("1", "1").equal and not off.cache


def test_gsm8k_flexible_answer_is_the_last_number():
    from gvgap.tasks.gsm8k import flexible_answer
    from gvgap.tasks.numbers import last_number

    texts = ["She has 3 apples and 4,000 pears, so 12{,}000 in all.", "No numbers here.", "-5 then 10-3 then 7.",
             "Costs $1,234.50 or 18. dollars", "x = 1/2 and .5 and 3.", "12\\,000 and 9", "the answer is 1,00"]
    assert [flexible_answer(t) for t in texts] == [last_number(t) for t in texts]
    assert flexible_answer(texts[0]) == "12000"


# The exact rational fast path (`mathrational`): math-verify's verdict without parsing.
# (gold, answer, fast-path verdict; None: outside the grammar or too close to call, so
# math-verify decides).
RATIONAL_CASES = [
    ("34", "33+1", True), ("33", "33+1", False), ("\\frac{1}{2}", "--\\frac{1}{2}", True),
    ("-\\frac{1}{2}", "--\\frac{1}{2}", False), ("5", "(5)", True), ("5", "{5}", True), ("5", "+5", True),
    ("\\frac{1}{24}", "2/3/16", True), ("9", "6/2\\cdot3", True), ("1", "6/2\\cdot3", False),
    ("\\frac12", "\\frac1{2}", True), ("\\frac{360}7", "\\frac{360}{7}", True), ("\\frac{360}7", "\\frac{320}7", False),
    ("-6", "2\\cdot-3", True), ("6", "3\\times2\\times1", True), ("-1", "2+-3", True), ("0", "-0+0", True),
    ("\\frac{7}{3}", "2+\\frac{1}{3}", True), ("-\\frac{3}{4}", "\\frac{3}{-4}", True), ("10", "(2+3)\\cdot2", True),
    ("2", "\\frac{1}{2}\\cdot4", True), ("0.4", "2\\cdot0.4", False), ("\\frac{1}{3}", "0.3333", False),
    ("3.14", "\\frac{22}{7}", False), ("2.5", "2.5+10", False),
    # left to math-verify: a decimal close to the other side (math-verify: 1/3 = 0.333333 but not
    # 0.333333+0), mixed numbers, juxtaposition, powers, units, division by zero, thousands
    ("3.5", "2.5+1", None), ("0.8", "2\\cdot0.4", None), ("\\frac{1}{3}", "0.333333+0", None),
    ("\\frac{3}{2}", "1\\frac{1}{2}", None), ("3", "3\\frac{3}{8}", None), ("10", "2(2+3)", None),
    ("1000", "10^{3}", None), ("12", "12\\text{ cm}", None), ("1", "\\frac{1}{0}", None), ("1000", "1,000", None),
    ("\\frac{1}{2}", "1\\div2", None), ("\\frac{1}{2}", "\\frac{1}{2", None), ("2", "\\frac123", None),
]


def test_rational_fast_path_reads_a_strict_grammar():
    from gvgap.tasks.mathanswer import normalise
    from gvgap.tasks.mathrational import rational_equal, read

    assert [rational_equal(normalise(g), normalise(p)) for g, p, _ in RATIONAL_CASES] == [v for _, _, v in RATIONAL_CASES]
    assert read("2/3/16")[0] == read("\\frac{1}{24}")[0] and read("6/2\\cdot3")[0] == 9  # left to right
    assert read("1.5+1")[1] and not read("\\frac{3}{2}+1")[1]  # whether a decimal point appears
    assert read("1" * 16) is None and read("(" * 30 + "1" + ")" * 30) is None  # bounded sizes


def test_rational_fast_path_gives_math_verify_verdicts():
    """Every case the fast path decides, and the ones it leaves open, against the plain
    checker (string/number paths, then math-verify without speed-ups)."""
    pairs = [(g, p) for g, p, _ in RATIONAL_CASES]
    with MathChecker(timeout=5.0, cache_size=0, shortcuts=False) as plain, MathChecker(timeout=5.0, cache_size=0) as fast:
        want = [plain.check(g, p) for g, p in pairs]
        got = [fast.check(g, p) for g, p in pairs]
        decided = [v is not None for _, _, v in RATIONAL_CASES]
        assert plain.n_verify - fast.n_verify == sum(decided)  # each decided pair: one math-verify call saved
    assert [v.equal for v in got] == [v.equal for v in want]
    assert [v.how == "rational" for v in got] == decided
    assert all(w.how != "rational" for w in want)  # the reference never takes the fast path
    assert [w.equal for w, d in zip(want, decided) if d] == [v for _, _, v in RATIONAL_CASES if v is not None]


def test_rational_fast_path_agrees_with_math_verify_on_math_golds():
    """A seeded sample of MATH test golds with equal and wrong spellings
    (`benchmarks.grading_identity`, which runs the same over all 5000)."""
    import random

    from benchmarks.grading_identity import pairs_for
    from gvgap.data import load_rows
    from gvgap.tasks.mathanswer import cheap_equal, last_boxed, normalise
    from gvgap.tasks.mathrational import rational_equal

    rows = load_rows("math", "test", "local", str(DATA))
    golds = [g for g in (last_boxed(r["solution"]) for r in rows) if g]
    rng = random.Random(1)
    chosen = rng.sample(golds, 25)
    pairs = [(g, p) for g in chosen for p in pairs_for(g, golds[:200], rng)
             if cheap_equal(g, p) is None and rational_equal(normalise(g), normalise(p)) is not None]
    assert len(pairs) >= 50 and len({g for g, _ in pairs}) >= 8
    with MathChecker(timeout=5.0, cache_size=0, shortcuts=False) as plain:
        want = [plain.check(g, p).equal for g, p in pairs]
    got = [rational_equal(normalise(g), normalise(p)) for g, p in pairs]
    assert got == want
    assert True in got and False in got


def test_rational_fast_path_leaves_differences_below_agrees_resolution_open():
    from gvgap.tasks.mathrational import rational_equal

    big = "999999999999999\\cdot999999999999999\\cdot999999999999999"  # ~1e45, exact
    assert rational_equal(big, big + "+0") is True
    assert rational_equal(big, big + "+1") is None  # 1e-45 of the size: math-verify decides
    assert rational_equal("\\frac{1}{999999999999}", "\\frac{1}{999999999998}") is False


def test_one_gold_s_checks_are_shared_out_when_no_other_group_is_left(monkeypatch):
    """Groups of one gold go to one worker; a free worker takes keys from the end of a group
    still being worked on rather than idle (before: one worker graded the whole group)."""
    seen = {}
    ask = MathChecker._ask

    def recording(self, gold, pred):
        seen[pred] = id(self)
        return ask(self, gold, pred)

    monkeypatch.setattr(MathChecker, "_ask", recording)
    preds = ["(x+1)^2", "x^2+2x+1", "(x+1)^3", "x^2+1", "x+1", "(x-1)^2", "x^2+2x", "2x+1", "(x+2)^2", "x^3+1"]
    with MathChecker(timeout=5.0) as checker:
        verdicts = checker.check_many([("x^2+2x+1", p) for p in preds], workers=2)
        helper = id(checker._helpers[0])
    assert [v.equal for v in verdicts] == [True, True] + [False] * 8
    assert set(seen) == set(preds) - {"x^2+2x+1"}  # the gold itself: a string match, no worker
    assert {id(checker), helper} == set(seen.values())  # both workers graded some of the one group
