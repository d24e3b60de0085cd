"""logger=none: logs nothing (the local metrics.jsonl is still written).

The interface every logger follows: start(config, run_dir) once, log_round(t, metrics,
round_dir) for every round the pipeline holds, finished or restored from disk on resume
(a logger that mirrors to a service skips rounds it has sent already), finish(failed) at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

from gvgap.schema import store


@store("logger", "none_schema")
@dataclass
class NullLoggerConfig:
    _target_: str = "gvgap.logger.none.NullLogger"


class NullLogger:
    def start(self, config: dict, run_dir: str) -> None:
        pass

    def log_round(self, t: int, metrics: dict, round_dir=None) -> None:
        """metrics: round t's metrics.json; round_dir: its folder (generations.parquet with
        the weights, verifications.parquet), for loggers that show samples."""

    def finish(self, failed: bool = False) -> None:
        """failed: the run stopped on an error (a service marks the run failed)."""
