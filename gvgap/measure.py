"""Turn one round's artifacts into its metrics: the single place both the pipeline and
re-analysis (gvgap.analyze) compute metrics, so they agree exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gvgap import metrics as M
from gvgap.verifiers.base import score_matrix


def matrix(gens: pd.DataFrame, column: str, prompt_ids: list[str], n_samples: int) -> np.ndarray:
    """A per-sample column of generations.parquet as an array [P, N]."""
    out = np.full((len(prompt_ids), n_samples), np.nan)
    pos = {p: i for i, p in enumerate(prompt_ids)}
    rows = gens["prompt_id"].map(pos).to_numpy()
    out[rows, gens["sample_id"].to_numpy()] = gens[column].to_numpy(dtype=np.float64)
    return out


def prompt_order(gens: pd.DataFrame) -> list[str]:
    """Prompt ids in the order they first appear (the order they were generated in)."""
    return list(dict.fromkeys(gens["prompt_id"].tolist()))


def measure(gens: pd.DataFrame, verifications: pd.DataFrame, weight_fn, pass_at_k=None,
            u_max: float = 1.0) -> tuple[dict, np.ndarray]:
    """Metrics of one round, and the weight of every sample ([P, N], prompt order of gens)."""
    ids = prompt_order(gens)
    n = int(gens["sample_id"].max()) + 1
    utilities = matrix(gens, "utility", ids, n)
    scores = score_matrix(verifications, ids, n)
    weights = weight_fn(scores)
    out = M.gap_metrics(utilities, weights, u_max=u_max)
    ks = list(pass_at_k) if pass_at_k else M.default_ks(n)
    out["pass_at_k"] = M.pass_at_k_curve(utilities, ks, u_max=u_max)
    out["n_unparseable"] = int(verifications["score"].isna().sum())
    out["n_verifications"] = int(len(verifications))
    out["n_no_answer"] = int(gens["answer"].isna().sum())
    for col in gens.columns:  # secondary gradings, e.g. GSM8K strict / flexible
        if col.startswith("utility_"):
            out["accuracy_" + col[len("utility_"):]] = float(matrix(gens, col, ids, n).mean(axis=1).mean())
    return out, weights
