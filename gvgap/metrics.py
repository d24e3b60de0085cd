"""The paper's measurements as pure functions of arrays.

Shapes: `utilities` and `weights` are [P, N] (P prompts, N samples each). Nothing here
knows about models, files or configs, so every number can be checked by hand.
"""

from __future__ import annotations

from math import comb

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): 1 - C(n-c, k) / C(n, k).

    n samples of which c are correct. Computed as a product to stay exact and stable
    for large n: C(n-c, k)/C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i).
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_mean(correct: np.ndarray, k: int) -> float:
    """Mean pass@k over prompts; `correct` is a boolean [P, N] array."""
    correct = np.asarray(correct, dtype=bool)
    n = correct.shape[1]
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n_samples, got k={k}, n_samples={n}")
    c = correct.sum(axis=1)
    # vectorised form of pass_at_k: rows with n - c < k are certain passes
    i = np.arange(1, n + 1, dtype=np.float64)
    factors = 1.0 - k / i  # factor for each i; the product over i > n - c is the miss chance
    log_f = np.log(np.clip(factors, 1e-300, None))
    log_f[factors <= 0] = -np.inf
    tail = np.concatenate([np.cumsum(log_f[::-1])[::-1], [0.0]])  # tail[j] = sum_{i>j} log f_i
    miss = np.exp(tail[n - c])
    miss[n - c < k] = 0.0
    return float(np.mean(1.0 - miss))


def prompt_means(utilities: np.ndarray, weights: np.ndarray | None = None):
    """Per-prompt J_x(f) and J_x(f[w]); a prompt whose weights are all zero keeps its
    unweighted mean. Returns (base, reweighted, empty_mask)."""
    u = np.asarray(utilities, dtype=np.float64)
    base = u.mean(axis=1)
    if weights is None:
        return base, base.copy(), np.zeros(len(base), dtype=bool)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != u.shape:
        raise ValueError(f"weights {w.shape} and utilities {u.shape} differ in shape")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite and non-negative")
    total = w.sum(axis=1)
    empty = total <= 0
    reweighted = np.where(empty, base, (w * u).sum(axis=1) / np.where(empty, 1.0, total))
    return base, reweighted, empty


def gap_metrics(utilities: np.ndarray, weights: np.ndarray, u_max: float = 1.0) -> dict:
    """accuracy J(f), weighted accuracy J(f[w]), gap (Def. 2.1) and gap_rel (Def. 2.2).

    gap_rel averages over prompts not already at u_max (those have no room to improve);
    their number is reported as n_saturated. gap_rel is NaN when every prompt is saturated.
    """
    base, reweighted, empty = prompt_means(utilities, weights)
    room = u_max - base
    open_ = room > 1e-12
    rel = (reweighted[open_] - base[open_]) / room[open_]
    acc, wacc = float(base.mean()), float(reweighted.mean())
    return {
        "accuracy": acc,
        "weighted_accuracy": wacc,
        "gap": wacc - acc,
        "gap_rel": float(rel.mean()) if rel.size else float("nan"),
        "n_prompts": int(base.size),
        "n_samples": int(np.asarray(utilities).shape[1]),
        "n_empty": int(empty.sum()),
        "n_saturated": int((~open_).sum()),
    }


def default_ks(n: int) -> list[int]:
    """1, 2, 4, ..., up to n (n itself included)."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    ks.append(n)
    return ks


def pass_at_k_curve(utilities: np.ndarray, ks, u_max: float = 1.0) -> dict[str, float]:
    correct = np.asarray(utilities) >= u_max
    return {str(k): pass_at_k_mean(correct, int(k)) for k in ks}
