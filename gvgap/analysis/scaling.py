"""Scaling of the gap with pre-training compute (Fig. 1, 8, 9, 12; Tables 3-4).

Pre-training FLOPs ~ 6 * params * train_tokens (the usual dense-transformer estimate), both
read from each run's model config (conf/model/*.yaml; see gvgap.analysis.runs.model_info).
For every (task, verifier, temperature, family) the relative gap is fitted by least squares
as a line in log10 FLOPs, the paper's conjecture.

`python -m gvgap.analysis.scaling <sweep dir> [--out DIR]` writes scaling.{csv,md},
scaling_fit.{csv,md}, scaling_gap_rel.png and scaling_gap.png.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

GROUP_KEYS = ["task", "verifier", "temperature", "family"]
COLUMNS = ["family", "model", "params", "train_tokens", "flops", "log10_flops", "task", "verifier",
           "temperature", "weight_fn", "paper_setting", "accuracy", "gap", "gap_rel", "paper_gap", "paper_gap_rel",
           "n_prompts", "run"]


def fit_line(x, y) -> dict:
    """Least-squares line y = slope * x + intercept over the finite pairs (np.polyfit), with
    R^2. Needs two distinct x values; otherwise slope, intercept and R^2 are NaN."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < 2 or np.ptp(x) == 0:
        return {"slope": math.nan, "intercept": math.nan, "r2": math.nan, "n": n}
    slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
    ss_res = float(((y - (slope * x + intercept)) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {"slope": slope, "intercept": intercept, "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan, "n": n}


def scaling_table(df: pd.DataFrame) -> pd.DataFrame:
    """Round-0 runs with known FLOPs, self-verified (or by the oracle), sorted by FLOPs."""
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    own = df["verifier_model"].isin(["self", "gold"])  # the model verifies itself (or the oracle does)
    d = df[(df["round"] == 0) & own & np.isfinite(df["log10_flops"].astype(float))]
    cols = [c for c in COLUMNS if c in d.columns]
    return d[cols].sort_values(["task", "verifier", "family", "log10_flops"]).reset_index(drop=True)


def fits(table: pd.DataFrame, y: str = "paper_gap_rel") -> pd.DataFrame:
    """One least-squares line of `y` against log10 FLOPs per (task, verifier, temperature, family)."""
    rows = []
    for key, g in table.groupby(GROUP_KEYS, sort=True, dropna=False):
        f = fit_line(g["log10_flops"], g[y])
        rows.append({**dict(zip(GROUP_KEYS, key)), "y": y, **f,
                     "models": ",".join(g.sort_values("log10_flops")["model"].astype(str))})
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame, fit: pd.DataFrame, y: str, path, ylabel: str) -> Path:
    """A panel per (task, verifier, temperature); a colour per family; points and its line."""
    from gvgap.analysis.plots import _plt
    from gvgap.analysis.plots import save as save_fig

    plt = _plt()
    panels = list(table.groupby(GROUP_KEYS[:3], sort=True, dropna=False).groups)
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.5 * rows), squeeze=False)
    families = sorted(table["family"].astype(str).unique())
    colours = {f: plt.cm.tab10(i % 10) for i, f in enumerate(families)}
    for ax, key in zip(axes.flat, panels):
        g = table[(table[GROUP_KEYS[:3]].astype(str) == pd.Series(key, index=GROUP_KEYS[:3]).astype(str)).all(axis=1)]
        for fam, gf in g.groupby("family"):
            line = fit[(fit[GROUP_KEYS[:3]].astype(str) == pd.Series(key, index=GROUP_KEYS[:3]).astype(str)).all(axis=1)
                       & (fit["family"] == fam)]
            s, b = (line["slope"].iloc[0], line["intercept"].iloc[0]) if len(line) else (math.nan, math.nan)
            label = f"{fam} (slope {100 * s:+.2f}/decade)" if np.isfinite(s) else str(fam)
            ax.scatter(gf["log10_flops"], gf[y] * 100, color=colours[str(fam)], label=label, zorder=3)
            if np.isfinite(s):
                xs = np.linspace(gf["log10_flops"].min(), gf["log10_flops"].max(), 20)
                ax.plot(xs, (s * xs + b) * 100, color=colours[str(fam)], lw=1)
        ax.axhline(0, color="grey", lw=0.8, ls="--")
        task, kind, temp = key
        ax.set_title(f"{task}: {kind}" + (f" (t={temp:g})" if table["temperature"].nunique() > 1 else ""), fontsize=9)
        ax.set_xlabel("log10 pre-training FLOPs")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    return save_fig(fig, path)


def write(table: pd.DataFrame, out_dir) -> list[Path]:
    from gvgap.analysis.tables import write_table

    out_dir = Path(out_dir)
    paths = write_table(table, out_dir, "scaling")
    rel, gap = fits(table, "paper_gap_rel"), fits(table, "paper_gap")
    paths += write_table(pd.concat([rel, gap], ignore_index=True), out_dir, "scaling_fit")
    paths.append(plot(table, rel, "paper_gap_rel", out_dir / "scaling_gap_rel.png", "relative gap (%)"))
    paths.append(plot(table, gap, "paper_gap", out_dir / "scaling_gap.png", "gap (%)"))
    return paths


def main(argv=None) -> None:
    from gvgap.analysis.tables import collect

    ap = argparse.ArgumentParser(prog="python -m gvgap.analysis.scaling", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir")
    ap.add_argument("--out", default=None, help="output folder (default: <sweep_dir>/analysis)")
    args = ap.parse_args(argv)
    table = scaling_table(collect(args.sweep_dir))
    if table.empty:
        raise SystemExit(f"no round-0 self-verification runs with params/train_tokens below {args.sweep_dir}")
    for p in write(table, Path(args.out or Path(args.sweep_dir) / "analysis")):
        print(f"[gvgap.analysis.scaling] {p}")


if __name__ == "__main__":
    main()
