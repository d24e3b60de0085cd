"""Weight functions w: proxy-utility scores [P, N] -> non-negative weights [P, N].

A NaN score (unparseable verifier output) gets `nan_weight` (default 0: a sample the
verifier could not judge is not kept). The reweighted distribution f[w] of a prompt is
its samples weighted by w; see gvgap.metrics. A weight function with a `fit` method
(Calibrated) needs labelled hold-out prompts; gvgap.measure provides them.
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


class Tournament(WeightFn):
    """Survivors of tournament round k (Section 3): w = 1[rounds survived >= k].

    k = 0 keeps every entrant; k = r keeps the champion. Scores come from
    verifier=tournament; samples that did not enter (score -1) are never kept.
    """

    def __init__(self, round: int = 1, **kw):  # noqa: A002 (the config key)
        super().__init__(**kw)
        if int(round) < 0:
            raise ValueError(f"weight_fn.round must be >= 0 (got {round})")
        self.round = int(round)

    def weigh(self, s):
        with np.errstate(invalid="ignore"):
            return (s >= self.round).astype(np.float64)


def default_alphas() -> np.ndarray:
    """0 and +-10^(-2 .. 2) in 41 log steps: from "no change" to a hard filter."""
    mags = np.logspace(-2, 2, 41)
    return np.concatenate([-mags[::-1], [0.0], mags])


class Calibrated(WeightFn):
    """Footnote 2: w_alpha = exp(alpha * w(score)), alpha tuned on labelled hold-out prompts.

    `base` is the inner weight function w (None: the raw score). alpha is chosen from
    `alphas` to maximise the hold-out prompts' weighted accuracy J(f[w_alpha]); ties go
    to the alpha closest to 0 (the smallest change), then to the positive one. A
    negative alpha lets a verifier that is anti-correlated with the truth still help.
    The hold-out prompts (a seeded `holdout` fraction) are left out of every reported
    metric; gvgap.measure calls holdout_mask() and fit() before weighing.
    """

    def __init__(self, base=None, holdout: float = 0.2, seed: int = 0, alphas=None, **kw):
        super().__init__(**kw)
        if not 0 < float(holdout) < 1:
            raise ValueError(f"weight_fn.holdout must be in (0, 1) (got {holdout})")
        if isinstance(base, dict):  # a config given by hand, not through Hydra
            from hydra.utils import instantiate

            base = instantiate(base)
        self.base = base
        self.holdout, self.seed = float(holdout), int(seed)
        self.alphas = np.asarray(default_alphas() if alphas is None else alphas, dtype=np.float64)
        if self.alphas.size == 0:
            raise ValueError("weight_fn.alphas must list at least one value")
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


def threshold_sweep(scores: np.ndarray, utilities: np.ndarray, taus, kind: str = "threshold") -> list[dict]:
    """Gap metrics for many thresholds (or quantiles) at once, for Fig. 5/6 tables."""
    from gvgap.metrics import gap_metrics

    make = Threshold if kind == "threshold" else Quantile
    rows = []
    for t in taus:
        wf = make(t)
        rows.append({kind if kind == "threshold" else "q": float(t), **gap_metrics(utilities, wf(scores))})
    return rows
