"""Global threshold (Example 2.2): w = 1[score >= tau]."""

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

    def check(self):
        need(math.isfinite(self.tau), f"weight_fn.tau must be a finite number (got {self.tau})")


class Threshold(WeightFn):
    schema = ThresholdConfig

    def __init__(self, **options):
        super().__init__(**options)
        self.tau = float(self.cfg.tau)

    def weigh(self, s):
        with np.errstate(invalid="ignore"):
            return (s >= self.tau).astype(np.float64)

