"""The task interface: load problems, build few-shot prompts, grade completions.

Every task returns the same plain records so that the pipeline, the verifiers and the
analysis never need to know which benchmark they are running on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One prompt x of a task. `id` is stable across runs and machines."""

    id: str
    question: str
    gold: Any
    meta: dict = field(default_factory=dict)


class Task:
    """Base class. Subclasses set `name` and implement the four hooks below.

    `stop` lists strings at which generation is cut: a few-shot prompt would otherwise
    make the model invent the next question.
    """

    name: str = "task"
    splits: tuple[str, ...] = ("test",)  # what load() serves; "train" makes task.train_split possible
    stop: tuple[str, ...] = ("\n\nQuestion:", "\nQuestion:")
    u_max: float = 1.0
    u_min: float = 0.0

    def __init__(self, num_shots: int = 4, limit: int | None = None, seed: int = 0,
                 train_limit: int | None = None, **options: Any):
        self.num_shots = num_shots
        self.limit = limit
        self.train_limit = train_limit
        self.seed = seed
        self.options = options

    # -- hooks ---------------------------------------------------------------------------
    def load(self, split: str = "test") -> list[Problem]:
        raise NotImplementedError

    def build_prompt(self, problem: Problem) -> str:
        raise NotImplementedError

    def extract_answer(self, completion: str) -> str | None:
        raise NotImplementedError

    def utility(self, problem: Problem, completion: str) -> float:
        raise NotImplementedError

    # -- shared helpers ------------------------------------------------------------------
    def extra_utilities(self, problem: Problem, completion: str) -> dict[str, float]:
        """Secondary gradings logged beside `utility` (e.g. GSM8K strict vs flexible)."""
        return {}

    def prefetch(self, problems: list[Problem], completions: list[list[str]]) -> None:
        """Grade a whole batch ahead of `utility` calls (e.g. in worker processes); the
        default does nothing."""

    def close(self) -> None:
        """Release grading resources (worker processes); the default has none."""

    def exemplar_questions(self) -> set[str]:
        """Question texts of the few-shot exemplars (train rows): never train prompts."""
        return set()

    def problems(self, split: str = "test") -> list[Problem]:
        """The problems a run uses from `split`, shuffled by seed and cut to `limit` (test)
        or `train_limit` (any other split). Another split loses every problem whose
        question is a test question or a few-shot exemplar, so a model is never trained
        on what it is evaluated on nor on its own exemplars."""
        items = self.load(split=split)
        limit = self.limit if split == "test" else self.train_limit
        if split != "test":
            held = {p.question for p in self.load(split="test")} | self.exemplar_questions()
            items = [p for p in items if p.question not in held]
        if limit is None or limit >= len(items):
            return items
        order = list(range(len(items)))
        random.Random(self.seed).shuffle(order)
        return [items[i] for i in sorted(order[:limit])]

    def describe(self, problem: Problem) -> str:
        """The problem text shown to a verifier (no few-shot exemplars)."""
        return problem.question
