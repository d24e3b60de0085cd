"""The paper's measurements as pure functions of arrays.

Shapes: `utilities` and `weights` are [P, N] (P prompts, N samples each). Nothing here
knows about models, files or configs, so every number can be checked by hand.
"""

from __future__ import annotations

import warnings

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
    Two other normalisations are reported beside it, since papers differ (Table 4's MC
    columns match the pooled form): gap_rel_pooled = gap / (u_max - J(f)) on the pooled
    means, and gap_rel_all = the per-prompt mean with saturated prompts counted as 0.
    """
    base, reweighted, empty = prompt_means(utilities, weights)
    room = u_max - base
    open_ = room > 1e-12
    rel = (reweighted[open_] - base[open_]) / room[open_]
    acc, wacc = float(base.mean()), float(reweighted.mean())
    pooled_room = u_max - acc
    return {
        "accuracy": acc,
        "weighted_accuracy": wacc,
        "gap": wacc - acc,
        "gap_rel": float(rel.mean()) if rel.size else float("nan"),
        "gap_rel_pooled": (wacc - acc) / pooled_room if pooled_room > 1e-12 else float("nan"),
        "gap_rel_all": float(rel.sum() / base.size) if base.size else float("nan"),
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


# -- per-prompt gaps and their uncertainty ------------------------------------------------
def prompt_gaps(utilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """J_x(f[w]) - J_x(f) for every prompt x: the per-prompt gap (Fig. 7, 17, 19)."""
    base, reweighted, _ = prompt_means(utilities, weights)
    return reweighted - base


def bootstrap_gap_ci(utilities: np.ndarray, weights: np.ndarray, u_max: float = 1.0, n_boot: int = 1000,
                     level: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap confidence intervals of gap and gap_rel, resampling prompts.

    Prompts are the unit (samples of a prompt are not independent of it). gap_rel of a
    resample averages over its prompts with room to improve, as gap_metrics does.
    Vectorised: the resampled index matrix is processed in chunks of ~4M entries.
    """
    base, reweighted, _ = prompt_means(utilities, weights)
    p = base.size
    if p == 0 or n_boot < 1:
        nan = {"low": float("nan"), "high": float("nan")}
        return {"gap_ci": dict(nan), "gap_rel_ci": dict(nan)}
    d = reweighted - base
    room = u_max - base
    open_ = room > 1e-12
    rel = np.where(open_, d / np.where(open_, room, 1.0), 0.0)
    rng = np.random.default_rng(seed)
    gaps, rels = np.empty(n_boot), np.empty(n_boot)
    chunk = max(1, 4_000_000 // p)
    for s in range(0, n_boot, chunk):
        b = min(chunk, n_boot - s)
        idx = rng.integers(0, p, size=(b, p))
        gaps[s:s + b] = d[idx].mean(axis=1)
        n_open = open_[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rels[s:s + b] = np.where(n_open > 0, rel[idx].sum(axis=1) / np.maximum(n_open, 1), np.nan)
    tail = 100 * (1 - level) / 2

    def ci(x):
        x = x[np.isfinite(x)]
        if not x.size:
            return {"low": float("nan"), "high": float("nan")}
        lo, hi = np.percentile(x, [tail, 100 - tail])
        return {"low": float(lo), "high": float(hi)}

    return {"gap_ci": ci(gaps), "gap_rel_ci": ci(rels)}


# -- answers: majority vote and diversity -------------------------------------------------
def _answer_table(answers, utilities, weights=None):
    """Long table (prompt, sample, answer, utility, weight) of the samples with an answer."""
    import pandas as pd

    a = np.asarray(answers, dtype=object)
    u = np.asarray(utilities, dtype=np.float64)
    p, n = a.shape
    w = np.ones_like(u) if weights is None else np.asarray(weights, dtype=np.float64)
    df = pd.DataFrame({"prompt": np.repeat(np.arange(p), n), "sample": np.tile(np.arange(n), p),
                       "answer": a.ravel(), "utility": u.ravel(), "weight": w.ravel()})
    ans = df["answer"]
    has = ans.notna().to_numpy().copy()
    has[has] = ans[has].astype(str).str.strip().ne("").to_numpy()
    return df[has]


def majority_vote_accuracy(answers, utilities, weights=None, u_min: float = 0.0) -> float:
    """Mean over prompts of the utility of the most voted final answer.

    answers: [P, N] extracted final answers (None or "" = no answer, never a vote).
    The winner's utility is the mean utility of the samples giving it. Ties go to the
    answer seen first. With `weights`, votes count by weight (a prompt whose weights are
    all zero votes unweighted, as in prompt_means). A prompt with no answer scores u_min.
    """
    u = np.asarray(utilities, dtype=np.float64)
    p = u.shape[0]
    df = _answer_table(answers, u, weights)
    if weights is not None and len(df):
        total = df.groupby("prompt")["weight"].transform("sum")
        df = df.assign(weight=np.where(total > 0, df["weight"], 1.0))
    out = np.full(p, float(u_min))
    if len(df):
        g = df.groupby(["prompt", "answer"], sort=False).agg(votes=("weight", "sum"), first=("sample", "min"),
                                                              utility=("utility", "mean")).reset_index()
        g = g.sort_values(["prompt", "votes", "first"], ascending=[True, False, True])
        best = g.drop_duplicates("prompt")
        out[best["prompt"].to_numpy()] = best["utility"].to_numpy()
    return float(out.mean()) if p else float("nan")


def answer_diversity(answers) -> dict:
    """Distinct final answers per prompt and the entropy (bits) of each prompt's answer
    distribution, both averaged over prompts. Missing answers are left out; a prompt
    with no answer has 0 distinct answers and entropy 0."""
    a = np.asarray(answers, dtype=object)
    p = a.shape[0]
    df = _answer_table(a, np.zeros(a.shape))
    distinct = np.zeros(p)
    entropy = np.zeros(p)
    if len(df):
        counts = df.groupby(["prompt", "answer"], sort=False).size().rename("c").reset_index()
        counts["share"] = counts["c"] / counts.groupby("prompt")["c"].transform("sum")
        counts["h"] = -counts["share"] * np.log2(counts["share"])
        per = counts.groupby("prompt").agg(k=("c", "size"), h=("h", "sum"))
        distinct[per.index.to_numpy()] = per["k"].to_numpy()
        entropy[per.index.to_numpy()] = per["h"].to_numpy()
    return {"distinct_answers": float(distinct.mean()) if p else float("nan"),
            "answer_entropy": float(np.abs(entropy).mean()) if p else float("nan")}


def distinct_ns(completions, ns=(1, 2)) -> dict:
    """distinct-n (Li et al., 2016) per prompt: distinct word n-grams over all n-grams of
    that prompt's samples, averaged over prompts that have any n-gram. One pass for all n."""
    per = {n: [] for n in ns}
    for samples in completions:
        seen = {n: set() for n in ns}
        total = dict.fromkeys(ns, 0)
        for text in samples:
            if text is None:
                continue
            words = str(text).split()
            for n in ns:
                grams = words if n == 1 else list(zip(*(words[i:] for i in range(n))))
                total[n] += len(grams)
                seen[n].update(grams)
        for n in ns:
            if total[n]:
                per[n].append(len(seen[n]) / total[n])
    return {f"distinct_{n}": float(np.mean(per[n])) if per[n] else float("nan") for n in ns}


# -- verifier behaviour -------------------------------------------------------------------
def verification_variance(scores: np.ndarray, bins: int = 10) -> dict:
    """Spread of the m verifications of each sample (App. D.4, Fig. 11).

    scores: [P, N, m]. Per sample, the population variance of its readable
    verifications; for 0/1 verdicts this is exactly p(1-p) with p the share of
    "correct". Samples with fewer than 2 readable verifications are left out.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1, np.shape(scores)[-1])
    ok = ~np.isnan(s)
    k = ok.sum(axis=1)
    s, ok, k = s[k >= 2], ok[k >= 2], k[k >= 2]
    if not k.size:
        return {"mean": float("nan"), "median": float("nan"), "n_samples": 0, "histogram": {"edges": [], "counts": []}}
    mean = np.where(ok, s, 0).sum(axis=1) / k
    var = np.where(ok, (s - mean[:, None]) ** 2, 0).sum(axis=1) / k
    hi = max(0.25, float(var.max()))
    counts, edges = np.histogram(var, bins=bins, range=(0.0, hi))
    return {"mean": float(var.mean()), "median": float(np.median(var)), "n_samples": int(k.size),
            "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}}


def score_histogram(scores, bins: int = 10) -> dict:
    """Distribution of verifier scores (self-bias check, Fig. 16).

    Discrete scores (at most 21 distinct whole numbers: CoT, tournament, oracle) are
    counted per value; other scores in `bins` equal bins. NaNs are counted apart.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    finite = s[np.isfinite(s)]
    out = {"n_nan": int(np.isnan(s).sum())}
    values = np.unique(finite)
    if values.size <= 21 and np.all(values == np.round(values)):
        out["values"] = [float(v) for v in values]
        out["counts"] = [int((finite == v).sum()) for v in values]
    elif finite.size:
        counts, edges = np.histogram(finite, bins=bins)
        out["edges"] = [float(e) for e in edges]
        out["counts"] = [int(c) for c in counts]
    else:
        out["values"], out["counts"] = [], []
    return out


def pearson(x, y) -> float:
    """Pearson correlation over the pairs where both values are finite (NaN if < 2 such
    pairs or either side is constant)."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    den = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / den) if den > 0 else float("nan")


def correlation_matrix(series: dict) -> dict:
    """{name: {other: pearson}} for every pair of equally shaped arrays."""
    names = list(series)
    return {a: {b: pearson(series[a], series[b]) for b in names if b != a} for a in names}


# -- how well the verifier separates correct from incorrect samples -------------------------
def auroc(scores, labels) -> float | None:
    """Area under the ROC curve of `scores` for telling labels 1 from labels 0 (1-D arrays of
    equal length): P(score of a random positive > score of a random negative), ties counted
    half (the Mann-Whitney U statistic over n_pos * n_neg). Entries with a NaN score are left
    out. None when either class is empty."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=bool).ravel()
    keep = ~np.isnan(s)
    s, y = s[keep], y[keep]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    # average rank (1-based) of each run of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], s.size]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def verifier_discrimination(utilities: np.ndarray, scores: np.ndarray, weights: np.ndarray,
                            u_max: float = 1.0) -> dict:
    """Pooled over all samples of a round: `verifier_auroc` of each sample's mean score
    (scores [P, N] or [P, N, m]) for correct (utility >= u_max) vs incorrect samples, and the
    precision / recall of the kept set (weight > 0) at the chosen weight function.
    Values are None where undefined (one class empty, nothing kept)."""
    u = np.asarray(utilities, dtype=np.float64)
    sc = np.asarray(scores, dtype=np.float64)
    if sc.ndim == 3:  # mean over the m verifications; all-NaN cells stay NaN
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sc = np.nanmean(sc, axis=2)
    correct = u >= u_max
    kept = np.asarray(weights, dtype=np.float64) > 0
    tp = int((kept & correct).sum())
    return {
        "verifier_auroc": auroc(sc, correct),
        "kept_precision": tp / int(kept.sum()) if kept.any() else None,
        "kept_recall": tp / int(correct.sum()) if correct.any() else None,
    }
