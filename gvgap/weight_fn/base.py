"""What every weight function shares: the NaN rule and being built from its schema.

A NaN score (unparseable verifier output) gets `nan_weight` (default 0: a sample the
verifier could not judge is not kept). The reweighted distribution f[w] of a prompt is
its samples weighted by w; see gvgap.metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gvgap.schema import need


@dataclass
class WeightSchema:
    """Base of the weight_fn schemas; subclasses add their keys and a `check`."""

    nan_weight: float = 0.0

    def __post_init__(self):
        need(self.nan_weight >= 0, f"weight_fn.nan_weight must be >= 0 (got {self.nan_weight})")
        self.check()

    def check(self) -> None:
        pass


class WeightFn:
    """Call with scores [P, N] (NaN: unjudged) to get weights [P, N] >= 0.

    Keyword options are the fields of `schema`, which holds their defaults and ranges
    (a bad value raises gvgap.schema.ConfigError, a ValueError)."""

    schema = WeightSchema

    def __init__(self, **options):
        self.cfg = self.schema(**options)
        self.nan_weight = float(self.cfg.nan_weight)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        w = self.weigh(s)
        return np.where(np.isnan(s), self.nan_weight, w)

    def weigh(self, scores: np.ndarray) -> np.ndarray:
        raise NotImplementedError
