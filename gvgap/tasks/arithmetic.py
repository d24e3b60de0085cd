"""Embedded arithmetic word problems: generated from a seed, no download, graded exactly.

The default task, so that `python -m gvgap` runs anywhere. Problems mix +, -, and x on
small numbers in short stories; the model must end with "The answer is N."

Splits: `test` (`size` problems from a stream seeded by `seed`) and `train`: the 16
few-shot exemplars, then TRAIN_SIZE problems for task.train_split, from one fixed stream
of their own. Task.problems drops the train problems whose text is a test question or an
exemplar (two streams can draw the same story), so the splits never share a question.
"""

from __future__ import annotations

import random
import re

from gvgap.tasks.base import Problem, Task

NAMES = ["Ada", "Bo", "Chen", "Dara", "Eli", "Farah", "Gus", "Hana", "Ivo", "Juno", "Kai", "Lena"]
N_EXEMPLARS = 16  # the train stream's first problems: the few-shot exemplars
TRAIN_SIZE = 1024  # train problems after the exemplars (task.train_limit picks among them)
ITEMS = ["apples", "stamps", "marbles", "books", "coins", "shells", "pencils", "cards"]

_ANSWER = re.compile(r"answer is\s*:?\s*\$?(-?[\d,]*\.?\d+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")


def _story(rng: random.Random) -> tuple[str, int, str]:
    """One problem: (question, answer, worked solution)."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    kind = rng.choice(["add", "sub", "mul"])
    if kind == "add":
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        q = f"{name} has {a} {item} and finds {b} more. How many {item} does {name} have now?"
        return q, a + b, f"{name} has {a} + {b} = {a + b} {item}. The answer is {a + b}."
    if kind == "sub":
        a = rng.randint(30, 99)
        b = rng.randint(10, a - 1)
        q = f"{name} has {a} {item} and gives away {b}. How many {item} are left?"
        return q, a - b, f"{name} has {a} - {b} = {a - b} {item} left. The answer is {a - b}."
    a, b = rng.randint(2, 12), rng.randint(3, 12)
    q = f"{name} buys {a} boxes with {b} {item} in each box. How many {item} does {name} buy?"
    return q, a * b, f"{name} buys {a} x {b} = {a * b} {item}. The answer is {a * b}."


def parse_number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").rstrip("."))
    except ValueError:
        return None


class ArithmeticTask(Task):
    name = "arithmetic"
    splits = ("test", "train")

    def __init__(self, size: int = 64, **kw):
        super().__init__(**kw)
        self.size = int(size)

    def _generate(self, split: str, count: int) -> list[Problem]:
        # train and test come from different streams, so exemplars never leak into test
        rng = random.Random(f"arithmetic-{split}-{self.seed if split == 'test' else 0}")
        out = []
        for i in range(count):
            q, ans, sol = _story(rng)
            out.append(Problem(id=f"arith-{split}-{i}", question=q, gold=ans, meta={"solution": sol}))
        return out

    def load(self, split: str = "test") -> list[Problem]:
        if split == "test":
            return self._generate(split, self.size)
        if split != "train":
            raise ValueError(f"arithmetic has splits test and train, not {split!r}")
        return self._generate("train", N_EXEMPLARS + TRAIN_SIZE)  # Task.problems drops the exemplars

    def exemplar_questions(self) -> set[str]:
        return {p.question for p in self._generate("train", N_EXEMPLARS)}

    def build_prompt(self, problem: Problem) -> str:
        shots = self._generate("train", N_EXEMPLARS)[: self.num_shots]
        parts = [f"Question: {s.question}\nAnswer: {s.meta['solution']}" for s in shots]
        parts.append(f"Question: {problem.question}\nAnswer:")
        return "\n\n".join(parts)

    def extract_answer(self, completion: str) -> str | None:
        m = _ANSWER.search(completion)
        if m:
            return m.group(1).replace(",", "").rstrip(".")
        nums = _NUMBER.findall(completion)
        return nums[-1].replace(",", "").rstrip(".") if nums else None

    def utility(self, problem: Problem, completion: str) -> float:
        ans = self.extract_answer(completion)
        value = parse_number(ans) if ans is not None else None
        return float(value is not None and abs(value - problem.gold) < 1e-9)
