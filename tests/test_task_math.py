"""MATH / MATH-500: loading, Minerva prompts, answer extraction and time-bounded grading."""

import json
import math
import os
import time
from pathlib import Path

import pytest

from gvgap.tasks import get_task
from gvgap.tasks.base import Problem
from gvgap.tasks.math import EXEMPLAR_LINES, unbox, worked_solution
from gvgap.tasks.mathanswer import cheap_equal, final_answer, last_boxed, list_mode
from gvgap.tasks.mathcheck import MathChecker, Verdict

SLOW = "(x+1)^{3000}-x^{3000}"  # no size rule reads it: sympy really spends the time-out expanding it

DATA = Path(os.environ["GVGAP_DATA_DIR"])  # set by conftest; filled by its benchmark_data fixture


@pytest.fixture(scope="module")
def task():
    t = get_task("math", data_dir=str(DATA), timeout=2.0)
    yield t
    t.close()


def rows(rel):
    return [json.loads(line) for line in (DATA / rel).read_text().splitlines()]


# -- data and prompts ---------------------------------------------------------------------------
def test_load_counts_and_golds(task):
    test = task.load()
    assert len(test) == 5000 and len({p.id for p in test}) == 5000
    assert all(p.gold for p in test)
    assert len(task.load("train")) == 7500
    assert test[175].gold == "575\\text{ students}"
    m500 = get_task("math500", data_dir=str(DATA))
    try:
        problems = m500.load()
        assert len(problems) == 500
        # the last \boxed{} of each solution is exactly MATH-500's own "answer" field
        assert [p.gold for p in problems] == [r["answer"] for r in rows("math500/test.jsonl")]
        # MATH-500 is a subset of the MATH test set
        assert {p.question for p in problems} <= {p.question for p in test}
        with pytest.raises(ValueError, match="only a test split"):
            m500.load("train")
    finally:
        m500.close()


def test_last_boxed_nested_and_odd_forms():
    assert last_boxed("so $x=\\boxed{\\frac{\\sqrt{3}}{2}}$.") == "\\frac{\\sqrt{3}}{2}"
    assert last_boxed("\\boxed{1} and then \\boxed{2}") == "2"
    assert last_boxed("\\fbox{7}") == "7"
    assert last_boxed("the answer is $\\boxed 5$.") == "5"
    assert last_boxed("truncated \\boxed{\\frac{1}{2") is None
    assert last_boxed("no box") is None


def test_prompt_is_minerva_style_from_train(task):
    test = task.load()
    train = rows("math/train.jsonl")
    prompt = task.build_prompt(test[0])
    assert prompt.endswith(f"Problem:\n{test[0].question}\n\nSolution:")
    assert prompt.count("Final Answer: The final answer is") == 4
    assert prompt.count("I hope it is correct.") == 4
    assert "\\boxed" not in prompt
    for i in EXEMPLAR_LINES[:4]:
        assert train[i]["problem"] in prompt
    prefix = prompt[: prompt.rindex("Problem:")]
    assert not any(p.question in prefix for p in test)
    assert "Final Answer: The final answer is $\\frac{1}{57}$. I hope it is correct." in prefix


def test_worked_solution_and_unbox():
    sol = "So $6\\cdot 8 = \\boxed{48}$."
    assert unbox(sol) == "So $6\\cdot 8 = 48$."
    assert worked_solution(sol).endswith("Final Answer: The final answer is $48$. I hope it is correct.")
    assert unbox("x = \\boxed{\\frac{1}{2}}") == "x = \\frac{1}{2}"


def test_options():
    with pytest.raises(ValueError, match="task.source"):
        get_task("math", source="ftp")
    with pytest.raises(ValueError, match="task.timeout"):
        get_task("math", timeout=0)
    with pytest.raises(ValueError, match="task.utility"):
        get_task("math500", utility="strict")


# -- extraction --------------------------------------------------------------------------------
@pytest.mark.parametrize("completion,expected", [
    ("...\nFinal Answer: The final answer is $48$. I hope it is correct.", "48"),
    ("Final Answer: The final answer is 3.5. I hope it is correct.", "3.5"),
    ("The final answer is $\\boxed{7}$.", "7"),
    ("Final Answer: The final answer is $[2,5)$. I hope it is correct.\n\nProblem: more", "[2,5)"),
    ("we get \\boxed{12}. Final Answer: The final answer is 13. I hope it is correct.", "13"),
    ("x = \\boxed{12}.", "12"),
    ("The final answer is **12**.", "12"),
    ("The final answer is \\(\\frac{1}{2}\\).", "\\frac{1}{2}"),
    ("Final Answer: The final answer is $\\$18.90$. I hope it is correct.", "\\$18.90"),
    ("Final Answer: The final answer is", None),
    ("Final Answer: The final answer is \nwhich is \\boxed{4}", "4"),
    ("I cannot solve this.", None),
    ("", None),
])
def test_final_answer(completion, expected):
    assert final_answer(completion) == expected


# -- grading --------------------------------------------------------------------------------------
def fa(x):
    return f"Some work here.\nFinal Answer: The final answer is ${x}$. I hope it is correct."


# (label, gold, completion, expected)
CASES = [
    ("minerva integer", "48", fa("48"), 1),
    ("boxed only", "48", "Thus the product is $6 \\cdot 8 = \\boxed{48}$.", 1),
    ("final answer beats box", "48", "We get \\boxed{48}.\nFinal Answer: The final answer is $47$. I hope it is correct.", 0),
    ("no dollars", "48", "Final Answer: The final answer is 48. I hope it is correct.", 1),
    ("fraction", "\\frac{1}{57}", fa("\\frac{1}{57}"), 1),
    ("dfrac", "\\frac{1}{57}", fa("\\dfrac{1}{57}"), 1),
    ("slash fraction", "\\frac{1}{57}", fa("1/57"), 1),
    ("unreduced fraction", "\\frac{1}{57}", fa("\\frac{2}{114}"), 1),
    ("decimal approximation", "\\frac{1}{57}", fa("0.0175"), 0),
    ("decimal equal", "\\frac72", fa("3.5"), 1),
    ("pi expression spacing", "256\\pi", fa("256 \\pi"), 1),
    ("pi expression reordered", "256\\pi", fa("\\pi \\cdot 256"), 1),
    ("pi numeric", "256\\pi", fa("804.25"), 0),
    ("tuple with left/right", "\\left( 3, \\frac{\\pi}{2} \\right)", fa("(3, \\frac{\\pi}{2})"), 1),
    ("letter choice", "\\text{(C)}", fa("\\text{(C)}"), 1),
    ("letter choice bare", "\\text{(C)}", fa("(C)"), 1),
    ("wrong letter", "\\text{(C)}", fa("\\text{(D)}"), 0),
    ("polynomial factored", "x^2+2x+1", fa("(x+1)^2"), 1),
    ("interval endpoint", "[2,5)", fa("[2,5]"), 0),
    ("interval union", "(-\\infty,-8)\\cup (8,\\infty)", fa("(-\\infty, -8) \\cup (8, \\infty)"), 1),
    ("unit in gold", "575\\text{ students}", fa("575"), 1),
    ("unit in both", "575\\text{ students}", fa("575 \\text{ students}"), 1),
    ("money", "\\$15,\\!000", fa("15000"), 1),
    ("braced thousands comma with spaces", "14{,}916", fa("14 {, }916"), 1),
    ("money with cents", "\\$40", fa("\\$40.00"), 1),
    ("percent", "44\\%", fa("44"), 1),
    ("degrees", "39^\\circ", fa("39"), 1),
    ("sqrt forms", "2\\sqrt{2}", fa("\\sqrt{8}"), 1),
    ("nested braces", "\\frac{\\sqrt{3}}{2}", "so $\\cos 30^\\circ = \\boxed{\\frac{\\sqrt{3}}{2}}$", 1),
    ("solutions any order", "12, 10, 6", fa("6, 10, 12"), 1),
    ("equation form", "5", fa("x = 5"), 1),
    ("name", "\\text{Evelyn}", fa("\\text{Evelyn}"), 1),
    ("matrix spacing", "\\begin{pmatrix} 6 \\\\ 3 \\\\ 0 \\end{pmatrix}", fa("\\begin{pmatrix}6\\\\3\\\\0\\end{pmatrix}"), 1),
    ("matrix wrong", "\\begin{pmatrix} 6 \\\\ 3 \\\\ 0 \\end{pmatrix}", fa("\\begin{pmatrix}6\\\\3\\\\1\\end{pmatrix}"), 0),
    ("full-width digits", "12", fa("１２"), 1),
    ("unicode minus", "-5", fa("\u22125"), 1),
    ("huge integer", "1267650600228229401496703205376", fa("1267650600228229401496703205376"), 1),
    ("huge integer off by one", "1267650600228229401496703205376", fa("1267650600228229401496703205377"), 0),
    ("huge as power", "1267650600228229401496703205376", fa("2^{100}"), 1),
    ("no answer", "48", "Let me think about this step by step.", 0),
    ("truncated box", "\\frac{1}{5}", "so the answer is \\boxed{\\frac{1}{5", 0),
    ("truncated final answer", "48", "Final Answer: The final answer is", 0),
    ("last box truncated after a complete one", "3", "x = \\boxed{3}, and y = \\boxed{4", 0),
    ("invented next problem cut", "48", fa("48") + "\n\nProblem:\nWhat is $1+1$?\n\nSolution: \\boxed{2}", 1),
    ("too long to be an answer", "19200", fa("48+" * 400 + "0"), 0),
]


@pytest.mark.parametrize("label,gold,completion,expected", CASES, ids=[c[0] for c in CASES])
def test_grading(task, label, gold, completion, expected):
    p = Problem(id="t", question="q", gold=gold)
    assert task.utility(p, completion) == expected


def test_real_problem_and_extra_info(task):
    p = task.load()[0]
    assert task.utility(p, fa(p.gold)) == 1.0
    assert task.extra_utilities(p, fa(p.gold)) == {"math_verify_timeout": 0.0}


def test_cheap_paths_skip_math_verify():
    assert cheap_equal("48", "48.") is True
    assert cheap_equal("\\frac12", "\\dfrac{1}{2}") is True
    assert cheap_equal("1,000", "1000") is True
    assert cheap_equal("10", "11") is False
    assert cheap_equal("\\frac{1}{3}", "0.333333") is None  # left to math-verify
    with MathChecker(timeout=2) as checker:
        for gold, pred in [("48", "48"), ("1,000", "1000"), ("10", "11"), ("\\frac{1}{2}", "\\frac24")]:
            checker.check(gold, pred)
        assert checker.n_verify == 0 and checker._proc is None  # no worker was even started


def test_cache_avoids_repeat_checks():
    with MathChecker(timeout=5) as checker:
        assert checker.equivalent("x^2+2x+1", "(x+1)^2")
        calls = checker.n_verify
        for _ in range(100):
            assert checker.equivalent("x^2+2x+1", "(x+1)^2")
        assert checker.n_verify == calls and checker.n_cached == 100


def test_slow_sympy_input_times_out_and_recovers():
    task = get_task("math", timeout=1.0)
    try:
        p = Problem(id="t", question="q", gold="5")
        assert task.utility(p, fa("y")) == 0.0  # starts the worker
        worker = task.checker._proc
        evil = fa(SLOW)
        t0 = time.perf_counter()
        assert task.utility(p, evil) == 0.0
        assert time.perf_counter() - t0 < 4  # the 1 s budget, cut by the worker's own alarm
        assert task.n_timeouts == 1
        assert task.extra_utilities(p, evil) == {"math_verify_timeout": 1.0}
        assert task.n_timeouts == 1  # cached: not re-run, not re-counted
        assert task.checker._proc is worker and worker.poll() is None  # interrupted, not restarted
        assert task.utility(Problem(id="u", question="q", gold="x^2+2x+1"), fa("(x+1)^2")) == 1.0
        again = task.checker.check(p.gold, "(x+1)^{2999}-x^{2999}")  # a new key: cut again
        assert again == Verdict(False, "timeout") and task.n_timeouts == 2
    finally:
        task.close()
    assert task.checker._proc is None


def test_worker_is_stopped_on_close():
    checker = MathChecker(timeout=5)
    assert checker.equivalent("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}")
    proc = checker._proc
    assert proc is not None and proc.poll() is None
    checker.close()
    assert proc.poll() is not None


def test_prefetch_in_parallel_matches_sequential_grading():
    pairs = [("x^2+2x+1", "(x+1)^2"), ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}"), ("256\\pi", "804.25"),
             ("[2,5)", "[2,5]"), ("\\text{(C)}", "C"), ("5", SLOW), ("48", "48"), ("48", None)]
    problems = [Problem(id=str(i), question="q", gold=g) for i, (g, _) in enumerate(pairs)]
    texts = [[fa(p) if p is not None else "no answer"] for _, p in pairs]
    task = get_task("math", timeout=1.0)
    try:
        task.prefetch(problems, texts, workers=2)
        helpers = list(task.checker._helpers)
        assert len(helpers) == 1 and task.n_timeouts == 1
        calls = task.checker.n_verify
        got = [task.utility(p, t[0]) for p, t in zip(problems, texts)]
        assert task.checker.n_verify == calls  # everything was already graded
    finally:
        task.close()
    assert all(h._proc is None for h in helpers)
    assert got == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]


# -- issue 12: field-reported grading faults, each kind as a whole ------------------------------
LIST_Q = "Find all real numbers $x$ such that $f(x) = 0$. Enter all the solutions, separated by commas."
COUNT_Q = "How many positive integers less than 1001 are there?"
ORDER_Q = "What are the four integers in increasing order? (place a comma between each)"


def fin(x):  # the Minerva line with the answer's math as the model wrote it, punctuation and all
    return f"Final Answer: The final answer is ${x}$ I hope it is correct."


# (label, question, gold, completion, expected)
FIELD = [
    # kind 1: tiny values; exact values that differ are never equal, tolerance is relative
    ("1/10! vs 1/11!", "q", "\\frac{1}{10!}", fa("\\frac{1}{11!}"), 0),
    ("0.000002 vs 0.000003", "q", "0.000002", fa("0.000003"), 0),
    ("1/30! vs 1/31!", "q", "\\frac{1}{30!}", fa("\\frac{1}{31!}"), 0),
    ("2e-20 vs 3e-20", "q", "2\\cdot 10^{-20}", fa("3\\cdot 10^{-20}"), 0),
    ("0.0000002 vs 0.0000003", "q", "0.0000002", fa("0.0000003"), 0),
    ("tiny decimal vs fraction", "q", "\\frac{1}{3000000}", fa("0.0000003"), 0),
    ("tiny set elements", "q", "\\{10^{-20}, 1\\}", fa("\\{2\\cdot 10^{-20}, 1\\}"), 0),
    ("close decimals are still different", "q", "1234567.5", fa("1234567.4999999"), 0),
    ("1/10! written out", "q", "\\frac{1}{10!}", fa("\\frac{1}{3628800}"), 1),
    ("tiny decimal vs scientific, different", "q", "0.0000002", fa("3\\times 10^{-7}"), 0),
    ("tiny decimal vs scientific, same", "q", "0.0000002", fa("2\\times 10^{-7}"), 1),
    ("decimal approximation to 6 significant digits", "q", "\\frac{1}{3}", fa("0.333333"), 1),
    # kind 2: a list of answers vs a thousands separator, decided from the problem
    ("list read as a number", LIST_Q, "30,150", fa("30150"), 0),
    ("list in another order", LIST_Q, "30,150", fa("150, 30"), 1),
    ("list in the same order", LIST_Q, "30,150", fa("30, 150"), 1),
    ("list with a missing element", LIST_Q, "30,150", fa("30"), 0),
    ("list with a wrong element", LIST_Q, "70,110", fa("110, 71"), 0),
    ("count with a thousands comma", COUNT_Q, "1,000", fa("1000"), 1),
    ("count written with the comma", COUNT_Q, "1,000", fa("1,000"), 1),
    ("zero group is never a list element", LIST_Q, "1,000", fa("1000"), 1),
    ("ordered list in order", ORDER_Q, "4,6,14,15", fa("4, 6, 14, 15"), 1),
    ("ordered list out of order", ORDER_Q, "4,6,14,15", fa("15, 14, 6, 4"), 0),
    ("list of expressions goes to math-verify as a set", LIST_Q, "1,\\frac{1}{2}", fa("\\frac{1}{2}, 1"), 1),
    ("list joined by and", LIST_Q, "30,150", fa("30 \\text{ and } 150"), 1),
    ("list as a set", LIST_Q, "30,150", fa("\\{150, 30\\}"), 1),
    ("list as equations", LIST_Q, "30,150", fa("x = 30, x = 150"), 1),
    ("list with a repeat", LIST_Q, "30,150", fa("30, 150, 30"), 0),
    # kind 10: sentence punctuation inside the math of the final answer
    ("power then period vs 81", "q", "81", fin("3^{4}."), 1),
    ("power then period vs 3", "q", "3", fin("3^{4}."), 0),
    ("fraction then period vs 0.5", "q", "0.5", fin("\\frac{1}{2}."), 1),
    ("fraction then comma", "q", "\\frac{2}{5}", fin("\\frac{2}{5},"), 1),
    ("sqrt then semicolon", "q", "2\\sqrt{2}", fin("\\sqrt{8};"), 1),
    ("boxed then period inside", "q", "81", "so $\\boxed{3^4.}$", 1),
    ("period and spacing", "q", "\\frac{\\pi}{2}", fin("\\frac{\\pi}{2}\\,."), 1),
    ("factorial is not punctuation", "q", "5", fin("5!"), 0),
    ("period inside a final text", "q", "5", fin("\\text{5.}"), 1),
    ("unit with a period", "q", "10", fin("10\\text{ cm.}"), 1),
    ("display math then period", "q", "81", "Final Answer: The final answer is \\[3^{4}.\\]", 1),
    # kind 11: partial parses never decide equality; roman constants are constants
    ("2+e vs 2-e roman", "q", "2 - \\mathrm{e}", fa("2 + \\mathrm{e}"), 0),
    ("roman e squared", "q", "e^2", fa("\\mathrm{e}^2"), 1),
    ("operatorname e", "q", "e", fa("\\operatorname{e}"), 1),
    ("roman i", "q", "2+3i", fa("2+3\\mathrm{i}"), 1),
    ("roman i wrong", "q", "2+3i", fa("2-3\\mathrm{i}"), 0),
    ("rm e", "q", "e^{2}+1", fa("{\\rm e}^{2}+1"), 1),
    ("text e", "q", "3e", fa("3\\text{e}"), 1),
    ("roman e is not 2", "q", "2e", fa("2\\mathrm{e} + 1"), 0),
    ("unreadable tail is not ignored", "q", "2", fa("2 + \\foo{x}"), 0),
    ("same unreadable text is still equal", "q", "2 + \\foo{x}", fa("2 + \\foo{x}"), 1),
    # kind 8: power towers and huge factorials decided without sympy
    ("tower vs small gold", "q", "5", fa("9^{9^{9^{9}}}"), 0),
    ("tower vs itself", "q", "9^{9^{9^{9}}}", fa("9^{9^{9^{9}}}"), 1),
    ("tower of tens", "q", "10", fa("10^{10^{10^{10}}}"), 0),
    ("huge factorial", "q", "5", fa("(10^{7})!"), 0),
    ("small tower still evaluated", "q", "7625597484987", fa("3^{3^{3}}"), 1),
]


@pytest.mark.parametrize("label,question,gold,completion,expected", FIELD, ids=[c[0] for c in FIELD])
def test_field_faults(task, label, question, gold, completion, expected):
    assert task.utility(Problem(id="t", question=question, gold=gold), completion) == expected


def test_list_mode_reads_the_question():
    assert list_mode(LIST_Q) == "set"
    assert list_mode(COUNT_Q) is None
    assert list_mode(ORDER_Q) == "sequence"
    assert list_mode("Find the sum of all solutions to $x^2=4$.") is None
    assert list_mode("Find the real roots of $(x-7)(x+5)=1680$.") == "set"
    assert list_mode(None) is None


TOWERS = ["9^{9^{9^{9}}}", "10^{10^{10^{10}}}", "2^{2^{2^{2^{2^{2}}}}}", "9^9^9", "(10^{10})^{10^{10}}",
          "10^{10^{10}} + 1", "x^{9^{9^{9}}}", "\\frac{1}{10^{10^{10}}}", "100000000!", "\\pi^{\\pi^{\\pi^{\\pi}}}",
          "e^{e^{e^{e}}}", "\\binom{10^{10}}{10^{5}}", "9\\uparrow\\uparrow 9", "9^{-9^{9^{9}}}", "(-9)^{9^{9^{9}}}",
          "\\sqrt{9^{9^{9^{9}}}}", "9^{9^{9}} - 9^{9^{9}}"]


@pytest.mark.parametrize("tower", TOWERS)
def test_power_towers_are_graded_fast(task, tower):
    for gold in ("5", "x+1", "10^{10}"):
        t0 = time.perf_counter()
        assert task.utility(Problem(id="t", question="q", gold=gold), fa(tower)) == 0.0
        assert time.perf_counter() - t0 < 0.5  # no sympy call: far below the 1 s bound
    assert task.checker.check("5", tower).how == "tower"


def test_size_estimates_match_hand_values():
    from gvgap.tasks.mathanswer import normalise
    from gvgap.tasks.mathsize import digits

    cases = {"2^{100}": 100 * math.log10(2), "100!": math.log10(math.factorial(100)),
             "\\binom{10}{3}": math.log10(120), "3^{3^{3}}": 27 * math.log10(3), "2\\uparrow\\uparrow 3": math.log10(16),
             "(10^{7})!": math.lgamma(1e7 + 1) / math.log(10), "x+1": 0.0}
    for text, want in cases.items():
        assert digits(normalise(text)) == pytest.approx(want, rel=1e-9), text
    assert digits(normalise("9^{9^{9^{9}}}")) == math.inf
    t0 = time.perf_counter()
    for hostile in ("1^" * 1000 + "1", "{(" * 1000, "\\binom{" * 300, "9!" * 600):
        digits(hostile)
    assert time.perf_counter() - t0 < 0.5  # each start's chain is read once


def test_distinct_normalised_answers_are_graded_once():
    problems = [Problem(id="a", question="q", gold="x^2+2x+1")]
    texts = [[fa("(x+1)^2"), fa("(x + 1)^2"), fin("(x+1)^2."), fa("(x+1)^2 "), fa("\\left(x+1\\right)^2")]]
    task = get_task("math", timeout=5.0)
    try:
        task.prefetch(problems, texts, workers=1)
        assert task.checker.n_verify == 1  # spacing and punctuation variants share one check
        assert [task.utility(problems[0], t) for t in texts[0]] == [1.0] * 5
    finally:
        task.close()
