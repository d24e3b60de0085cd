"""Weight functions w: proxy-utility scores [P, N] -> non-negative weights [P, N].

A NaN score (unparseable verifier output) gets `nan_weight` (default 0: a sample the
verifier could not judge is not kept). The reweighted distribution f[w] of a prompt is
its samples weighted by w; see gvgap.metrics.
"""

from __future__ import annotations

import numpy as np


class WeightFn:
    def __init__(self, nan_weight: float = 0.0):
        self.nan_weight = float(nan_weight)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        w = self.weigh(s)
        return np.where(np.isnan(s), self.nan_weight, w)

    def weigh(self, scores: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Threshold(WeightFn):
    """Global threshold (Example 2.2): w = 1[score >= tau]."""

    def __init__(self, tau: float = 0.8, **kw):
        super().__init__(**kw)
        self.tau = float(tau)

    def weigh(self, s):
        with np.errstate(invalid="ignore"):
            return (s >= self.tau).astype(np.float64)


class Quantile(WeightFn):
    """Per-prompt "top-n" filtering: tau_x is the q-quantile of prompt x's scores
    (NaNs ignored), and w = 1[score >= tau_x]. Ties at tau_x are all kept."""

    def __init__(self, q: float = 0.8, **kw):
        super().__init__(**kw)
        self.q = float(q)

    def weigh(self, s):
        valid = ~np.isnan(s)
        w = np.zeros_like(s)
        rows = valid.any(axis=1)
        if rows.any():
            tau = np.nanquantile(s[rows], self.q, axis=1, keepdims=True)
            with np.errstate(invalid="ignore"):
                w[rows] = (s[rows] >= tau).astype(np.float64)
        return w


class Exp(WeightFn):
    """KL-regularised RL weight (Example 2.1): w = exp(score / beta), computed relative
    to each prompt's best score so large scores do not overflow (f[w] is unchanged by a
    per-prompt constant factor)."""

    def __init__(self, beta: float = 1.0, **kw):
        super().__init__(**kw)
        if beta <= 0:
            raise ValueError("weight_fn.beta must be > 0")
        self.beta = float(beta)

    def weigh(self, s):
        top = np.nanmax(np.where(np.isnan(s), -np.inf, s), axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(invalid="ignore"):
            return np.exp((np.nan_to_num(s, nan=-np.inf) - top) / self.beta)


def threshold_sweep(scores: np.ndarray, utilities: np.ndarray, taus, kind: str = "threshold") -> list[dict]:
    """Gap metrics for many thresholds (or quantiles) at once, for Fig. 5/6 tables."""
    from gvgap.metrics import gap_metrics

    make = Threshold if kind == "threshold" else Quantile
    rows = []
    for t in taus:
        wf = make(t)
        rows.append({kind if kind == "threshold" else "q": float(t), **gap_metrics(utilities, wf(scores))})
    return rows
