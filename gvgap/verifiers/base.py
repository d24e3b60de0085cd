"""The verifier interface and the record every verifier returns.

A verifier returns one row per verification: (prompt_id, sample_id, verifier,
verification_id, score, raw). score is NaN when the verifier's output could not be
parsed; the weight function decides what a NaN weighs (see gvgap.weighting).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gvgap.tasks.base import Problem, Task

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
    name = "verifier"
    needs_model = True  # False for the oracle: no model is loaded for it

    def __init__(self, num_verifications: int = 1, model=None, **options):
        if int(num_verifications) < 1:
            raise ValueError("verifier.num_verifications must be >= 1")
        self.num_verifications = int(num_verifications)
        self.model = model
        self.options = options

    def verify(self, engine, data: VerifyInput) -> pd.DataFrame:
        raise NotImplementedError


def frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.astype({"prompt_id": str, "sample_id": int, "verifier": str,
                      "verification_id": int, "score": float})


def score_matrix(df: pd.DataFrame, prompt_ids: list[str], n_samples: int) -> np.ndarray:
    """Mean score over verifications, as an array [P, N] (NaN where all m are NaN)."""
    mean = df.groupby(["prompt_id", "sample_id"])["score"].mean()
    out = np.full((len(prompt_ids), n_samples), np.nan)
    pos = {p: i for i, p in enumerate(prompt_ids)}
    for (pid, sid), v in mean.items():
        out[pos[pid], sid] = v
    return out
