"""logger=wandb: Weights & Biases, offline unless asked otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional

from gvgap.logger.none import NullLogger
from gvgap.schema import need, store


@store("logger", "wandb_schema")
@dataclass
class WandbLoggerConfig:
    _target_: str = "gvgap.logger.wandb.WandbLogger"
    project: str = "gvgap"
    entity: Optional[str] = None
    mode: str = "offline"  # offline | online | disabled
    tags: List[str] = field(default_factory=list)

    def __post_init__(self):
        need(self.mode in ("offline", "online", "disabled"),
             f"logger.mode must be offline, online or disabled (got {self.mode!r})")


class WandbLogger(NullLogger):
    """Logs the resolved config, every scalar metric per round (step = round), and the
    pass@k curve of each round as a line chart. Options: the fields of WandbLoggerConfig."""

    schema = WandbLoggerConfig

    def __init__(self, **options):
        cfg = self.schema(**options)
        self.project, self.entity, self.mode, self.tags = cfg.project, cfg.entity, cfg.mode, list(cfg.tags)
        self.run = None

    def start(self, config: dict, run_dir: str) -> None:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        self.run = wandb.init(
            project=self.project, entity=self.entity, mode=self.mode, dir=run_dir,
            config=config, tags=self.tags, reinit="finish_previous",
            name=os.path.basename(os.path.normpath(run_dir)),
        )

    def log_round(self, t: int, metrics: dict) -> None:
        import wandb

        scalars = {k: v for k, v in flatten(metrics).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        curve = metrics.get("pass_at_k") or {}
        if curve:
            table = wandb.Table(columns=["k", "pass@k"], data=[[int(k), v] for k, v in curve.items()])
            scalars[f"pass_at_k_curve/round_{t:02d}"] = wandb.plot.line(
                table, "k", "pass@k", title=f"pass@k, round {t}")
        self.run.log({"round": t, **scalars}, step=t)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        else:
            out[key] = v
    return out
