"""Footnote 2: w_alpha = exp(alpha * w(score)), alpha tuned on labelled hold-out prompts.

A weight function with a `fit` method needs labelled hold-out prompts; gvgap.measure
provides them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np

from gvgap.schema import check_part, need, store
from gvgap.weight_fn.base import WeightFn, WeightSchema


@store("weight_fn", "calibrated_schema")
@dataclass
class CalibratedWeightConfig(WeightSchema):
    _target_: str = "gvgap.weight_fn.calibrated.Calibrated"
    base: Any = None  # null: the raw score; else a weight_fn config (or a built weight function)
    holdout: float = 0.2
    seed: int = 0
    alphas: Optional[List[float]] = None  # null: default_alphas()

    def check(self):
        need(0 < self.holdout < 1, f"weight_fn.holdout must be in (0, 1) (got {self.holdout})")
        need(self.alphas is None or (len(self.alphas) >= 1 and all(math.isfinite(a) for a in self.alphas)),
             "weight_fn.alphas must be null or a non-empty list of finite numbers")
        if self.base is not None:
            check_part("weight_fn", self.base, "weight_fn.base")


def default_alphas() -> np.ndarray:
    """0 and +-10^(-2 .. 2) in 41 log steps: from "no change" to a hard filter."""
    mags = np.logspace(-2, 2, 41)
    return np.concatenate([-mags[::-1], [0.0], mags])


class Calibrated(WeightFn):
    """`base` is the inner weight function w (None: the raw score). alpha is chosen from
    `alphas` to maximise the hold-out prompts' weighted accuracy J(f[w_alpha]); ties go
    to the alpha closest to 0 (the smallest change), then to the positive one. A
    negative alpha lets a verifier that is anti-correlated with the truth still help.
    The hold-out prompts (a seeded `holdout` fraction) are left out of every reported
    metric; gvgap.measure calls holdout_mask() and fit() before weighing.
    """

    schema = CalibratedWeightConfig

    def __init__(self, **options):
        super().__init__(**options)
        base = self.cfg.base
        if isinstance(base, dict) or hasattr(base, "_target_"):  # a config given by hand, not through Hydra
            from hydra.utils import instantiate

            base = instantiate(base)
        self.base = base
        self.holdout, self.seed = float(self.cfg.holdout), int(self.cfg.seed)
        alphas = self.cfg.alphas
        self.alphas = np.asarray(default_alphas() if alphas is None else alphas, dtype=np.float64)
        self.alpha: float | None = None
        self.holdout_accuracy: float | None = None

    def holdout_mask(self, n_prompts: int) -> np.ndarray:
        """Which prompts (by position) are the labelled hold-out: seeded, round(holdout*P) >= 1."""
        k = max(1, int(round(self.holdout * n_prompts)))
        if k >= n_prompts:
            raise ValueError(f"weight_fn.holdout={self.holdout} leaves no prompt to report among {n_prompts}")
        mask = np.zeros(n_prompts, dtype=bool)
        mask[np.random.default_rng(self.seed).permutation(n_prompts)[:k]] = True
        return mask

    def _inner(self, s):
        return s if self.base is None else np.where(np.isnan(s), np.nan, self.base(s))

    def _weights(self, s, alpha):
        x = alpha * self._inner(s)
        top = np.nanmax(np.where(np.isnan(x), -np.inf, x), axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        w = np.exp(x - top)  # relative to the row's best: no overflow, same f[w]
        return np.where(np.isnan(s), self.nan_weight, w)

    def fit(self, scores: np.ndarray, utilities: np.ndarray) -> float:
        """Choose alpha on labelled prompts (rows of scores / utilities); returns it."""
        from gvgap.metrics import prompt_means

        s = np.asarray(scores, dtype=np.float64)
        best = None
        for a in sorted(self.alphas, key=lambda a: (abs(a), -a)):
            acc = float(prompt_means(utilities, self._weights(s, a))[1].mean())
            if best is None or acc > best[1] + 1e-12:
                best = (float(a), acc)
        self.alpha, self.holdout_accuracy = best
        return self.alpha

    def weigh(self, s):
        if self.alpha is None:
            raise ValueError("weight_fn=calibrated: fit() must choose alpha on hold-out prompts before weighing")
        return self._weights(s, self.alpha)
