"""CoT-Binary / CoT-Score verifiers against a scripted engine, and the prompt templates.
Also defines the fakes the other verifier tests share (a task and an engine)."""

import math

import numpy as np
import pytest

from gvgap.tasks.base import Problem, Task
from gvgap.verifiers import prompts
from gvgap.verifiers.base import VerifyInput, score_matrix, score_tensor
from gvgap.verifiers.cot import CoTBinaryVerifier, CoTScoreVerifier


class StubTask(Task):
    """A solution is right when it ends with the gold number."""

    name = "arithmetic"

    def load(self, split="test"):
        return []

    def extract_answer(self, completion):
        parts = completion.split()
        return parts[-1] if parts else None

    def utility(self, problem, completion):
        return float(self.extract_answer(completion) == str(problem.gold))


class ScriptedEngine:
    """generate() answers each prompt with texts chosen by `reply(prompt, index, j)`;
    it records every call so tests can check prompts, n and seeds."""

    def __init__(self, reply):
        self.reply, self.calls = reply, []

    def generate(self, prompts, params, indices=None):
        self.calls.append((list(prompts), params, list(indices)))
        return [[self.reply(p, i, j) for j in range(params.n)] for p, i in zip(prompts, indices)]


def make_input(solutions, golds=None, task=None):
    golds = golds or [i + 1 for i in range(len(solutions))]
    problems = [Problem(id=f"p{i}", question=f"What is {g}?", gold=g) for i, g in enumerate(golds)]
    return VerifyInput(task=task or StubTask(), problems=problems, completions=solutions, seed=3)


def test_binary_scores_parsed_and_unparseable_kept_as_nan():
    replies = {"ans 1": "Right.\nCorrectness: <correct>", "ans 9": "Wrong.\nCorrectness: <incorrect>",
               "junk": "I cannot tell."}
    engine = ScriptedEngine(lambda p, i, j: next(v for k, v in replies.items() if f"solution: {k}\n" in p))
    data = make_input([["ans 1", "ans 9", "junk"]])
    df = CoTBinaryVerifier().verify(engine, data)
    assert list(df["verifier"].unique()) == ["cot_binary"]
    assert df["score"].tolist()[:2] == [1.0, 0.0] and math.isnan(df["score"].iloc[2])
    assert df["raw"].iloc[2] == "I cannot tell."  # the text is stored for inspection
    params = engine.calls[0][1]
    assert (params.n, params.temperature, params.top_p, params.max_new_tokens) == (1, 0.7, 0.9, 128)
    assert params.seed == 3 and engine.calls[0][2] == [0, 1, 2]  # one seed stream per sample


def test_score_m_verifications_are_stored_and_averaged():
    # judgement j of sample i says Score: 2 + 3*j (+ i); the third judgement is out of range for sample 1
    def reply(prompt, index, j):
        return f"Reasons.\nScore: {2 + 3 * j + index + (4 if index == 1 and j == 2 else 0)}"

    data = make_input([["a", "b"]])
    df = CoTScoreVerifier(num_verifications=3).verify(ScriptedEngine(reply), data)
    assert len(df) == 6 and sorted(df["verification_id"].unique()) == [0, 1, 2]
    s = score_matrix(df, ["p0"], 2)
    assert s[0, 0] == pytest.approx((2 + 5 + 8) / 3)
    assert s[0, 1] == pytest.approx((3 + 6) / 2)  # "Score: 13" is out of range: NaN, left out of the mean
    t = score_tensor(df, ["p0"], 2)
    assert t.shape == (1, 2, 3) and math.isnan(t[0, 1, 2]) and t[0, 0, 2] == 8


def test_score_on_another_scale_is_rescaled_or_nan():
    # the judge answers out of 5 / 100 instead of 1..10: rescaled, never read as the numerator
    replies = ["Fine.\nScore: 4/5", "Meh.\nScore: 3 out of 5", "Score: 45/100", "Score: 6/5"]
    df = CoTScoreVerifier().verify(ScriptedEngine(lambda p, i, j: replies[i]), make_input([["a", "b", "c", "d"]]))
    s = score_matrix(df, ["p0"], 4)
    assert s[0, :3].tolist() == [8.0, 6.0, 4.5] and math.isnan(s[0, 3])


def test_custom_template_and_task_description_are_used():
    engine = ScriptedEngine(lambda p, i, j: "Score: 5")
    data = make_input([["my work"]])
    CoTScoreVerifier(template="Q={problem} S={solution} ->").verify(engine, data)
    assert engine.calls[0][0] == ["Q=What is 1? S=my work ->"]


@pytest.mark.parametrize("kind, keys, marker", [
    ("cot_binary", ("{problem}", "{solution}"), "Correctness: <correct>"),
    ("cot_score", ("{problem}", "{solution}"), "Score: <k>"),
    ("tournament", ("{problem}", "{solution_a}", "{solution_b}"), "Preferred solution: <A>"),
    ("mc", ("{problem}", "{solution}"), "Correct or Incorrect"),
])
def test_every_family_has_a_template_with_its_placeholders_and_format(kind, keys, marker):
    from gvgap.tasks import get_task

    for name in ("gsm8k", "math", "nq_open", "sudoku4"):
        task = get_task(name)
        for k in range(prompts.MAX_SHOTS + 1):
            text = prompts.template(kind, task, k)
            want = "the response is: Correct" if (kind, name) == ("cot_binary", "sudoku4") else marker
            assert all(key in text for key in keys) and want in text, (kind, name, k)
            filled = text.format(problem="P", solution="S", solution_a="A", solution_b="B")
            assert "{problem}" not in filled and "{solution" not in filled


def test_task_families():
    assert [prompts.family(t) for t in ("gsm8k", "math500", "nq_open", "sudoku4", "unknown")] == \
        ["math", "math", "qa", "sudoku", "math"]


def test_scores_do_not_depend_on_other_prompts_in_the_batch():
    # seeds are per (prompt, sample) index, so verifying a prefix gives the same indices
    engine = ScriptedEngine(lambda p, i, j: f"Score: {1 + i % 10}")
    full = CoTScoreVerifier().verify(engine, make_input([["a", "b"], ["c", "d"]]))
    part = CoTScoreVerifier().verify(engine, make_input([["a", "b"]]))
    assert np.array_equal(full["score"].to_numpy()[:2], part["score"].to_numpy())
