"""Schema of the task group's shared keys. Each task takes its own extra keys as
options (conf/task/gsm8k.yaml: source, utility, ...), so only `name` and `limit` are
checked here, and tasks are not typed at compose time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING, OmegaConf

from gvgap.schema import check, need


@dataclass
class TaskConfig:
    name: str = MISSING
    limit: Optional[int] = None  # first n problems after a seeded shuffle (null: all)

    def __post_init__(self):
        from gvgap.tasks import REGISTRY

        need(self.name in REGISTRY, f"task.name must be one of {sorted(REGISTRY)} (got {self.name!r})")
        need(self.limit is None or self.limit >= 1, f"task.limit must be >= 1 or null (got {self.limit})")


def check_task(node) -> None:
    check(TaskConfig, OmegaConf.masked_copy(node, [k for k in ("name", "limit") if k in node]), "task")
