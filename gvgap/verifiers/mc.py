"""Multiple-choice verification (Appendix C): score = P(Correct) / (P(Correct) + P(Incorrect)),
from the probabilities of the two whole continuations. One forward pass, no sampling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from gvgap.schema import store
from gvgap.verifiers import prompts
from gvgap.verifiers.base import Verifier, VerifyInput, frame, pointwise_prompts
from gvgap.verifiers.schema import VerifierSchema


@store("verifier", "mc_schema")
@dataclass
class MCVerifierConfig(VerifierSchema):
    _target_: str = "gvgap.verifiers.mc.MCVerifier"
    positive: str = " Correct"  # the two continuations scored after the template
    negative: str = " Incorrect"
    template: Optional[str] = None  # null: the task family's template in gvgap/verifiers/prompts.py


class MCVerifier(Verifier):
    name = "mc"
    schema = MCVerifierConfig

    def __init__(self, **options):
        super().__init__(**options)
        self.positive, self.negative, self.template = self.cfg.positive, self.cfg.negative, self.cfg.template

    def verify(self, engine, data: VerifyInput):
        texts, keys = pointwise_prompts(self.template or prompts.MC[prompts.family(data.task.name)], data)
        lp = engine.continuation_logprobs(texts, [self.positive, self.negative]) if texts else np.zeros((0, 2))
        # softmax over the two continuations; deterministic, so all m verifications agree
        score = 1.0 / (1.0 + np.exp(lp[:, 1] - lp[:, 0]))
        rows = [
            (pid, sid, self.name, v, float(s), f"{a:.6f} {b:.6f}")
            for (pid, sid), s, (a, b) in zip(keys, score, lp)
            for v in range(self.num_verifications)
        ]
        return frame(rows)
