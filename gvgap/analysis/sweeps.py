"""Aggregate a multirun into tables and the paper's figures, from its run directories alone.

`python -m gvgap.analysis.sweeps <sweep dir> [--out DIR]` (also run by the Hydra
callback at the end of every `python -m gvgap -m experiment=...`) finds every run below
the folder (config.yaml + metrics.jsonl or round_NN/metrics.json), writes runs.{csv,md}
with one row per run and round, and then whichever tables and figures the runs allow:

- paper.{csv,md}: each verifier re-measured under the paper's own weight functions
  (Tables 3-4 columns), because a sweep over verifiers runs with one weight_fn;
- scaling (Fig. 1, 8, 9, 12): see gvgap.analysis.scaling;
- cross_<verifier>.{csv,md,png}: generator x verifier-model gap grid (Fig. 3);
- rounds.{csv,png}, passk.png: accuracy, gap and pass@k per round (Fig. 4, 10, 13);
- thresholds.{csv,png}, tournament.png: gap against the threshold (Fig. 5, 6 for Qwen-1.5;
  Fig. 14, 15 are the same files from the sweep of each other family);
- ensembles.{csv,md}, gap_distribution.png, correlation/: runs that verified the same
  generations with different verifiers (Fig. 7, 17-19, Table 7), every model;
- score_distribution.{csv,md}, score_modes.{csv,md}, score_distribution.png: CoT-Score
  scores per model (Fig. 16);
- first_position.{csv,md}, first_position_summary.{csv,md}: the tournament judge's
  first-position win rate per round and model, mean +- std across models (Section 6.1);
- variance.{csv,png}: verification variance p(1-p) when m > 1 (Fig. 11).

Re-measuring reads the stored scores and utilities; no model is loaded.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from gvgap.analysis import figures, sanity, scaling, tables
from gvgap.analysis.tables import collect, write_table


def _correlations(root: Path, group: pd.DataFrame, out: Path) -> None:
    from gvgap.analysis import correlate

    model = group["model"].iloc[0]
    runs = [root / r for r in group.drop_duplicates("verifier")["run"]]
    try:
        correlate.write(runs, out / "correlation" / re.sub(r"[^\w.-]", "_", model))
    except (ValueError, KeyError, FileNotFoundError) as e:  # an extra: the tables stand alone
        print(f"[gvgap.analysis] correlation skipped for {model}: {e}")


def analyse(root, out_dir=None) -> dict[str, list[Path]]:
    """Write every table and figure the runs below root allow; returns {name: paths}."""
    root = Path(root)
    out = Path(out_dir or root / "analysis")
    df = collect(root)
    if df.empty:
        raise SystemExit(f"no gvgap runs (config.yaml + metrics) found below {root}")
    written = {"runs": write_table(df, out, "runs")}
    pt = tables.paper_table(root, df)
    if len(pt):
        written["paper"] = write_table(pt, out, "paper")
    sc = scaling.scaling_table(df)
    if len(sc) and sc.groupby(scaling.GROUP_KEYS)["log10_flops"].nunique().max() >= 2:
        written["scaling"] = scaling.write(sc, out)
    for name, grid in tables.cross_grids(df).items():
        written[f"cross_{name}"] = write_table(grid, out, f"cross_{name}", index=True) + [
            figures.plot_grid(grid, f"gap (%) of generator x verifier: {name}", out / f"cross_{name}.png")]
    iterative = df.groupby("run")["round"].transform("max") > 0
    if iterative.any():
        written["rounds"] = write_table(df[iterative], out, "rounds") + figures.plot_rounds(
            df, out / "rounds.png", out / "passk.png")
    th = tables.thresholds(root, df)
    if len(th):
        written["thresholds"] = write_table(th, out, "thresholds") + figures.plot_thresholds(
            th, out / "thresholds.png", out / "tournament.png")
    groups = tables.shared_generation_groups(root, df)
    if groups:
        ens, dists = [], {}
        for g in sorted(groups, key=lambda g: (float(g["log10_flops"].iloc[0]), str(g["model"].iloc[0]))):
            t, per_prompt = tables.ensembles(root, g)
            ens.append(t)
            name = str(g["model"].iloc[0])
            dists[name if name not in dists else f"{name} ({g['run'].iloc[0]})"] = per_prompt
            _correlations(root, g, out)
        written["ensembles"] = write_table(pd.concat(ens, ignore_index=True), out, "ensembles") + [
            figures.plot_gap_distribution(dists, out / "gap_distribution.png")]
    dist = sanity.score_distribution(root, df)
    if len(dist):
        written["score_distribution"] = (write_table(dist, out, "score_distribution")
                                         + write_table(sanity.score_modes(dist), out, "score_modes")
                                         + [figures.plot_score_distributions(dist, out / "score_distribution.png")])
    fp = sanity.first_position(root, df)
    if len(fp):
        written["first_position"] = (write_table(fp, out, "first_position")
                                     + write_table(sanity.first_position_summary(fp), out, "first_position_summary"))
    var = tables.variance(root, df)
    if len(var):
        written["variance"] = write_table(tables.variance_summary(var), out, "variance") + [
            figures.plot_variance(var, out / "variance.png")]
    return written


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m gvgap.analysis.sweeps", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir", help="a multirun directory (or any folder holding gvgap run directories)")
    ap.add_argument("--out", default=None, help="output folder (default: <sweep_dir>/analysis)")
    args = ap.parse_args(argv)
    for name, paths in analyse(args.sweep_dir, args.out).items():
        print(f"[gvgap.analysis] {name}: " + ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
