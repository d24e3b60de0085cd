"""Correlation between verifiers (Section 6.2; Fig. 7, 18, 19): Pearson correlation of
their scores over samples, and of their per-prompt gaps (with generation accuracy),
across runs that verified the same generations (e.g. made by `analyze reverify`), and
between an ensemble's members inside one run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gvgap import artifacts as A
from gvgap import metrics as M
from gvgap.analysis import plots
from gvgap.analysis.runs import load_round
from gvgap.measure import matrix, prompt_order
from gvgap.verifiers.base import member_names, score_matrix, top_level


def _label(run_dir, ver, used) -> str:
    """The run's top-level verifier name (the run directory's name when two runs share it)."""
    top = top_level(ver)
    base = str(top["verifier"].iloc[0]) if len(top) else Path(run_dir).name
    name = base if base not in used else f"{base}@{Path(run_dir).name}"
    used.add(name)
    return name


def collect(run_dirs, t: int = 0) -> tuple[dict, dict]:
    """Score matrices [P, N] and per-prompt gaps [P] of every verifier in the runs
    (top level and ensemble members), aligned on the first run's prompts and samples."""
    scores, gaps, used = {}, {}, set()
    ref = None
    for run in run_dirs:
        gens, ver = load_round(run, t)
        key = gens.sort_values(["prompt_id", "sample_id"])[["prompt_id", "sample_id", "completion"]]
        if ref is None:
            ref, ids, n = key, prompt_order(gens), int(gens["sample_id"].max()) + 1
            u = matrix(gens, "utility", ids, n)
            gaps["accuracy"] = u.mean(axis=1)
        elif not key.reset_index(drop=True).equals(ref.reset_index(drop=True)):
            raise ValueError(f"{run} verified other generations than {run_dirs[0]}: correlations need the same samples "
                             "(make the runs with `python -m gvgap.analyze reverify`)")
        name = _label(run, ver, used)
        scores[name] = score_matrix(ver, ids, n)
        gaps[name] = M.prompt_gaps(u, np.nan_to_num(matrix(gens, "weight", ids, n), nan=0.0))
        for member in member_names(ver):
            label = f"{name}/{member.split('/', 1)[1]}"
            scores[label] = score_matrix(ver, ids, n, verifier=member)
            rows = ver[ver["verifier"] == member]
            if "kept" in rows.columns:
                kept = matrix(rows.drop_duplicates(["prompt_id", "sample_id"]), "kept", ids, n)
                gaps[label] = M.prompt_gaps(u, np.nan_to_num(kept, nan=0.0))
    return scores, gaps


def _square(corr: dict) -> tuple[list[str], np.ndarray]:
    names = list(corr)
    return names, np.array([[1.0 if a == b else corr[a][b] for b in names] for a in names])


def write(run_dirs, out_dir, t: int = 0) -> dict:
    """correlation_scores.{csv,png} and correlation_gaps.{csv,png} in out_dir."""
    scores, gaps = collect(run_dirs, t)
    out_dir = Path(out_dir)
    paths = {}
    for kind, series, title in (("scores", scores, "Pearson r of verifier scores"),
                                ("gaps", gaps, "Pearson r of per-prompt gaps (and accuracy)")):
        names, mat = _square(M.correlation_matrix(series))
        df = pd.DataFrame(mat, index=names, columns=names)
        csv = out_dir / f"correlation_{kind}.csv"
        A._atomic(csv, lambda tmp, df=df: df.to_csv(tmp))
        paths[f"{kind}_csv"] = csv
        paths[f"{kind}_png"] = plots.heatmap(names, mat, title, out_dir / f"correlation_{kind}.png")
    return paths
