"""logger=none: logs nothing (the local metrics.jsonl is still written)."""

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

    def log_round(self, t: int, metrics: dict) -> None:
        pass

    def finish(self) -> None:
        pass
