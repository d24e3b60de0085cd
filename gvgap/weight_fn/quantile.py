"""Per-prompt "top-n" filtering: tau_x is the q-quantile of prompt x's scores (NaNs
ignored), and w = 1[score >= tau_x] (ties at tau_x all kept), or 1[score > tau_x] with
`strict: true` (the direction of Algorithm 1; see gvgap.weight_fn.threshold)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gvgap.schema import need, store
from gvgap.weight_fn.base import WeightFn, WeightSchema
from gvgap.weight_fn.threshold import cut


@store("weight_fn", "quantile_schema")
@dataclass
class QuantileConfig(WeightSchema):
    _target_: str = "gvgap.weight_fn.quantile.Quantile"
    q: float = 0.8
    strict: bool = False  # false: score >= tau_x (Example 2.2); true: score > tau_x (Algorithm 1)

    def check(self):
        need(0 <= self.q <= 1, f"weight_fn.q must be in [0, 1] (got {self.q})")


class Quantile(WeightFn):
    schema = QuantileConfig

    def __init__(self, **options):
        super().__init__(**options)
        self.q, self.strict = float(self.cfg.q), bool(self.cfg.strict)

    def weigh(self, s):
        valid = ~np.isnan(s)
        w = np.zeros_like(s)
        rows = valid.any(axis=1)
        if rows.any():
            tau = np.nanquantile(s[rows], self.q, axis=1, keepdims=True)
            w[rows] = cut(s[rows], tau, self.strict)
        return w
