"""The paper's verifier settings (Section 3, App. G): judgement length and few-shot count
reach whichever verifier runs, the shot count is exact and checked, math prompts state
the grading rule, and Sudoku verification uses the paper's Correct / Incorrect ending."""

import math
import re

import numpy as np
import pytest

from gvgap.config import validate
from gvgap.schema import ConfigError
from gvgap.tasks import get_task
from gvgap.tasks.gsm8k import strict_answer
from gvgap.tasks.mathanswer import final_answer
from gvgap.tasks.sudoku import is_valid_grid, keeps_givens, show
from gvgap.verifiers import exemplars, prompts
from gvgap.verifiers.base import VerifyInput
from gvgap.verifiers.cot import CoTBinaryVerifier, CoTScoreVerifier
from gvgap.verifiers.mc import MCVerifier
from gvgap.verifiers.parsing import parse_verdict
from gvgap.verifiers.tournament import TournamentVerifier
from tests.test_verifiers_cot import ScriptedEngine, make_input

TASKS = ("gsm8k", "math", "nq_open", "sudoku4")


# -- item 2 / 4: the recipe's settings reach every verifier ------------------------------------
@pytest.mark.parametrize("verifier", ["cot_binary", "cot_score", "tournament"])
def test_paper_recipe_gives_any_sampled_verifier_512_tokens_and_4_shots(composer, verifier):
    cfg = composer(["experiment=paper", f"verifier={verifier}"])
    validate(cfg)
    assert (cfg.verifier.max_new_tokens, cfg.verifier.num_shots) == (512, 4)
    from hydra.utils import instantiate

    built = instantiate(cfg.verifier, _convert_="all")
    assert (built.max_new_tokens, built.num_shots) == (512, 4)
    # without a recipe the CPU-sized defaults stay
    default = composer([f"verifier={verifier}"])
    assert (default.verifier.max_new_tokens, default.verifier.num_shots) == (128, 2)


def test_paper_recipe_reaches_mc_and_ensemble_members(composer):
    assert composer(["experiment=paper", "verifier=mc"]).verifier.num_shots == 4
    assert composer(["verifier=mc"]).verifier.num_shots == 0
    cfg = composer(["experiment=paper", "verifier=ensemble"])
    validate(cfg)
    from hydra.utils import instantiate

    built = [verifier for _, verifier, _ in instantiate(cfg.verifier, _convert_="all").members]
    assert [type(v).__name__ for v in built] == ["MCVerifier", "CoTBinaryVerifier"]
    assert built[0].num_shots == 4 and (built[1].max_new_tokens, built[1].num_shots) == (512, 4)
    # a smoke run shrinks the judgement like the generation; a command-line value wins over the recipe
    assert composer(["experiment=paper", "verifier=cot_binary", "debug=smoke"]).verifier.max_new_tokens == 16
    assert composer(["experiment=paper", "verifier=cot_score", "verifier.max_new_tokens=300"]).verifier.max_new_tokens == 300


def test_512_tokens_reach_the_engine(composer):
    from hydra.utils import instantiate

    verifier = instantiate(composer(["experiment=paper", "verifier=cot_binary"]).verifier, _convert_="all")
    engine = ScriptedEngine(lambda p, i, j: "Correctness: <correct>")
    verifier.verify(engine, make_input([["The answer is 1."]], task=get_task("gsm8k")))
    assert engine.calls[0][1].max_new_tokens == 512


@pytest.mark.parametrize("override, field", [
    ("verifier.num_shots=5", "verifier.num_shots"), ("verifier.num_shots=-1", "verifier.num_shots"),
    ("verification.num_shots=9", "verification.num_shots"),
    ("verification.max_new_tokens=0", "verification.max_new_tokens"),
])
def test_bad_counts_fail_before_any_model_naming_the_field(composer, override, field):
    verifier = "mc" if override.startswith("verifier.num_shots=-") else "cot_binary"
    with pytest.raises(ConfigError, match=re.escape(field)):
        validate(composer([f"verifier={verifier}", override]))
    with pytest.raises(ConfigError, match="verifier.num_shots"):
        TournamentVerifier(num_shots=exemplars.MAX_SHOTS + 1)


# -- item 4: exactly k exemplars ---------------------------------------------------------------
def _count(kind, task, text):
    """(problem blocks, exemplar verdict lines) in a template."""
    fam = prompts.family(task.name)
    label = {"math": "Problem: ", "qa": "Question: ", "sudoku": "Puzzle: "}[fam]
    verdict = {"mc": r"^Verdict: (Correct|Incorrect)$", "cot_binary": r"^Correctness: <(correct|incorrect)>$",
               "cot_score": r"^Score: <(1|10)>$", "tournament": r"^Preferred solution: <[AB]>$"}[kind]
    if (kind, fam) == ("cot_binary", "sudoku"):
        label, verdict = "Question:", r"^Therefore, the response is: (Correct|Incorrect)$"
    return (sum(line.startswith(label) for line in text.splitlines()),
            len(re.findall(verdict, text, flags=re.MULTILINE)))


@pytest.mark.parametrize("kind", prompts.KINDS)
@pytest.mark.parametrize("name", TASKS)
def test_prompt_holds_exactly_k_exemplars(kind, name):
    task = get_task(name)
    for k in range(exemplars.MAX_SHOTS + 1):
        text = prompts.template(kind, task, k)
        assert _count(kind, task, text) == (k + 1, k), (kind, name, k)
    with pytest.raises(ValueError, match="num_shots"):
        prompts.template(kind, task, exemplars.MAX_SHOTS + 1)


def test_verifiers_send_k_shot_prompts():
    task = get_task("gsm8k")
    data = make_input([["The answer is 1.", "The answer is 2."]], task=task)

    class LogprobEngine:
        def continuation_logprobs(self, texts, conts):
            self.texts = texts
            return np.zeros((len(texts), 2))

    for k in (0, 3):
        engine = LogprobEngine()
        MCVerifier(num_shots=k).verify(engine, data)
        assert all(_count("mc", task, t) == (k + 1, k) and t.endswith("Verdict:") for t in engine.texts)
        engine = ScriptedEngine(lambda p, i, j: "Score: 7")
        CoTScoreVerifier(num_shots=k).verify(engine, data)
        assert all(_count("cot_score", task, t) == (k + 1, k) for t in engine.calls[0][0])
        seen = []
        TournamentVerifier(num_shots=k, rounds=1).verify(
            ScriptedEngine(lambda p, i, j: seen.append(p) or "Preferred solution: <A>"), data)
        assert seen and all(_count("tournament", task, t) == (k + 1, k) for t in seen)


def test_a_custom_template_is_used_as_written_whatever_num_shots():
    engine = ScriptedEngine(lambda p, i, j: "Score: 5")
    CoTScoreVerifier(template="Q={problem} S={solution} ->", num_shots=4).verify(engine, make_input([["w"]]))
    assert engine.calls[0][0] == ["Q=What is 1? S=w ->"]


# -- item 9: math prompts state the grader's answer rule ----------------------------------------
@pytest.mark.parametrize("kind", ["cot_binary", "cot_score", "tournament"])
def test_math_prompts_state_the_answer_format_rule(kind):
    gsm8k, math_task = get_task("gsm8k"), get_task("math")
    text = prompts.template(kind, gsm8k, 4)
    assert '"The answer is"' in text and "without that phrase has no final answer and is wrong" in text
    text = prompts.template(kind, math_task, 4)
    assert '"The final answer is"' in text and "has no final answer and is" in text
    assert "\\boxed{...}" in text.format(problem="", solution="", solution_a="", solution_b="")
    # flexible grading reads the last number: the prompt says so instead
    assert "last number" in prompts.template(kind, get_task("gsm8k", utility="flexible"), 2)


def test_math_exemplars_end_in_the_format_their_grader_reads():
    for case in prompts.cases(get_task("gsm8k"), 4):
        assert strict_answer(case.good) is not None and strict_answer(case.bad) is not None
        assert strict_answer(case.good) != strict_answer(case.bad)
    for case in prompts.cases(get_task("math"), 4):
        assert "final answer is" in case.good and final_answer(case.good) in case.good


# -- item 8: Sudoku verification in the paper's format ------------------------------------------
@pytest.mark.parametrize("text, score", [
    ("Givens: all 7 kept. Rows: no repeats.\nTherefore, the response is: Correct", 1.0),
    ("Row 1: 4 3 1 2 - Correct\nRow 2: 2 1 3 1 - Invalid\nTherefore, the response is: Incorrect", 0.0),
    (" Correct\n", 1.0),                                     # a one-word reply after "Judgment:"
    (" **Incorrect**.", 0.0),
    ("The response is incorrect: row 2 repeats 1.", 0.0),
    ("Correctness: <correct>", 1.0),                          # the CoT-Binary line is read too
    ("Therefore, the response is: Incorrect\n\nQuestion:\n...\nTherefore, the response is: Correct", 0.0),
    ("the response is: Correct or Incorrect", None),          # the instructions echoed
    ('Respond with "Correct" or "Incorrect"', None),
    ("Row 1 - Correct\nRow 2 - Correct", None),               # per-row remarks are not a verdict
    ("The grid looks correctly filled", None),
    ("", None), (None, None), ("x" * 100000, None),
])
def test_sudoku_verdict_parser(text, score):
    assert parse_verdict(text) == score


def test_sudoku_cot_binary_uses_the_paper_format_and_counts_unreadable():
    task = get_task("sudoku4")
    problems = task.load()[:2]
    replies = ["Givens kept.\nTherefore, the response is: Correct", "Therefore, the response is: Incorrect",
               "I am not sure.", "Correctness: <correct>"]
    engine = ScriptedEngine(lambda p, i, j: replies[i])
    data = VerifyInput(task=task, problems=problems, completions=[["a", "b"], ["c", "d"]], seed=0)
    df = CoTBinaryVerifier(num_shots=4).verify(engine, data)
    assert df["score"].tolist()[:2] == [1.0, 0.0] and math.isnan(df["score"].iloc[2]) and df["score"].iloc[3] == 1.0
    text = engine.calls[0][0][0]
    assert "`Therefore, the response is: Correct` or `Therefore, the response is: Incorrect`" in text
    assert "Correctness:" not in text and text.endswith("Answer:\na\nJudgment:")


def test_sudoku_exemplars_are_right_and_never_show_the_judged_solution():
    task = get_task("sudoku4")
    for givens in (None, 6, 7, 12):
        for case in exemplars.sudoku_cases(givens):
            puzzle, good, bad = (re.sub(r"\D", "", x) for x in (case.problem, case.good, case.bad))
            assert is_valid_grid(good) and keeps_givens(puzzle, good)
            assert not (is_valid_grid(bad) and keeps_givens(puzzle, bad))
            assert givens is None or 16 - puzzle.count("0") == givens
    test_puzzles = {p.question for p in task.load()}
    for p in task.load():
        text = prompts.template("cot_binary", task, 4, p.gold)
        assert _count("cot_binary", task, text) == (5, 4)
        assert show(p.gold) not in text  # the judged puzzle's solution is never an exemplar
    assert not any(c.problem in test_puzzles for c in exemplars.sudoku_cases(7))
    leaky = [p for p in task.load() if p.gold in exemplars.SUDOKU_SOLUTIONS]
    # without `gold`, 4 shots show cases 1-4: shots 2 and 4 the right grid, 1 and 3 a near copy
    shown = prompts.template("cot_binary", task, 4)
    assert len(leaky) == 5 and sum(show(p.gold) in shown for p in leaky) == 2  # what leaving out prevents
