"""Schema of the task group's shared keys. Each task takes its own extra keys as
options (conf/task/gsm8k.yaml: source, utility, ...), so only the keys every task has
(`name`, `limit`, `train_split`, `train_limit`) are checked here, and tasks are not typed
at compose time."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING, OmegaConf

from gvgap.schema import check, need

SHARED_KEYS = ("name", "limit", "train_split", "train_limit")


def task_splits(name: str) -> tuple[str, ...]:
    """The splits a registered task's load() serves (its class attribute; loads no data)."""
    from gvgap.tasks import REGISTRY

    module, cls = REGISTRY[name].split(":")
    return tuple(getattr(importlib.import_module(module), cls).splits)


@dataclass
class TaskConfig:
    name: str = MISSING
    limit: Optional[int] = None  # first n problems after a seeded shuffle (null: all)
    # null: D_t comes from the evaluation prompts (the paper's Algorithm 1); else the split
    # whose prompts are sampled and trained on each round, the test split only measured
    train_split: Optional[str] = None
    train_limit: Optional[int] = None  # train prompts kept after a seeded shuffle (null: all)

    def __post_init__(self):
        from gvgap.tasks import REGISTRY

        need(self.name in REGISTRY, f"task.name must be one of {sorted(REGISTRY)} (got {self.name!r})")
        need(self.limit is None or self.limit >= 1, f"task.limit must be >= 1 or null (got {self.limit})")
        need(self.train_limit is None or self.train_limit >= 1,
             f"task.train_limit must be >= 1 or null (got {self.train_limit})")
        if self.train_split is None:
            need(self.train_limit is None, "task.train_limit needs task.train_split (null trains on the test prompts)")
            return
        other = [s for s in task_splits(self.name) if s != "test"]
        need(self.train_split in other,
             f"task.train_split: task {self.name!r} has no split {self.train_split!r} to train on "
             f"(has: {', '.join(other) if other else 'none; use task.train_split=null'})")


def check_task(node) -> None:
    check(TaskConfig, OmegaConf.masked_copy(node, [k for k in SHARED_KEYS if k in node]), "task")
