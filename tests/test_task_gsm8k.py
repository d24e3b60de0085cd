"""GSM8K: loading, prompts, and strict / flexible grading of realistic completions."""

import json
import os
import time
from pathlib import Path

import pytest

from gvgap.tasks import get_task
from gvgap.tasks.base import Problem
from gvgap.tasks.gsm8k import EXEMPLAR_IDX, gold_number, worked_answer

DATA = Path(os.environ["GVGAP_DATA_DIR"])  # set by conftest; filled by its benchmark_data fixture


@pytest.fixture(scope="module")
def task():
    return get_task("gsm8k", data_dir=str(DATA))


def test_load_counts_ids_and_golds(task):
    test = task.load("test")
    assert len(test) == 1319
    assert len(task.load("train")) == 7473
    assert len({p.id for p in test}) == 1319
    assert task.load("test") is test  # cached in-process
    first = json.loads((DATA / "gsm8k/test.jsonl").read_text().splitlines()[0])
    assert test[0].question == first["question"] and test[0].gold == "18"
    assert all(p.gold.lstrip("-").replace(".", "").isdigit() for p in test)
    # ids depend on the question only: a second instance agrees
    assert [p.id for p in get_task("gsm8k", data_dir=str(DATA)).load()] == [p.id for p in test]


def test_gold_number_strips_commas():
    assert gold_number("... so 1,000 + 125 = 1125.\n#### 1,125") == "1125"
    assert gold_number("#### -3") == "-3"
    with pytest.raises(ValueError):
        gold_number("no final line")


def test_prompt_uses_train_exemplars_only(task):
    test = task.load("test")
    train = task.load("train")
    prompt = task.build_prompt(test[5])
    assert prompt.endswith(f"Question: {test[5].question}\nAnswer:")
    assert prompt.count("Question:") == 5 and prompt.count("The answer is") == 4
    assert "<<" not in prompt and "####" not in prompt
    for i in EXEMPLAR_IDX[:4]:
        assert train[i].question in prompt
    prefix = prompt[: prompt.rindex("Question:")]
    assert not any(p.question in prefix for p in test)
    assert prefix.count("\n\n") == 4
    assert get_task("gsm8k", num_shots=0, data_dir=str(DATA)).build_prompt(test[5]) == \
        f"Question: {test[5].question}\nAnswer:"


def test_worked_answer_is_natural():
    sol = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 in all\n#### 72"
    assert worked_answer(sol) == ("Natalia sold 48/2 = 24 clips in May. She sold 48+24 = 72 in all. "
                                  "The answer is 72.")


def test_options(task):
    with pytest.raises(ValueError, match="task.utility must be strict or flexible"):
        get_task("gsm8k", utility="lenient")
    with pytest.raises(ValueError, match="task.source"):
        get_task("gsm8k", source="web")
    with pytest.raises(ValueError, match="task.utlity"):
        get_task("gsm8k", utlity="strict")
    with pytest.raises(ValueError, match="num_shots"):
        get_task("gsm8k", num_shots=20)
    sub = get_task("gsm8k", limit=25, seed=1, data_dir=str(DATA)).problems()
    assert len(sub) == 25 and sub == get_task("gsm8k", limit=25, seed=1, data_dir=str(DATA)).problems()
    assert sub != get_task("gsm8k", limit=25, seed=2, data_dir=str(DATA)).problems()


def P(gold: str) -> Problem:
    return Problem(id="t", question="q", gold=gold_number(f"#### {gold}"))


# (label, gold, completion, strict, flexible)
CASES = [
    ("canonical", "18", "She has 16 - 3 - 4 = 9 eggs. 9 * 2 = 18. The answer is 18.", 1, 1),
    ("no final period", "18", "9 * 2 = 18. The answer is 18", 1, 1),
    ("dollar sign", "18", "She makes 9 * $2 = $18. The answer is $18.", 1, 1),
    ("latex dollar", "18", "The answer is \\$18.", 1, 1),
    ("trailing zeros", "18", "The answer is 18.00", 1, 1),
    ("bare trailing dot", "18", "The answer is 18.", 1, 1),
    ("unit after number", "18", "The answer is 18 dollars per day.", 1, 1),
    ("colon and lower case", "18", "the answer is: 18", 1, 1),
    ("markdown bold", "18", "The answer is **18**.", 1, 1),
    ("format missing", "18", "So she makes 18 dollars every day.", 0, 1),
    ("format missing, number last", "18", "9 * 2 = 18", 0, 1),
    ("last of two formats wins", "18", "The answer is 12. Let me recheck: 9 * 2 = 18. The answer is 18.", 1, 1),
    ("wrong format answer then correction", "18", "The answer is 20. Hmm, actually it is 18", 0, 1),
    ("several numbers, correct last", "18", "First 3 + 4 = 7, then 16 - 7 = 9 and 9 * 2 = 18", 0, 1),
    ("several numbers, wrong last", "18", "9 * 2 = 18 dollars from 16 eggs", 0, 0),
    ("expression after the phrase", "18", "The answer is 18 + 2 = 20.", 1, 0),
    ("number in words", "18", "The answer is eighteen.", 0, 0),
    ("no answer", "18", "I am not sure how to solve this problem.", 0, 0),
    ("empty", "18", "", 0, 0),
    ("truncated", "18", "Janet's ducks lay 16 eggs. She eats 3, so 16 - 3 = 13. Then 13 - 4 =", 0, 0),
    ("longer number", "18", "The answer is 180.", 0, 0),
    ("decimal off", "18", "The answer is 1.8", 0, 0),
    ("wrong sign", "18", "The answer is -18.", 0, 0),
    ("invented next question cut", "18", "9 * 2 = 18. The answer is 18.\n\nQuestion: A farm has 7 cows.", 1, 1),
    ("full-width digits", "18", "The answer is １８.", 1, 1),
    ("thousands", "1,000", "The answer is 1,000.", 1, 1),
    ("thousands plain", "1,000", "The answer is 1000", 1, 1),
    ("thousands with cents", "1,000", "The answer is $1,000.00.", 1, 1),
    ("space as separator", "1,000", "The answer is 1 000.", 0, 0),
    ("negative", "-5", "10 - 15 = -5 degrees. The answer is -5.", 1, 1),
    ("unicode minus", "-5", "The answer is \u22125.", 1, 1),
    ("minus between terms is not a sign", "-5", "It drops from 10 to 10-15", 0, 0),
    ("decimal gold", "2.5", "The answer is 2.50", 1, 1),
    ("fraction not evaluated", "2.5", "The answer is 5/2.", 0, 0),
    ("percent", "25", "She saves 25% of it. The answer is 25%.", 1, 1),
    ("huge number", "123456789012345678901234567890",
     "The answer is 123,456,789,012,345,678,901,234,567,890.", 1, 1),
    ("huge number off by one", "123456789012345678901234567890",
     "The answer is 123456789012345678901234567891", 0, 0),
    ("answer then chatter with numbers", "18", "The answer is 18. I hope the 2 of you liked it.", 1, 0),
    # LaTeX thousands separators (issue 12, kind 3): one number, not 12 or 000
    ("latex braced comma", "12000", "The answer is $12{,}000$.", 1, 1),
    ("latex comma and negative space", "12000", "The answer is 12,\\!000.", 1, 1),
    ("latex thin space in a box", "12000", "So she earns \\boxed{12\\,000}", 0, 1),
    ("boxed after the phrase", "12000", "The answer is $\\boxed{12\\,000}$.", 1, 1),
    ("latex separators, two groups", "1234567", "The answer is 1{,}234{,}567 dollars.", 1, 1),
    ("latex negative space, money", "15000", "The answer is \\$15,\\!000.", 1, 1),
    ("unicode thin space", "12000", "The answer is 12\u2009000.", 1, 1),
    ("latex braced comma with spaces", "14916", "The answer is $14 {, }916$.", 1, 1),
    ("latex control space", "12000", "The answer is $12\\ 000$.", 1, 1),
    ("latex text comma", "12000", "The answer is $12\\text{,}000$ dollars.", 1, 1),
    ("latex thin space is not a comma before two digits", "1200", "The answer is 12\\,00.", 0, 0),
]


@pytest.mark.parametrize("label,gold,completion,strict,flexible", CASES, ids=[c[0] for c in CASES])
def test_grading(label, gold, completion, strict, flexible):
    strict_task = get_task("gsm8k")
    flex_task = get_task("gsm8k", utility="flexible")
    p = P(gold)
    assert strict_task.utility(p, completion) == strict
    assert flex_task.utility(p, completion) == flexible
    extra = strict_task.extra_utilities(p, completion)
    assert extra == {"utility_strict": float(strict), "utility_flexible": float(flexible)}
    assert flex_task.extra_utilities(p, completion) == extra


def test_extract_answer(task):
    assert task.extract_answer("So 9 * 2 = 18. The answer is $1,018.50.") == "1018.5"
    assert task.extract_answer("18") is None
    assert get_task("gsm8k", utility="flexible").extract_answer("18 or 19?") == "19"
    assert get_task("gsm8k", utility="flexible").extract_answer("none") is None


def test_huge_and_adversarial_inputs_are_fast(task):
    p = P("18")
    t = time.perf_counter()
    assert task.utility(p, "9" * 100_000) == 0.0
    assert task.extra_utilities(p, "1," * 50_000 + " The answer is 18")["utility_strict"] == 1.0
    assert task.utility(p, "The answer is " * 20_000) == 0.0
    assert time.perf_counter() - t < 2.0
