"""The figures of a sweep (matplotlib, files only), from the tables in gvgap.analysis.tables
and gvgap.analysis.sanity: the generator x verifier grid (Fig. 3), accuracy / gap / pass@k
per round (Fig. 4, 10, 13), gap against the threshold and per tournament round (Fig. 5, 6;
Fig. 14, 15 from the sweep of each other family), per-prompt gap histograms (Fig. 7, 17),
score distributions (Fig. 16) and verification variance (Fig. 11). The scaling plots live
in gvgap.analysis.scaling."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd

from gvgap.analysis.plots import _plt
from gvgap.analysis.plots import save as save_fig
from gvgap.analysis.tables import labels


def plot_grid(grid: pd.DataFrame, title: str, path) -> Path:
    plt = _plt()
    m = grid.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.1 * m.shape[1] + 2.5, 0.8 * m.shape[0] + 1.8))
    lim = np.nanmax(np.abs(m)) if np.isfinite(m).any() else 1.0
    im = ax.imshow(m, cmap="RdBu", vmin=-lim or -1, vmax=lim or 1)
    ax.set_xticks(range(m.shape[1]), grid.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(m.shape[0]), grid.index, fontsize=8)
    for i, j in itertools.product(range(m.shape[0]), range(m.shape[1])):
        ax.text(j, i, "" if not np.isfinite(m[i, j]) else f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xlabel("verifier")
    ax.set_ylabel("generator")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="gap (%)")
    return save_fig(fig, path)


def plot_rounds(df: pd.DataFrame, path_curves, path_passk) -> list[Path]:
    multi = df.groupby("run")["round"].transform("max") > 0
    d = df[multi].sort_values(["run", "round"])
    d = d.assign(label=labels(d))
    plt = _plt()
    metrics = [("accuracy", "accuracy J(f_t)"), ("gap", "gap")]
    metrics += [(c, c.replace("_", " ")) for c in ("accuracy_strict", "accuracy_flexible")
                if c in d and d[c].notna().any()]  # GSM8K: the format effect of round 1
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, (col, title) in zip(axes[0], metrics):
        for lab, g in d.groupby("label", sort=False):
            ax.plot(g["round"], g[col], marker="o", label=lab)
        if col == "gap":
            ax.axhline(0.005, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("round t")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    paths = [save_fig(fig, path_curves)]
    ks = sorted((c for c in d.columns if c.startswith("pass@")), key=lambda c: int(c[5:]))
    runs = list(dict.fromkeys(d["label"]))[:12]
    if ks and runs:
        cols = min(3, len(runs))
        rows = math.ceil(len(runs) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
        for ax, lab in zip(axes.flat, runs):
            for _, r in d[d["label"] == lab].iterrows():
                ax.plot([int(k[5:]) for k in ks], [r[k] for k in ks], marker="o", label=f"round {r['round']}")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("k")
            ax.set_ylabel("pass@k")
            ax.set_title(lab, fontsize=8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(runs):]:
            ax.axis("off")
        paths.append(save_fig(fig, path_passk))
    return paths


def plot_thresholds(th: pd.DataFrame, path, path_tournament) -> list[Path]:
    plt = _plt()
    panels = list(dict.fromkeys(zip(th["verifier"], th["axis"])))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (kind, axis) in zip(axes[0], panels):
        g = th[(th["verifier"] == kind) & (th["axis"] == axis)]
        for (_, model), gg in g.groupby(["log10_flops", "model"], dropna=False, sort=True):
            ax.plot(gg["x"], gg["gap"] * 100, marker="o", label=model)
        ax.axhline(0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(axis)
        ax.set_ylabel("gap (%)")
        ax.set_title(kind)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    paths = [save_fig(fig, path)]
    t = th[th["verifier"] == "tournament"].sort_values("x")
    if len(t):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for (_, model), g in t.groupby(["log10_flops", "model"], dropna=False, sort=True):
            acc = g["weighted_accuracy"].to_numpy()
            axes[0].plot(g["x"], acc * 100, marker="o", label=model)
            axes[1].plot(g["x"].to_numpy()[1:], np.diff(acc) * 100, marker="o", label=model)
        axes[0].set_title("accuracy of the survivors")
        axes[1].set_title("gap w.r.t. the previous round")
        for ax in axes:
            ax.set_xlabel("tournament round")
            ax.set_ylabel("%")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        paths.append(save_fig(fig, path_tournament))
    return paths


def _grid(plt, n: int, cols: int, w: float, h: float):
    """A figure of n panels in rows of `cols`; the unused axes are switched off."""
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def plot_gap_distribution(per_model: dict, path) -> Path:
    """Histograms of per-prompt gaps, bins of width 0.005, a panel per model in the given
    order, every model (Fig. 7 left, Fig. 17: all 21 models)."""
    plt = _plt()
    models = list(per_model)
    kinds = sorted({k for m in models for k in per_model[m]})
    fig, axes = _grid(plt, len(models), 3, 5.0, 2.8)
    for ax, model in zip(axes, models):
        for kind in kinds:
            g = per_model[model].get(kind)
            if g is None:
                continue
            lo, hi = min(g.min(), 0.0), max(g.max(), 0.0)
            bins = np.arange(np.floor(lo / 0.005) * 0.005, hi + 0.01, 0.005)
            ax.hist(g, bins=bins, alpha=0.5, label=f"{kind} (mu={g.mean():.3f}, sd={g.std():.3f})")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("per-prompt gap")
        ax.legend(fontsize=6)
    return save_fig(fig, path)


def plot_score_distributions(dist: pd.DataFrame, path) -> Path:
    """Share of each score per model, a panel per (model, verifier) ordered by FLOPs, the
    mode marked (Fig. 16: CoT-Score's mode is 10 for every model in the paper)."""
    plt = _plt()
    panels = list(dict.fromkeys(zip(dist.sort_values(["verifier", "log10_flops", "model"])["run"],
                                    dist.sort_values(["verifier", "log10_flops", "model"])["verifier"])))
    fig, axes = _grid(plt, len(panels), 4, 3.4, 2.6)
    for ax, (run, kind) in zip(axes, panels):
        g = dist[(dist["run"] == run) & (dist["verifier"] == kind)].sort_values("score")
        mode = g.loc[g["count"] == g["count"].max(), "score"].max()
        ax.bar(g["score"], g["share"], color=["tab:red" if v == mode else "tab:blue" for v in g["score"]])
        ax.set_title(f"{g['model'].iloc[0]} ({kind}): mode {mode:g}", fontsize=8)
        ax.set_xlabel("score")
        ax.set_ylabel("share")
    return save_fig(fig, path)


def plot_variance(var: pd.DataFrame, path) -> Path:
    plt = _plt()
    models = list(dict.fromkeys(var.sort_values("log10_flops")["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 2.8), squeeze=False, sharey=True)
    for ax, m in zip(axes[0], models):
        ax.hist(var.loc[var["model"] == m, "variance"].dropna(), bins=np.linspace(0, 0.25, 11))
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("p(1-p)")
    axes[0][0].set_ylabel("samples")
    return save_fig(fig, path)
