"""The two sanity checks of Section 6.1, over every run of a sweep:

- self-bias: the distribution of CoT-Score scores per model (Fig. 16; the paper finds the
  mode at 10 for every model);
- recency bias: the tournament judge's first-position win rate per tournament round and
  model, and its mean and standard deviation across models (paper: 0.56 +- 0.12 "across
  all models and all rounds").

Both read round 0 of each run: the per-round rates from metrics.json
(`first_position_by_round`), or, for runs written before that key, from the match records
in verifications.parquet; the scores from verifications.parquet.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from gvgap.analysis.runs import read_rounds
from gvgap.analysis.tables import _arrays

ID = ["run", "model", "family", "log10_flops", "task", "temperature"]


def _by_round(root, run: str) -> dict:
    """{"k": {first_position_win_rate, judged_matches, coin_flip_matches}} of round 0."""
    for m in read_rounds(Path(root) / run if run != "." else Path(root)):
        if int(m.get("round", 0)) == 0 and m.get("first_position_by_round"):
            return m["first_position_by_round"]
    arrays = _arrays(root, run)
    if arrays is None or "raw" not in arrays.top.columns:
        return {}
    from gvgap.verifiers.tournament import first_position_by_round

    return first_position_by_round(arrays.top)


def first_position(root, df: pd.DataFrame) -> pd.DataFrame:
    """One row per (tournament run, tournament round k): the share of judged matches won by
    the solution shown first, the matches judged and those a coin settled."""
    rows = []
    for _, r in df[(df["round"] == 0) & (df["verifier"] == "tournament")].iterrows():
        for k, s in sorted(_by_round(root, r["run"]).items(), key=lambda kv: int(kv[0])):
            rate = s.get("first_position_win_rate")
            rows.append({**{c: r.get(c) for c in ID}, "tournament_round": int(k),
                         "first_position_win_rate": math.nan if rate is None else float(rate),
                         "judged_matches": int(s.get("judged_matches", 0)),
                         "coin_flip_matches": int(s.get("coin_flip_matches", 0))})
    return pd.DataFrame(rows)


def _stats(scope: str, values) -> dict:
    v = pd.Series(values, dtype=float).dropna()
    return {"scope": scope, "mean": float(v.mean()) if len(v) else math.nan,
            "std": float(v.std(ddof=1)) if len(v) > 1 else math.nan, "n": int(len(v))}


def first_position_summary(fp: pd.DataFrame) -> pd.DataFrame:
    """Per (task, temperature): mean and sample standard deviation (ddof 1) across models of
    the first-position win rate, for each tournament round; over every (model, round) cell
    (the paper's "across all models and all rounds"); and over each model's rate pooled
    over its rounds (judged matches weighted)."""
    rows = []
    for (task, temp), g in fp.groupby(["task", "temperature"], dropna=False, sort=True):
        key = {"task": task, "temperature": temp}
        for k, gk in g.groupby("tournament_round", sort=True):
            rows.append({**key, **_stats(f"round {k}", gk["first_position_win_rate"])})
        rows.append({**key, **_stats("all (model, round) cells", g["first_position_win_rate"])})
        first = (g["first_position_win_rate"].fillna(0) * g["judged_matches"]).groupby(g["run"]).sum()
        judged = g.groupby("run")["judged_matches"].sum()
        pooled = (first / judged.where(judged > 0)).to_numpy()
        rows.append({**key, **_stats("each model pooled over rounds", pooled)})
    return pd.DataFrame(rows)


def score_distribution(root, df: pd.DataFrame, kinds=("cot_score",)) -> pd.DataFrame:
    """One row per (run, score value): how many verifications gave it and their share of
    the readable ones; unreadable verdicts are counted in `n_unparseable`."""
    rows = []
    for _, r in df[(df["round"] == 0) & df["verifier"].isin(kinds)].iterrows():
        arrays = _arrays(root, r["run"])
        if arrays is None:
            continue
        s = arrays.score_tensor.ravel()
        finite = s[np.isfinite(s)]
        values, counts = np.unique(finite, return_counts=True)
        for v, c in zip(values, counts):
            rows.append({**{c_: r.get(c_) for c_ in ID}, "verifier": r["verifier"], "score": float(v),
                         "count": int(c), "share": c / finite.size, "n_unparseable": int(np.isnan(s).sum())})
    return pd.DataFrame(rows)


def score_modes(dist: pd.DataFrame) -> pd.DataFrame:
    """Per run: the most frequent score (the largest on ties), its share, the mean score."""
    rows = []
    for (run, kind), g in dist.groupby(["run", "verifier"], sort=False):
        top = g[g["count"] == g["count"].max()]["score"].max()
        rows.append({**{c: g[c].iloc[0] for c in ID}, "verifier": kind, "mode": float(top),
                     "share_of_mode": float(g.loc[g["score"] == top, "share"].iloc[0]),
                     "mean_score": float((g["score"] * g["count"]).sum() / g["count"].sum()),
                     "n_scored": int(g["count"].sum()), "n_unparseable": int(g["n_unparseable"].iloc[0])})
    return pd.DataFrame(rows).sort_values(["verifier", "log10_flops", "model"]).reset_index(drop=True)
