"""Config schemas of verifiers other than mc/oracle, and of the tournament and calibrated
weight functions (registered into gvgap.config.SCHEMAS by their _target_).
Kept torch-free: validation must run before any model loads."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, List, Optional

from omegaconf import OmegaConf

from gvgap.config import SCHEMAS, WeightSchema, _check, _need, register_schema

_STOP = ["\n\n\n", "\nProblem:", "\nQuestion:", "\nPuzzle:"]


@dataclass
class SampledVerifierSchema:
    """Keys shared by verifiers that sample a written judgement (CoT, tournament)."""

    num_verifications: int = 1
    model: Any = None
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 128
    template: Optional[str] = None
    stop: List[str] = field(default_factory=lambda: list(_STOP))
    placeholders = ("{problem}", "{solution}")

    def __post_init__(self):
        _need(self.num_verifications >= 1, f"verifier.num_verifications must be >= 1 (got {self.num_verifications})")
        _need(self.temperature >= 0, f"verifier.temperature must be >= 0 (got {self.temperature})")
        _need(0 < self.top_p <= 1, f"verifier.top_p must be in (0, 1] (got {self.top_p})")
        _need(self.max_new_tokens >= 1, f"verifier.max_new_tokens must be >= 1 (got {self.max_new_tokens})")
        _need(self.template is None or all(k in self.template for k in self.placeholders),
              f"verifier.template must contain {' and '.join(self.placeholders)}")
        self.check()

    def check(self) -> None:
        pass


@register_schema
@dataclass
class CoTBinaryVerifierConfig(SampledVerifierSchema):
    _target_: str = "gvgap.verifiers.cot.CoTBinaryVerifier"


@register_schema
@dataclass
class CoTScoreVerifierConfig(SampledVerifierSchema):
    _target_: str = "gvgap.verifiers.cot.CoTScoreVerifier"


@register_schema
@dataclass
class TournamentVerifierConfig(SampledVerifierSchema):
    _target_: str = "gvgap.verifiers.tournament.TournamentVerifier"
    rounds: int = 2
    placeholders = ("{problem}", "{solution_a}", "{solution_b}")

    def check(self):
        _need(1 <= self.rounds <= 16, f"verifier.rounds must be between 1 and 16 (got {self.rounds})")


def _check_part(node, where: str) -> None:
    """Check a nested part (an ensemble member, a calibrated base); errors say where it is."""
    from gvgap.config import ConfigError

    _need(isinstance(node, dict) and "_target_" in node, f"{where}._target_ is missing")
    if node["_target_"] in SCHEMAS:
        try:
            _check(SCHEMAS[node["_target_"]], OmegaConf.create(node), where)
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None


@register_schema
@dataclass
class EnsembleVerifierConfig:
    _target_: str = "gvgap.verifiers.ensemble.EnsembleVerifier"
    num_verifications: int = 1
    model: Any = None
    members: List[Any] = field(default_factory=list)

    def __post_init__(self):
        _need(self.num_verifications == 1,
              "verifier.num_verifications must be 1 for an ensemble (set it per member)")
        _need(len(self.members) >= 1, "verifier.members must list at least one member")
        for i, m in enumerate(self.members):
            where = f"verifier.members[{i}]"
            _need(isinstance(m, dict) and "verifier" in m and "weight_fn" in m,
                  f"{where} needs both `verifier` and `weight_fn`")
            _check_part(m["verifier"], f"{where}.verifier")
            _need(m["verifier"].get("model") is None,
                  f"{where}.verifier.model: members share verifier.model; set the model on the ensemble")
            _check_part(m["weight_fn"], f"{where}.weight_fn")


@register_schema
@dataclass
class TournamentWeightConfig(WeightSchema):
    _target_: str = "gvgap.weighting.Tournament"
    round: int = 1

    def check(self):
        _need(self.round >= 0, f"weight_fn.round must be >= 0 (got {self.round})")


@register_schema
@dataclass
class CalibratedWeightConfig(WeightSchema):
    _target_: str = "gvgap.weighting.Calibrated"
    base: Any = None
    holdout: float = 0.2
    seed: int = 0
    alphas: Optional[List[float]] = None

    def check(self):
        _need(0 < self.holdout < 1, f"weight_fn.holdout must be in (0, 1) (got {self.holdout})")
        _need(self.alphas is None or (len(self.alphas) >= 1 and all(math.isfinite(a) for a in self.alphas)),
              "weight_fn.alphas must be null or a non-empty list of finite numbers")
        if self.base is not None:
            _check_part(self.base, "weight_fn.base")


TOURNAMENT_VERIFIER = TournamentVerifierConfig._target_


def check_combination(cfg) -> None:
    """Checks that need more than one group (call from gvgap.config.validate):
    a tournament needs 2^rounds <= generation.n_samples, and a tournament weight's
    round cannot exceed the tournament's rounds."""
    v, w, n = cfg.verifier, cfg.weight_fn, cfg.generation.n_samples
    if v.get("_target_") == TOURNAMENT_VERIFIER:
        r = int(v.get("rounds", 2))
        _need(2 ** r <= n, f"verifier.rounds={r} needs generation.n_samples >= {2 ** r} (got {n})")
        if w.get("_target_") == TournamentWeightConfig._target_:
            _need(int(w.get("round", 1)) <= r,
                  f"weight_fn.round={w.get('round')} exceeds verifier.rounds={r}")
