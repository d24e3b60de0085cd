"""Small matplotlib helpers (Agg backend: files only, no display needed)."""

from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path) -> Path:
    """Write a figure atomically (temp file + rename), like every other artifact."""
    from gvgap import artifacts as A

    path = Path(path)
    A.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    _plt().close(fig)
    return path


def lines(series: dict, xlabel: str, ylabel: str, title: str, path, hline: float | None = None,
          bands: dict | None = None, xlog: bool = False) -> Path:
    """One line per name in series {name: (xs, ys)}; optional shaded bands {name: (lo, hi)}."""
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
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return save(fig, path)


def bars(labels, counts, xlabel: str, title: str, path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    # bars at positions 0..n-1 with the labels as tick text: no categorical-axis guessing
    ax.bar(range(len(labels)), counts, color="tab:blue", tick_label=[str(x) for x in labels])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    return save(fig, path)


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
