"""Ensemble verification (Section 6.3): the logical AND of several verifiers' filters.

Each member is a verifier with its own weight function; a member keeps a sample when
its weight is > 0. The ensemble's score is 1.0 when every member keeps the sample,
else 0.0 (pair it with weight_fn=threshold weight_fn.tau=1). Members' own rows are
stored too, named "ensemble/<member>", with a `kept` column, so their scores and
per-prompt gaps can be correlated (Fig. 7); metrics use only the top-level rows.
All members run on the ensemble's verifier model (verifier.model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List

import numpy as np
import pandas as pd

from gvgap.schema import check_part, need, store
from gvgap.verifiers.base import Verifier, VerifyInput, frame, score_matrix
from gvgap.verifiers.schema import VerifierSchema


@store("verifier", "ensemble_schema")
@dataclass
class EnsembleVerifierConfig(VerifierSchema):
    _target_: str = "gvgap.verifiers.ensemble.EnsembleVerifier"
    members: List[Any] = field(default_factory=list)  # [{verifier: <config>, weight_fn: <config>}, ...]

    def check(self):
        need(self.num_verifications == 1, "verifier.num_verifications must be 1 for an ensemble (set it per member)")
        need(len(self.members) >= 1, "verifier.members must list at least one member")
        for i, m in enumerate(self.members):
            where = f"verifier.members[{i}]"
            need(hasattr(m, "keys") and "verifier" in m and "weight_fn" in m,
                 f"{where} needs both `verifier` and `weight_fn`")
            check_part("verifier", m["verifier"], f"{where}.verifier")
            model = m["verifier"].get("model") if hasattr(m["verifier"], "keys") else getattr(m["verifier"], "model", None)
            need(model is None, f"{where}.verifier.model: members share verifier.model; set the model on the ensemble")
            check_part("weight_fn", m["weight_fn"], f"{where}.weight_fn")


def _build(node):
    """A member part given as a config (with _target_) or as a ready object."""
    if hasattr(node, "keys"):
        from hydra.utils import instantiate

        return instantiate(node, _convert_="all")
    return node


class EnsembleVerifier(Verifier):
    name = "ensemble"
    schema = EnsembleVerifierConfig

    def __init__(self, **options):
        super().__init__(**options)
        self.members = []
        used: dict[str, int] = {}
        for m in self.cfg.members:
            verifier, weight_fn = _build(m["verifier"]), _build(m["weight_fn"])
            base = verifier.name
            used[base] = used.get(base, 0) + 1
            label = base if used[base] == 1 else f"{base}#{used[base]}"
            self.members.append((label, verifier, weight_fn))
        self.needs_model = any(v.needs_model for _, v, _ in self.members)

    def verify(self, engine, data: VerifyInput):
        ids = [p.id for p in data.problems]
        n = max((len(c) for c in data.completions), default=0)
        keep_all = np.ones((len(ids), n), dtype=bool)
        parts = []
        pos = {p: i for i, p in enumerate(ids)}
        for label, verifier, weight_fn in self.members:
            df = verifier.verify(engine, data)
            kept = weight_fn(score_matrix(df, ids, n)) > 0
            keep_all &= kept
            df = df[~df["verifier"].astype(str).str.contains("/", regex=False)].copy()
            df["verifier"] = f"{self.name}/{label}"
            df["kept"] = kept[df["prompt_id"].map(pos).to_numpy(), df["sample_id"].to_numpy()].astype(float)
            parts.append(df)
        top = frame([(pid, sid, self.name, 0, float(keep_all[i, sid]), None)
                     for i, (pid, samples) in enumerate(zip(ids, data.completions)) for sid in range(len(samples))])
        return pd.concat([top, *parts], ignore_index=True)
