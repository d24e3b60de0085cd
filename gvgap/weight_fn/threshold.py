"""Global threshold: w = 1[score >= tau] (Example 2.2), or 1[score > tau] with
`strict: true` (Algorithm 1, line 4). The two differ only for scores equal to tau, which
is common with integer scores: with CoT-Score and tau = 8, `>=` keeps 8, 9 and 10, `>`
keeps 9 and 10."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gvgap.schema import need, store
from gvgap.weight_fn.base import WeightFn, WeightSchema


@store("weight_fn", "threshold_schema")
@dataclass
class ThresholdConfig(WeightSchema):
    _target_: str = "gvgap.weight_fn.threshold.Threshold"
    tau: float = 0.8
    strict: bool = False  # false: score >= tau (Example 2.2); true: score > tau (Algorithm 1)

    def check(self):
        need(math.isfinite(self.tau), f"weight_fn.tau must be a finite number (got {self.tau})")


def cut(scores: np.ndarray, tau, strict: bool) -> np.ndarray:
    """1.0 where scores pass tau (`>` if strict, else `>=`), 0.0 elsewhere (also for NaN);
    tau is a number or an array that broadcasts against scores."""
    with np.errstate(invalid="ignore"):
        return (scores > tau if strict else scores >= tau).astype(np.float64)


class Threshold(WeightFn):
    schema = ThresholdConfig

    def __init__(self, **options):
        super().__init__(**options)
        self.tau, self.strict = float(self.cfg.tau), bool(self.cfg.strict)

    def weigh(self, s):
        return cut(s, self.tau, self.strict)
