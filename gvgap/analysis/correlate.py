"""Correlation between verifiers (Section 6.2; Fig. 7, 18, 19): Pearson correlation of
their scores over samples, and of their per-prompt gaps (with generation accuracy),
across runs that verified the same generations (e.g. made by `analyze reverify`), and
between an ensemble's members inside one run.

A verifier's per-prompt gaps come from its headline filter of the paper (MC top 0.8,
CoT-Binary "correct", CoT-Score tau 8, tournament round 5; gvgap.analysis.tables), as in
the ensemble analysis, not from the weights the run stored: a sweep over verifiers runs
them all with one weight_fn (quantile 0.8), which for CoT-Binary keeps every sample of a
prompt where fewer than ~20% are judged correct. A verifier without a paper setting keeps
its stored weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gvgap import artifacts as A
from gvgap import metrics as M
from gvgap.analysis import plots
from gvgap.analysis.runs import load_round, read_config
from gvgap.analysis.tables import headline_weights
from gvgap.arrays import RoundArrays


def _label(run_dir, r, used) -> str:
    """The run's top-level verifier name (the run directory's name when two runs share it)."""
    base = r.verifier_name or Path(run_dir).name
    name = base if base not in used else f"{base}@{Path(run_dir).name}"
    used.add(name)
    return name


def _sample_key(gens: pd.DataFrame) -> pd.DataFrame:
    return gens.sort_values(["prompt_id", "sample_id"])[["prompt_id", "sample_id", "completion"]].reset_index(drop=True)


def collect(run_dirs, t: int = 0) -> tuple[dict, dict]:
    """Score matrices [P, N] and per-prompt gaps [P] of every verifier in the runs
    (top level and ensemble members), aligned on the first run's prompts and samples."""
    scores, gaps, used = {}, {}, set()
    ids = key = None
    for run in run_dirs:
        r = load_round(run, t)
        if ids is None:
            ids, key = r.prompt_ids, _sample_key(r.gens)
            gaps["accuracy"] = r.utilities.mean(axis=1)
        elif not _sample_key(r.gens).equals(key):
            raise ValueError(f"{run} verified other generations than {run_dirs[0]}: correlations need the same samples "
                             "(make the runs with `python -m gvgap.analyze reverify`)")
        r = RoundArrays(r.gens, r.ver, order=ids)
        name = _label(run, r, used)
        scores[name] = r.scores
        gaps[name] = M.prompt_gaps(r.utilities, _weights(run, r))
        for member in r.members:
            label = f"{name}/{member.split('/', 1)[1]}"
            scores[label] = r.member_scores(member)
            kept = r.member_kept(member)
            if kept is not None:
                gaps[label] = M.prompt_gaps(r.utilities, kept)
    return scores, gaps


def _weights(run, r: RoundArrays) -> np.ndarray:
    """The headline filter of the run's verifier on its scores, else its stored weights."""
    v = read_config(run).get("verifier") or {}
    rounds = int(v.get("rounds") or 5) if isinstance(v, dict) else 5
    head = headline_weights(r.scores, r.verifier_name or "", rounds)
    return head[1] if head is not None else np.nan_to_num(r.weights, nan=0.0)


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
        A.write_csv(df, csv, index=True)
        paths[f"{kind}_csv"] = csv
        paths[f"{kind}_png"] = plots.heatmap(names, mat, title, out_dir / f"correlation_{kind}.png")
    return paths
