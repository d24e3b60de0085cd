"""KL-regularised RL weight (Example 2.1): w = exp(score / beta).

beta is in the units of the verifier's score (1..10 for CoT-Score, 0..1 for MC): it sets
how sharply f[w] leans to high scores (beta -> 0: the best sample only; large: f itself).
It is not RPO's beta (updater.beta, App. F: 0.05), which scales the policy's log-ratios
inside the pairwise loss and never sees a score; the two are set separately."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gvgap.schema import need, store
from gvgap.weight_fn.base import WeightFn, WeightSchema


@store("weight_fn", "exp_schema")
@dataclass
class ExpConfig(WeightSchema):
    _target_: str = "gvgap.weight_fn.exp.Exp"
    beta: float = 1.0

    def check(self):
        need(self.beta > 0, f"weight_fn.beta must be > 0 (got {self.beta})")


class Exp(WeightFn):
    """w = exp(score / beta), computed relative to each prompt's best score so large
    scores do not overflow (f[w] is unchanged by a per-prompt constant factor)."""

    schema = ExpConfig

    def __init__(self, **options):
        super().__init__(**options)
        self.beta = float(self.cfg.beta)

    def weigh(self, s):
        top = np.nanmax(np.where(np.isnan(s), -np.inf, s), axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(invalid="ignore"):
            return np.exp((np.nan_to_num(s, nan=-np.inf) - top) / self.beta)
