"""Multiple-choice verification (Appendix C): score = P(Correct) / (P(Correct) + P(Incorrect)),
from the probabilities of the two whole continuations. One forward pass, no sampling.
With num_shots = k the prompt first shows k judged samples, each followed by its one-word
verdict (`Verdict: Correct` / `Verdict: Incorrect`), so the scored word is the one the
exemplars taught."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from gvgap.schema import store
from gvgap.verifiers import prompts
from gvgap.verifiers.base import Verifier, VerifyInput, frame, pointwise_prompts
from gvgap.verifiers.schema import VerifierSchema, check_shots


@store("verifier", "mc_schema")
@dataclass
class MCVerifierConfig(VerifierSchema):
    _target_: str = "gvgap.verifiers.mc.MCVerifier"
    positive: str = " Correct"  # the two continuations scored after the template
    negative: str = " Incorrect"
    num_shots: int = 0  # worked one-word verdicts before the sample (paper: 4); not used with a custom template
    template: Optional[str] = None  # null: the task family's template in gvgap/verifiers/prompts.py

    def check(self):
        check_shots(self.num_shots)


class MCVerifier(Verifier):
    name = "mc"
    schema = MCVerifierConfig

    def __init__(self, **options):
        super().__init__(**options)
        self.positive, self.negative, self.template = self.cfg.positive, self.cfg.negative, self.cfg.template
        self.num_shots = int(self.cfg.num_shots)

    def verify(self, engine, data: VerifyInput):
        template = self.template or (lambda p: prompts.template("mc", data.task, self.num_shots, p.gold))
        texts, keys = pointwise_prompts(template, data)
        lp = engine.continuation_logprobs(texts, [self.positive, self.negative]) if texts else np.zeros((0, 2))
        # softmax over the two continuations; deterministic, so all m verifications agree
        score = 1.0 / (1.0 + np.exp(lp[:, 1] - lp[:, 0]))
        rows = [
            (pid, sid, self.name, v, float(s), f"{a:.6f} {b:.6f}")
            for (pid, sid), s, (a, b) in zip(keys, score, lp)
            for v in range(self.num_verifications)
        ]
        return frame(rows)
