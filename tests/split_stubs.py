"""Stand-ins the train-split tests run the pipeline with (importable by stage children):
an engine that answers arithmetic stories by a known rule, and an updater that records
what it was given instead of training."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path


def n_correct(question: str, n: int) -> int:
    """How many of a prompt's n samples StubEngine answers right (the tests' hand rule)."""
    return len(question) % (n + 1)


def solve(question: str) -> int:
    a, b = (int(x) for x in re.findall(r"\d+", question)[:2])
    if "finds" in question:
        return a + b
    if "gives away" in question:
        return a - b
    return a * b


def _log(event: str) -> None:
    if os.environ.get("STUB_LOG"):
        with open(os.environ["STUB_LOG"], "a") as f:
            f.write(event + "\n")


class StubEngine:
    """Sample s of a prompt is right iff s < n_correct(question, n). STUB_KILL=<text>:
    SIGKILL itself when asked about a question containing that text (a crash mid-stage)."""

    def __init__(self, model_path: str, **kw):
        self.model_path = model_path

    def generate(self, prompts, params, indices=None):
        out = []
        for prompt in prompts:
            question = prompt.rsplit("Question: ", 1)[-1].split("\nAnswer:")[0]
            if os.environ.get("STUB_KILL") and os.environ["STUB_KILL"] in question:
                os.kill(os.getpid(), signal.SIGKILL)
            gold, c = solve(question), n_correct(question, params.n)
            out.append([f" The answer is {gold if s < c else gold + 1}." for s in range(params.n)])
            _log(f"generate {question}")
        return out

    def continuation_logprobs(self, prompts, continuations):
        raise NotImplementedError("the stub engine only samples")

    def close(self) -> None:
        pass


class RecordingUpdater:
    """Writes what it would train on to <out>/records.json (and a config.json, so the
    round's model counts as done) instead of training."""

    def __init__(self, **kw):
        pass

    def update(self, model_path, records, out, seed=0):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        rows = records[["prompt_id", "sample_id", "prompt", "weight"]].to_dict("records")
        (out / "records.json").write_text(json.dumps({"trained_from": model_path, "rows": rows}))
        (out / "config.json").write_text("{}")
        return str(out)
