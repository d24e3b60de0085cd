"""One road from a round's stored frames to the arrays the metrics take.

generations.parquet has one row per (prompt_id, sample_id); verifications.parquet one row
per (prompt_id, sample_id, verifier, verification_id). Every reader of a round (measure,
the sweep tables, correlations, re-measuring) turns them into arrays here:

  utilities [P, N], stored weights [P, N], mean scores [P, N], every score [P, N, m]

with prompts in the order they were generated (P prompts, N samples, m verifications).
A composite verifier (ensemble) stores its members' rows beside its own, named
"<composite>/<member>"; the top-level rows are the ones whose name has no "/".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd


# -- rows of one verifier ----------------------------------------------------------------------
def top_level(df: pd.DataFrame, verifier: str | None = None) -> pd.DataFrame:
    """Rows of one verifier: `verifier` by name, or (None) the top-level verifier's rows."""
    names = df["verifier"].astype(str)
    unique = names.unique()
    wanted = [verifier] if verifier is not None else [n for n in unique if "/" not in n]
    if len(wanted) == len(unique) and set(wanted) == set(unique):
        return df
    return df[names.isin(wanted).to_numpy()]


def member_names(df: pd.DataFrame) -> list[str]:
    """Names of the member verifiers stored beside the top-level rows, in first-seen order."""
    return [n for n in df["verifier"].astype(str).unique() if "/" in n]


def prompt_order(gens: pd.DataFrame) -> list[str]:
    """Prompt ids in the order they first appear (the order they were generated in)."""
    return list(dict.fromkeys(gens["prompt_id"].tolist()))


# -- frame -> array ------------------------------------------------------------------------------
def positions(ids: pd.Series, prompt_ids: list[str]) -> np.ndarray:
    """Row of each id in prompt_ids (fast for millions of rows); unknown ids fail loudly."""
    codes = pd.Index(list(dict.fromkeys(prompt_ids))).get_indexer(ids.astype(str)).astype(np.int64)
    if len(codes) and codes.min() < 0:
        raise ValueError(f"verifications name prompt {ids.iloc[int(np.argmin(codes))]!r} not in generations")
    return codes


def _flat(df: pd.DataFrame, prompt_ids: list[str], n_samples: int) -> np.ndarray:
    """Index of each row in the flattened [P * N] grid; sample ids outside 0..N-1 fail."""
    rows = positions(df["prompt_id"], prompt_ids)
    sids = df["sample_id"].to_numpy(dtype=np.int64)
    if len(sids) and (sids.min() < 0 or sids.max() >= n_samples):
        raise ValueError(f"verifications have sample_id outside 0..{n_samples - 1}")
    return rows * n_samples + sids


def matrix(df: pd.DataFrame, column: str, prompt_ids: list[str], n_samples: int) -> np.ndarray:
    """A per-sample numeric column as an array [P, N] (NaN where a sample has no row)."""
    out = np.full(len(prompt_ids) * n_samples, np.nan)
    out[_flat(df, prompt_ids, n_samples)] = df[column].to_numpy(dtype=np.float64)
    return out.reshape(len(prompt_ids), n_samples)


def object_matrix(df: pd.DataFrame, column: str, prompt_ids: list[str], n_samples: int) -> np.ndarray:
    """Like `matrix` for text columns (answers, completions); missing cells are None."""
    out = np.full(len(prompt_ids) * n_samples, None, dtype=object)
    vals = df[column]
    out[_flat(df, prompt_ids, n_samples)] = np.where(vals.notna(), vals.astype(str), None)
    return out.reshape(len(prompt_ids), n_samples)


def score_matrix(df: pd.DataFrame, prompt_ids: list[str], n_samples: int, verifier: str | None = None) -> np.ndarray:
    """Mean score over a sample's verifications, as [P, N] (NaN where all m are NaN).

    Uses the top-level verifier's rows (see `top_level`), or the named verifier's."""
    df = top_level(df, verifier)
    flat = _flat(df, prompt_ids, n_samples)
    score = df["score"].to_numpy(dtype=np.float64)
    ok = ~np.isnan(score)
    size = len(prompt_ids) * n_samples
    total = np.bincount(flat[ok], weights=score[ok], minlength=size)
    count = np.bincount(flat[ok], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out.reshape(len(prompt_ids), n_samples)


def score_tensor(df: pd.DataFrame, prompt_ids: list[str], n_samples: int, verifier: str | None = None) -> np.ndarray:
    """Every verification's score, as [P, N, m] (NaN where missing)."""
    df = top_level(df, verifier)
    flat = _flat(df, prompt_ids, n_samples)
    vid = df["verification_id"].to_numpy(dtype=np.int64)
    m = int(vid.max()) + 1 if len(vid) else 1
    out = np.full((len(prompt_ids) * n_samples, m), np.nan)
    out[flat, vid] = df["score"].to_numpy(dtype=np.float64)
    return out.reshape(len(prompt_ids), n_samples, m)


def kept_matrix(ver: pd.DataFrame, member: str, prompt_ids: list[str], n_samples: int) -> np.ndarray | None:
    """0/1 filter [P, N] an ensemble member applied (its `kept` column; missing = 0), or
    None when the member's rows carry no such column."""
    rows = ver[ver["verifier"].astype(str) == member]
    if "kept" not in rows.columns:
        return None
    kept = matrix(rows.drop_duplicates(["prompt_id", "sample_id"]), "kept", prompt_ids, n_samples)
    return np.nan_to_num(kept, nan=0.0)


# -- a whole round -------------------------------------------------------------------------------
@dataclass
class RoundArrays:
    """A round's generations and verifications, with the arrays read from them.

    prompt_ids: the P prompts in generation order (or `order`, to align two runs on the
    same prompts); n_samples: N. The arrays are computed on first use, so a caller pays
    only for what it reads."""

    gens: pd.DataFrame
    ver: pd.DataFrame
    order: list[str] | None = None

    @classmethod
    def load(cls, run_dir, t: int) -> RoundArrays:
        """round_NN/{generations,verifications}.parquet of a run; FileNotFoundError if absent."""
        from gvgap.artifacts import read_parquet, round_dir

        rd = round_dir(run_dir, t)
        for name in ("generations.parquet", "verifications.parquet"):
            if not (rd / name).exists():
                raise FileNotFoundError(f"{rd / name} not found")
        return cls(read_parquet(rd / "generations.parquet"), read_parquet(rd / "verifications.parquet"))

    @staticmethod
    def exists(run_dir, t: int) -> bool:
        rd = Path(run_dir) / f"round_{t:02d}"
        return (rd / "generations.parquet").exists() and (rd / "verifications.parquet").exists()

    @cached_property
    def prompt_ids(self) -> list[str]:
        return list(self.order) if self.order is not None else prompt_order(self.gens)

    @cached_property
    def n_samples(self) -> int:
        return int(self.gens["sample_id"].max()) + 1 if len(self.gens) else 0

    def column(self, name: str) -> np.ndarray:
        """A numeric column of generations.parquet as [P, N] (e.g. utility_strict)."""
        return matrix(self.gens, name, self.prompt_ids, self.n_samples)

    def texts(self, name: str, n_samples: int | None = None) -> np.ndarray:
        """A text column as [P, n] (answers, completions), the first n samples (default N)."""
        n = self.n_samples if n_samples is None else min(self.n_samples, n_samples)
        return object_matrix(self.gens[self.gens["sample_id"] < n], name, self.prompt_ids, n)

    @cached_property
    def utilities(self) -> np.ndarray:
        """u(x, y) of every sample, [P, N]."""
        return self.column("utility")

    @cached_property
    def weights(self) -> np.ndarray:
        """The weights the run stored (generations.parquet `weight`), [P, N]; NaN = none."""
        return self.column("weight")

    @cached_property
    def scores(self) -> np.ndarray:
        """Top-level verifier's mean score over m verifications, [P, N]."""
        return score_matrix(self.ver, self.prompt_ids, self.n_samples)

    @cached_property
    def score_tensor(self) -> np.ndarray:
        """Top-level verifier's every score, [P, N, m]."""
        return score_tensor(self.ver, self.prompt_ids, self.n_samples)

    def member_scores(self, member: str) -> np.ndarray:
        """An ensemble member's mean scores, [P, N]."""
        return score_matrix(self.ver, self.prompt_ids, self.n_samples, verifier=member)

    def member_kept(self, member: str) -> np.ndarray | None:
        """An ensemble member's 0/1 filter, [P, N] (None if it stores none)."""
        return kept_matrix(self.ver, member, self.prompt_ids, self.n_samples)

    @property
    def members(self) -> list[str]:
        return member_names(self.ver)

    @property
    def top(self) -> pd.DataFrame:
        """The top-level verifier's rows."""
        return top_level(self.ver)

    @property
    def verifier_name(self) -> str | None:
        """Name the top-level verifier gave its rows (e.g. "cot_binary"), None if no rows."""
        top = self.top
        return str(top["verifier"].iloc[0]) if len(top) else None
