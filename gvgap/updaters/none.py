"""The identity update: the next round uses the same model."""

from __future__ import annotations

from dataclasses import dataclass

from gvgap.schema import store


@store("updater", "none_schema")
@dataclass
class NoUpdateConfig:
    _target_: str = "gvgap.updaters.none.NoUpdate"


class NoUpdate:
    def update(self, model_path: str, records, out_dir: str, seed: int = 0) -> str:
        return model_path
