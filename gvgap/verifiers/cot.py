"""Chain-of-thought verification (Section 3, App. C): the verifier writes a short
justification and ends with a verdict that a parser reads.

CoT-Binary: `Correctness: <correct>` / `<incorrect>` -> score 1 / 0.
CoT-Score:  `Score: <k>`, k in 1..10 -> score k.
Each sample gets m = num_verifications sampled judgements (paper: t=0.7, p=0.9); all m
are stored, the weight function sees their mean. A judgement with no readable verdict
is stored with score NaN and its text, and counted (see gvgap.weighting for its weight).
"""

from __future__ import annotations

from gvgap.engines.base import SamplingParams
from gvgap.verifiers import prompts
from gvgap.verifiers.base import Verifier, VerifyInput, frame, pointwise_prompts
from gvgap.verifiers.parsing import parse_binary, parse_score

# A judgement ends where a model would start inventing the next problem.
DEFAULT_STOP = ("\n\n\n", "\nProblem:", "\nQuestion:", "\nPuzzle:")


class CoTVerifier(Verifier):
    name = "cot"
    templates: dict = {}

    def __init__(self, temperature: float = 0.7, top_p: float = 0.9, max_new_tokens: int = 128,
                 template: str | None = None, stop=DEFAULT_STOP, **kw):
        super().__init__(**kw)
        self.temperature, self.top_p = float(temperature), float(top_p)
        self.max_new_tokens = int(max_new_tokens)
        self.template = template
        self.stop = tuple(stop or ())

    def parse(self, text: str) -> float | None:
        raise NotImplementedError

    def prompts(self, data: VerifyInput) -> tuple[list[str], list[tuple[str, int]]]:
        return pointwise_prompts(self.template or self.templates[prompts.family(data.task.name)], data)

    def verify(self, engine, data: VerifyInput):
        texts, keys = self.prompts(data)
        params = SamplingParams(n=self.num_verifications, temperature=self.temperature, top_p=self.top_p,
                                max_new_tokens=self.max_new_tokens, stop=self.stop, seed=data.seed)
        # one seed stream per (prompt, sample): results do not depend on batching
        outs = engine.generate(texts, params, indices=list(range(len(texts)))) if texts else []
        rows = []
        for (pid, sid), judgements in zip(keys, outs):
            for v, text in enumerate(judgements):
                score = self.parse(text)
                rows.append((pid, sid, self.name, v, float("nan") if score is None else score, text))
        return frame(rows)


class CoTBinaryVerifier(CoTVerifier):
    name = "cot_binary"
    templates = prompts.COT_BINARY

    def parse(self, text):
        return parse_binary(text)


class CoTScoreVerifier(CoTVerifier):
    name = "cot_score"
    templates = prompts.COT_SCORE

    def parse(self, text):
        return parse_score(text)
