"""The embedded arithmetic task: deterministic problems, exemplars apart from test, exact grading."""

import re

import pytest

from gvgap.tasks import get_task
from gvgap.tasks.base import Problem


def test_problems_are_deterministic_and_limited():
    a = get_task("arithmetic", seed=3, size=20, limit=5).problems()
    b = get_task("arithmetic", seed=3, size=20, limit=5).problems()
    c = get_task("arithmetic", seed=4, size=20, limit=5).problems()
    assert [p.question for p in a] == [p.question for p in b]
    assert [p.question for p in a] != [p.question for p in c]
    assert len(a) == 5 and len({p.id for p in a}) == 5


def test_gold_matches_the_story():
    for p in get_task("arithmetic", size=50).load():
        nums = [int(t) for t in re.findall(r"\d+", p.question)]
        assert p.gold in (nums[0] + nums[1], nums[0] - nums[1], nums[0] * nums[1])


def test_prompt_has_k_train_shots_and_no_test_leak():
    task = get_task("arithmetic", num_shots=3, size=30)
    prob = task.load()[0]
    prompt = task.build_prompt(prob)
    assert prompt.count("Question:") == 4 and prompt.endswith(f"Question: {prob.question}\nAnswer:")
    train = {p.question for p in task.load("train")}
    for shot in prompt.split("\n\n")[:-1]:
        assert shot.split("\n")[0][len("Question: "):] in train


@pytest.mark.parametrize(
    "completion, ok",
    [
        (" 12 + 30 = 42 apples. The answer is 42.", True),
        (" The answer is 42", True),
        (" The answer is: $42.", True),
        (" The answer is 42.0", True),
        (" The answer is 41. Wait, 42.", False),  # the stated answer counts
        (" 12 + 30 = 42", True),                  # no phrase: last number
        (" 42 apples, then 7 more", False),
        (" I don't know.", False),
        ("", False),
        (" The answer is 4,2", True),             # comma as a thousands separator: 42
        (" The answer is -42", False),
    ],
)
def test_grading(completion, ok):
    task = get_task("arithmetic")
    prob = Problem(id="x", question="Ada has 12 coins and finds 30 more. How many coins now?", gold=42)
    assert task.utility(prob, completion) == float(ok)


def test_extract_answer_none_without_numbers():
    assert get_task("arithmetic").extract_answer("no digits here") is None
