"""The verifier interface and the record every verifier returns.

A verifier returns one row per verification: (prompt_id, sample_id, verifier,
verification_id, score, raw). score is NaN when the verifier's output could not be
parsed; the weight function decides what a NaN weighs (see gvgap.weight_fn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gvgap.tasks.base import Problem, Task
from gvgap.verifiers.schema import VerifierSchema

COLUMNS = ["prompt_id", "sample_id", "verifier", "verification_id", "score", "raw"]


@dataclass
class VerifyInput:
    """What a verifier sees: the task (for prompts and grading), its problems, and the
    N completions of each problem."""

    task: Task
    problems: list[Problem]
    completions: list[list[str]]
    seed: int = 0


class Verifier:
    """Keyword options are the fields of `schema` (the verifier's dataclass, registered in
    Hydra's ConfigStore), which holds their defaults and ranges; `self.cfg` is the checked
    instance (a bad value raises gvgap.schema.ConfigError, a ValueError)."""

    name = "verifier"
    needs_model = True  # False for the oracle: no model is loaded for it
    schema = VerifierSchema

    def __init__(self, **options):
        self.cfg = self.schema(**options)
        self.num_verifications = int(self.cfg.num_verifications)
        self.model = self.cfg.model

    def verify(self, engine, data: VerifyInput) -> pd.DataFrame:
        raise NotImplementedError


def pointwise_prompts(template: str, data: VerifyInput) -> tuple[list[str], list[tuple[str, int]]]:
    """One verification prompt per (problem, sample), and its (prompt_id, sample_id) key."""
    texts, keys = [], []
    for problem, samples in zip(data.problems, data.completions):
        desc = data.task.describe(problem)
        for sid, completion in enumerate(samples):
            texts.append(template.format(problem=desc, solution=completion.strip()))
            keys.append((problem.id, sid))
    return texts, keys


def frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.astype({"prompt_id": str, "sample_id": int, "verifier": str,
                      "verification_id": int, "score": float})


def top_level(df: pd.DataFrame, verifier: str | None = None) -> pd.DataFrame:
    """Rows of one verifier: `verifier` by name, or (None) the top-level verifier's rows.

    A composite verifier (ensemble) also stores its members' rows, named
    "<composite>/<member>"; top-level rows are the ones whose name has no "/".
    """
    names = df["verifier"].astype(str)
    unique = names.unique()
    wanted = [verifier] if verifier is not None else [n for n in unique if "/" not in n]
    if len(wanted) == len(unique) and set(wanted) == set(unique):
        return df
    return df[names.isin(wanted).to_numpy()]


def member_names(df: pd.DataFrame) -> list[str]:
    """Names of the member verifiers stored beside the top-level rows, in first-seen order."""
    return [n for n in df["verifier"].astype(str).unique() if "/" in n]


def positions(ids: pd.Series, prompt_ids: list[str]) -> np.ndarray:
    """Row of each id in prompt_ids (fast for millions of rows); unknown ids fail loudly."""
    codes = pd.Index(list(dict.fromkeys(prompt_ids))).get_indexer(ids.astype(str)).astype(np.int64)
    if len(codes) and codes.min() < 0:
        raise ValueError(f"verifications name prompt {ids.iloc[int(np.argmin(codes))]!r} not in generations")
    return codes


def _positions(df: pd.DataFrame, prompt_ids: list[str], n_samples: int) -> np.ndarray:
    rows = positions(df["prompt_id"], prompt_ids)
    sids = df["sample_id"].to_numpy(dtype=np.int64)
    if len(sids) and (sids.min() < 0 or sids.max() >= n_samples):
        raise ValueError(f"verifications have sample_id outside 0..{n_samples - 1}")
    return rows * n_samples + sids


def score_matrix(df: pd.DataFrame, prompt_ids: list[str], n_samples: int, verifier: str | None = None) -> np.ndarray:
    """Mean score over verifications, as an array [P, N] (NaN where all m are NaN).

    Uses the top-level verifier's rows (see `top_level`), or the named verifier's.
    """
    df = top_level(df, verifier)
    flat = _positions(df, prompt_ids, n_samples)
    score = df["score"].to_numpy(dtype=np.float64)
    ok = ~np.isnan(score)
    size = len(prompt_ids) * n_samples
    total = np.bincount(flat[ok], weights=score[ok], minlength=size)
    count = np.bincount(flat[ok], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out.reshape(len(prompt_ids), n_samples)


def score_tensor(df: pd.DataFrame, prompt_ids: list[str], n_samples: int, verifier: str | None = None) -> np.ndarray:
    """Every verification's score, as an array [P, N, m] (NaN where missing)."""
    df = top_level(df, verifier)
    flat = _positions(df, prompt_ids, n_samples)
    vid = df["verification_id"].to_numpy(dtype=np.int64)
    m = int(vid.max()) + 1 if len(vid) else 1
    out = np.full((len(prompt_ids) * n_samples, m), np.nan)
    out[flat, vid] = df["score"].to_numpy(dtype=np.float64)
    return out.reshape(len(prompt_ids), n_samples, m)
