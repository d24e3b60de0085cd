"""The gold verifier (App. D.3): the task's true utility used as the proxy utility."""

from __future__ import annotations

from dataclasses import dataclass

from gvgap.schema import store
from gvgap.verifiers.base import Verifier, VerifyInput, frame
from gvgap.verifiers.schema import VerifierSchema


@store("verifier", "oracle_schema")
@dataclass
class OracleVerifierConfig(VerifierSchema):
    _target_: str = "gvgap.verifiers.oracle.OracleVerifier"


class OracleVerifier(Verifier):
    name = "oracle"
    needs_model = False
    schema = OracleVerifierConfig

    def verify(self, engine, data: VerifyInput):
        rows = []
        for problem, samples in zip(data.problems, data.completions):
            for sid, completion in enumerate(samples):
                u = float(data.task.utility(problem, completion))
                rows += [(problem.id, sid, self.name, v, u, None) for v in range(self.num_verifications)]
        return frame(rows)
