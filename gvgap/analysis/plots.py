"""Small matplotlib helpers (Agg backend: files only, no display needed), and the
grouping behind the per-round score distributions of the run report."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    # matplotlib's first import on a machine builds its font cache and says so after 5 s,
    # a line a reader can do nothing about: quiet that logger while pyplot loads
    fm_log = logging.getLogger("matplotlib.font_manager")
    level = fm_log.level
    fm_log.setLevel(logging.ERROR)
    try:
        import matplotlib.pyplot as plt
    finally:
        fm_log.setLevel(level)
    return plt


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(ScalarFormatter())


def save(fig, path) -> Path:
    """Write a figure atomically (temp file + rename), like every other artifact."""
    from gvgap import artifacts as A

    path = Path(path)
    A.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    _plt().close(fig)
    return path


def lines(series: dict, xlabel: str, ylabel: str, title: str, path, hline: float | None = None,
          bands: dict | None = None, xlog: bool = False, ylim: tuple | None = None,
          integer_x: bool = False) -> Path:
    """One line per name in series {name: (xs, ys)}; optional shaded bands {name: (lo, hi)}.
    xlog: a log2 x axis with plain-number ticks at the data's x values (k = 1, 2, 4, ...)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=str(name))
        if bands and name in bands:
            lo, hi = bands[name]
            ax.fill_between(xs, lo, hi, alpha=0.2)
    if hline is not None:
        ax.axhline(hline, color="grey", lw=0.8, ls="--")
    if xlog:
        from matplotlib.ticker import NullLocator, ScalarFormatter

        ax.set_xscale("log", base=2)
        xs_all = sorted({x for xs, _ in series.values() for x in xs})
        ax.set_xticks(xs_all)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
    elif integer_x:
        _integer_ticks(ax.xaxis)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return save(fig, path)


def bars(labels, counts, xlabel: str, title: str, path, ylabel: str = "samples") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    # bars at positions 0..n-1 with the labels as tick text: no categorical-axis guessing
    ax.bar(range(len(labels)), counts, color="tab:blue", tick_label=[str(x) for x in labels])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _integer_ticks(ax.yaxis)
    ax.set_title(title)
    return save(fig, path)


def score_groups(scores, utilities, u_max: float = 1.0) -> dict:
    """Scores [P, N] (or [P, N, m]: the mean over the m verifications) split by true
    utility: {"correct": finite scores of samples with utility >= u_max, "incorrect": the
    rest's, "unparseable": (NaN-scored correct, NaN-scored incorrect)}. Samples whose
    utility is NaN (not graded) are left out."""
    import warnings

    sc = np.asarray(scores, dtype=np.float64)
    if sc.ndim == 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
            sc = np.nanmean(sc, axis=2)
    u = np.asarray(utilities, dtype=np.float64)
    graded = ~np.isnan(u)
    correct, finite = graded & (u >= u_max), ~np.isnan(sc)
    incorrect = graded & ~correct
    return {"correct": sc[correct & finite], "incorrect": sc[incorrect & finite],
            "unparseable": (int((correct & ~finite).sum()), int((incorrect & ~finite).sum()))}


def score_bins(groups: dict, bins: int = 10) -> dict:
    """Counts per bin of each group of score_groups: one bin per value when the scores are
    at most 21 whole numbers (oracle, CoT, tournament), else `bins` equal bins over [0, 1]
    (over the scores' range when they leave it). {"labels", "correct", "incorrect"}; an
    "unparseable" bin is added when any score is NaN."""
    both = np.concatenate([groups["correct"], groups["incorrect"]])
    values = np.unique(both)
    if values.size <= 21 and np.all(values == np.round(values)):
        labels = [f"{v:g}" for v in values]
        counts = {g: [int((groups[g] == v).sum()) for v in values] for g in ("correct", "incorrect")}
    else:
        lo, hi = (0.0, 1.0) if both.size == 0 or (both.min() >= 0 and both.max() <= 1) else (both.min(), both.max())
        edges = np.linspace(lo, hi, bins + 1)
        labels = [f"{edges[i]:.2g}-{edges[i + 1]:.2g}" for i in range(bins)]
        counts = {g: [int(c) for c in np.histogram(groups[g], bins=edges)[0]] for g in ("correct", "incorrect")}
    out = {"labels": labels, **counts}
    if sum(groups["unparseable"]):
        out["labels"] = labels + ["unparseable"]
        out["correct"] = counts["correct"] + [groups["unparseable"][0]]
        out["incorrect"] = counts["incorrect"] + [groups["unparseable"][1]]
    return out


def score_distributions(scores, utilities, title: str, path, u_max: float = 1.0) -> dict:
    """Side-by-side bars: how many correct and how many incorrect samples got each
    verifier score. Writes `path`; returns the counts drawn (score_bins)."""
    counts = score_bins(score_groups(scores, utilities, u_max))
    plt = _plt()
    x = np.arange(len(counts["labels"]))
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    ax.bar(x - 0.2, counts["correct"], width=0.4, color="tab:green", label=f"correct ({sum(counts['correct'])})")
    ax.bar(x + 0.2, counts["incorrect"], width=0.4, color="tab:red",
           label=f"incorrect ({sum(counts['incorrect'])})")
    ax.set_xticks(x, counts["labels"], rotation=30 if len(x) > 6 else 0, ha="right" if len(x) > 6 else "center",
                  fontsize=8)
    ax.set_xlabel("verifier score (mean over the verifications of a sample)")
    ax.set_ylabel("samples")
    _integer_ticks(ax.yaxis)
    ax.set_title(title)
    ax.legend(fontsize=8)
    save(fig, path)
    return counts


def heatmap(names, matrix, title: str, path) -> Path:
    """A correlation matrix with its values written in the cells."""
    import numpy as np

    plt = _plt()
    m = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 1.0 * len(names) + 1.5))
    im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, "n/a" if not np.isfinite(m[i, j]) else f"{m[i, j]:.2f}", ha="center", va="center",
                    fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    return save(fig, path)
