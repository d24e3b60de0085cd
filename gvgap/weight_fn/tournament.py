"""Survivors of tournament round k (Section 3): w = 1[rounds survived >= k].

k = 0 keeps every entrant; k = r keeps the champion. Scores come from
verifier=tournament; samples that did not enter (score -1) are never kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gvgap.schema import need, store
from gvgap.weight_fn.base import WeightFn, WeightSchema


@store("weight_fn", "tournament_schema")
@dataclass
class TournamentWeightConfig(WeightSchema):
    _target_: str = "gvgap.weight_fn.tournament.Tournament"
    round: int = 1  # noqa: A003 (the config key)

    def check(self):
        need(self.round >= 0, f"weight_fn.round must be >= 0 (got {self.round})")


class Tournament(WeightFn):
    schema = TournamentWeightConfig

    def __init__(self, **options):
        super().__init__(**options)
        self.round = int(self.cfg.round)

    def weigh(self, s):
        with np.errstate(invalid="ignore"):
            return (s >= self.round).astype(np.float64)
