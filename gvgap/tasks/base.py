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
    stop: tuple[str, ...] = ("\n\nQuestion:", "\nQuestion:")
    u_max: float = 1.0
    u_min: float = 0.0

    def __init__(self, num_shots: int = 4, limit: int | None = None, seed: int = 0, **options: Any):
        self.num_shots = num_shots
        self.limit = limit
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

    def problems(self) -> list[Problem]:
        """The problems a run uses: the test split, shuffled by seed and cut to `limit`."""
        items = self.load(split="test")
        if self.limit is None or self.limit >= len(items):
            return items
        order = list(range(len(items)))
        random.Random(self.seed).shuffle(order)
        return [items[i] for i in sorted(order[: self.limit])]

    def describe(self, problem: Problem) -> str:
        """The problem text shown to a verifier (no few-shot exemplars)."""
        return problem.question
