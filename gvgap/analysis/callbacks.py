"""Hydra callback: aggregate a multirun once its last job has finished, so
`python -m gvgap -m experiment=X` runs the sweep and writes <sweep dir>/analysis/ in one
command (conf/hydra/callbacks/sweep_analysis.yaml; every paper recipe enables it).

It runs in the launching process after the launcher returns, also when the jobs ran
elsewhere (submitit, SLURM); it reads only the run folders, like
`python -m gvgap.analysis.sweeps <sweep dir>`, which redoes it by hand.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("gvgap")


class SweepAnalysis(Callback):
    def __init__(self, out_dir: str | None = None) -> None:
        self.out_dir = out_dir  # null: <sweep dir>/analysis

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from gvgap.analysis.sweeps import analyse

        sweep_dir = Path(str(config.hydra.sweep.dir))
        written = analyse(sweep_dir, self.out_dir)
        log.info("[gvgap.analysis] %s: %s", sweep_dir / "analysis" if self.out_dir is None else self.out_dir,
                 ", ".join(sorted(written)))
