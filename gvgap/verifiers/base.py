"""The verifier interface and the record every verifier returns.

A verifier returns one row per verification: (prompt_id, sample_id, verifier,
verification_id, score, raw). score is NaN when the verifier's output could not be
parsed; the weight function decides what a NaN weighs (see gvgap.weight_fn).
The frame -> array readers (score_matrix, top_level, ...) live in gvgap.arrays and are
re-exported here for the verifiers that read their own rows (ensemble).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from gvgap.arrays import member_names, positions, score_matrix, score_tensor, top_level  # noqa: F401
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


def pointwise_prompts(template, data: VerifyInput) -> tuple[list[str], list[tuple[str, int]]]:
    """One verification prompt per (problem, sample), and its (prompt_id, sample_id) key.
    `template` is a str, or a callable problem -> str (a template per problem)."""
    texts, keys = [], []
    for problem, samples in zip(data.problems, data.completions):
        desc = data.task.describe(problem)
        text = template(problem) if callable(template) else template
        for sid, completion in enumerate(samples):
            texts.append(text.format(problem=desc, solution=completion.strip()))
            keys.append((problem.id, sid))
    return texts, keys


def frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.astype({"prompt_id": str, "sample_id": int, "verifier": str,
                      "verification_id": int, "score": float})
