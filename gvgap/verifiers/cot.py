"""Chain-of-thought verification (Section 3, App. C): the verifier writes a short
justification and ends with a verdict that a parser reads.

CoT-Binary: `Correctness: <correct>` / `<incorrect>` -> score 1 / 0; on Sudoku the
            paper's `... the response is: Correct` / `Incorrect` (parse_verdict).
CoT-Score:  `Score: <k>`, k in 1..10 -> score k.
The prompt shows num_shots worked judgements first (gvgap.verifiers.prompts).
Each sample gets m = num_verifications sampled judgements (paper: t=0.7, p=0.9); all m
are stored, the weight function sees their mean. A judgement with no readable verdict
is stored with score NaN and its text, and counted (see gvgap.weight_fn for its weight).
"""

from __future__ import annotations

from dataclasses import dataclass

from gvgap.engines.base import SamplingParams
from gvgap.schema import store
from gvgap.verifiers import prompts
from gvgap.verifiers.base import Verifier, VerifyInput, frame, pointwise_prompts
from gvgap.verifiers.parsing import parse_binary, parse_score, parse_verdict
from gvgap.verifiers.schema import SampledVerifierSchema


@store("verifier", "cot_binary_schema")
@dataclass
class CoTBinaryVerifierConfig(SampledVerifierSchema):
    _target_: str = "gvgap.verifiers.cot.CoTBinaryVerifier"


@store("verifier", "cot_score_schema")
@dataclass
class CoTScoreVerifierConfig(SampledVerifierSchema):
    _target_: str = "gvgap.verifiers.cot.CoTScoreVerifier"


class CoTVerifier(Verifier):
    name = "cot"
    kind = ""  # the template kind in gvgap.verifiers.prompts
    schema = SampledVerifierSchema

    def __init__(self, **options):
        super().__init__(**options)
        c = self.cfg
        self.temperature, self.top_p, self.max_new_tokens = float(c.temperature), float(c.top_p), int(c.max_new_tokens)
        self.template, self.num_shots = c.template, int(c.num_shots)
        self.stop = tuple(c.stop or ())

    def parse(self, text: str, task=None) -> float | None:
        """The score written in `text` (None: no readable verdict); `task` picks the format."""
        raise NotImplementedError

    def prompts(self, data: VerifyInput) -> tuple[list[str], list[tuple[str, int]]]:
        template = self.template or (lambda p: prompts.template(self.kind, data.task, self.num_shots, p.gold))
        return pointwise_prompts(template, data)

    def verify(self, engine, data: VerifyInput):
        texts, keys = self.prompts(data)
        params = SamplingParams(n=self.num_verifications, temperature=self.temperature, top_p=self.top_p,
                                max_new_tokens=self.max_new_tokens, stop=self.stop, seed=data.seed)
        # one seed stream per (prompt, sample): results do not depend on batching
        outs = engine.generate(texts, params, indices=list(range(len(texts)))) if texts else []
        rows = []
        for (pid, sid), judgements in zip(keys, outs):
            for v, text in enumerate(judgements):
                score = self.parse(text, data.task)
                rows.append((pid, sid, self.name, v, float("nan") if score is None else score, text))
        return frame(rows)


class CoTBinaryVerifier(CoTVerifier):
    name = "cot_binary"
    schema = CoTBinaryVerifierConfig
    kind = "cot_binary"

    def parse(self, text, task=None):
        sudoku = task is not None and prompts.family(task.name) == "sudoku"
        return parse_verdict(text) if sudoku else parse_binary(text)


class CoTScoreVerifier(CoTVerifier):
    name = "cot_score"
    schema = CoTScoreVerifierConfig
    kind = "cot_score"

    def parse(self, text, task=None):
        return parse_score(text)
