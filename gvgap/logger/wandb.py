"""logger=wandb: Weights & Biases, offline unless asked otherwise.

One run folder is one W&B run. The W&B run id is kept in the folder
(<run>/wandb/gvgap_wandb.json, made on the first start), and every start resumes it
(resume="allow"), so a killed run that is started again continues the same W&B run. The
same file lists the rounds already sent: the pipeline hands over every round, including the
ones a resumed run restores from disk, and those are not sent twice. Each round is logged
at step = round index. `+overwrite=true` deletes <run>/wandb/, so a run started afresh is a
new W&B run. In a Hydra multirun the jobs share a group (gvgap.logger.sweep).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from gvgap.logger.none import NullLogger
from gvgap.schema import need, store

STATE = "gvgap_wandb.json"  # in <run>/wandb/


@store("logger", "wandb_schema")
@dataclass
class WandbLoggerConfig:
    _target_: str = "gvgap.logger.wandb.WandbLogger"
    project: str = "gvgap"
    entity: Optional[str] = None
    mode: str = "offline"  # offline | online | disabled
    tags: List[str] = field(default_factory=list)
    group: Optional[str] = None  # null: the multirun's sweep folder (single runs: none)
    job_type: Optional[str] = None  # null: from what the multirun varies
    samples_table_rows: int = 200  # rows of the per-round samples table; 0: no table

    def __post_init__(self):
        need(self.mode in ("offline", "online", "disabled"),
             f"logger.mode must be offline, online or disabled (got {self.mode!r})")
        need(isinstance(self.samples_table_rows, int) and self.samples_table_rows >= 0,
             f"logger.samples_table_rows must be an integer >= 0 (got {self.samples_table_rows!r})")


def read_state(run_dir) -> dict:
    """{"id": W&B run id or None, "rounds": rounds already logged} of a run folder."""
    from gvgap import artifacts as A

    try:
        state = A.read_json(Path(run_dir) / "wandb" / STATE)
        return {"id": str(state["id"]), "rounds": [int(t) for t in state.get("rounds", [])]}
    except (OSError, ValueError, KeyError, TypeError):
        return {"id": None, "rounds": []}


def write_state(run_dir, state: dict) -> None:
    from gvgap import artifacts as A

    A.write_json(state, Path(run_dir) / "wandb" / STATE)


class WandbLogger(NullLogger):
    """Logs the resolved config, every numeric metric per round (nested keys joined by "/",
    e.g. pass_at_k/4, gap_ci/low), each round's pass@k curve as a line chart, and a table
    of the round's samples. Options: the fields of WandbLoggerConfig."""

    schema = WandbLoggerConfig

    def __init__(self, **options):
        self.cfg = self.schema(**options)
        self.run, self.run_dir, self.state = None, None, None

    def start(self, config: dict, run_dir: str) -> None:
        import wandb

        from gvgap.logger import sweep

        os.environ.setdefault("WANDB_SILENT", "true")
        self.run_dir = Path(run_dir)
        self.state = read_state(run_dir)
        if self.cfg.mode != "disabled" and self.state["id"] is None:
            self.state["id"] = secrets.token_hex(8)  # letters and digits: a valid W&B id
            write_state(run_dir, self.state)
        where = sweep.current()
        self.run = wandb.init(
            project=self.cfg.project, entity=self.cfg.entity, mode=self.cfg.mode, dir=str(run_dir),
            id=self.state["id"], resume="allow", config=config, reinit="finish_previous",
            name=os.path.basename(os.path.normpath(run_dir)),
            group=self.cfg.group or where["group"], job_type=self.cfg.job_type or where["job_type"],
            tags=list(dict.fromkeys(list(self.cfg.tags) + where["tags"])),
        )

    def log_round(self, t: int, metrics: dict, round_dir=None) -> None:
        if self.run is None or self.cfg.mode == "disabled" or t in self.state["rounds"]:
            return  # sent before this process started (a resumed run restores it from disk)
        import wandb

        data = scalars(metrics)
        curve = metrics.get("pass_at_k") or {}
        if curve:
            table = wandb.Table(columns=["k", "pass@k"], data=[[int(k), v] for k, v in curve.items()])
            data[f"pass_at_k_curve/round_{t:02d}"] = wandb.plot.line(table, "k", "pass@k", title=f"pass@k, round {t}")
        if self.cfg.samples_table_rows and round_dir is not None:
            from gvgap.logger.samples import read_samples

            frame = read_samples(round_dir, t, self.cfg.samples_table_rows)
            if frame is not None:
                data["samples"] = wandb.Table(dataframe=frame)
        self.run.log({"round": t, **data}, step=t)
        self.state["rounds"] = sorted(set(self.state["rounds"]) | {t})
        write_state(self.run_dir, self.state)

    def finish(self, failed: bool = False) -> None:
        if self.run is not None:
            self.run.finish(exit_code=1 if failed else 0)
            self.run = None


CONFIG_COPIES = ("verifier", "weight_fn")  # metrics.json repeats these options; W&B has them in the config


def scalars(metrics: dict) -> dict:
    """The numeric leaves of a metrics dict, nested keys joined by "/" (gap_ci/low,
    pass_at_k/4, members/<name>/gap); None, text, lists and booleans are left out (W&B
    charts numbers), and so are the config copies."""
    kept = {k: v for k, v in metrics.items() if k not in CONFIG_COPIES}
    return {k: v for k, v in flatten(kept).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        else:
            out[key] = v
    return out
