"""Keys every verifier shares, and those of verifiers that sample a written judgement.
Each verifier's own schema subclasses one of these in its class file (mc.py, cot.py, ...).
Torch-free: validation imports it before any model loads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from gvgap.schema import need
from gvgap.verifiers.exemplars import MAX_SHOTS

# A judgement ends where a model would start inventing the next problem.
DEFAULT_STOP = ("\n\n\n", "\nProblem:", "\nQuestion:", "\nPuzzle:")


def check_shots(num_shots, where: str = "verifier.num_shots") -> None:
    need(0 <= num_shots <= MAX_SHOTS,
         f"{where} must be in 0..{MAX_SHOTS} (the worked exemplars written per task family; got {num_shots})")


@dataclass
class VerificationConfig:
    """The top-level `verification` block: settings a recipe gives whichever verifier runs
    (Section 3: 512 new tokens, 4-shot, "for generations and verification"). The verifier
    options read them through `${gvgap.or:${verification.<key>},<own default>}`; null
    leaves each verifier its own default."""

    max_new_tokens: Optional[int] = None  # judgement length of the CoT and tournament verifiers
    num_shots: Optional[int] = None  # worked judgements in every verifier's prompt (MC, CoT, tournament)

    def __post_init__(self):
        need(self.max_new_tokens is None or self.max_new_tokens >= 1,
             f"verification.max_new_tokens must be >= 1 or null (got {self.max_new_tokens})")
        if self.num_shots is not None:
            check_shots(self.num_shots, "verification.num_shots")


@dataclass
class VerifierSchema:
    num_verifications: int = 1  # m judgements per sample; the weight function sees their mean
    model: Any = None  # null: the generator verifies itself; a model config: cross-verification

    def __post_init__(self):
        need(self.num_verifications >= 1, f"verifier.num_verifications must be >= 1 (got {self.num_verifications})")
        self.check()

    def check(self) -> None:
        pass


@dataclass
class SampledVerifierSchema(VerifierSchema):
    """Verifiers that sample a judgement (CoT, tournament): sampling settings and a template."""

    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 128  # paper: 512 (experiment=paper sets verification.max_new_tokens)
    num_shots: int = 2  # worked judgements before the sample (paper: 4); not used with a custom template
    template: Optional[str] = None  # null: the task family's template in gvgap/verifiers/prompts.py
    stop: List[str] = field(default_factory=lambda: list(DEFAULT_STOP))
    placeholders = ("{problem}", "{solution}")  # a class constant, not a config key

    def __post_init__(self):
        need(self.temperature >= 0, f"verifier.temperature must be >= 0 (got {self.temperature})")
        need(0 < self.top_p <= 1, f"verifier.top_p must be in (0, 1] (got {self.top_p})")
        need(self.max_new_tokens >= 1, f"verifier.max_new_tokens must be >= 1 (got {self.max_new_tokens})")
        check_shots(self.num_shots)
        need(self.template is None or all(k in self.template for k in self.placeholders),
             f"verifier.template must contain {' and '.join(self.placeholders)}")
        super().__post_init__()
