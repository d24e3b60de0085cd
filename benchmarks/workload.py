"""The paper's sampling workload: 4-shot GSM8K prompts ("Question: ...\\nAnswer: ..."),
exemplars = the first train rows with their full reference solutions (~650 tokens
per prompt with SmolLM2's tokenizer), questions = test rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

STOP = ("\n\nQuestion:", "\nQuestion:")  # gvgap.tasks.gsm8k.GSM8KTask.stop


def data_dir() -> Path:
    for cand in (os.environ.get("GVGAP_DATA_DIR"), "/work/shared/data",
                 Path(__file__).resolve().parents[2] / "shared" / "data"):
        if cand and (Path(cand) / "gsm8k" / "test.jsonl").exists():
            return Path(cand)
    raise FileNotFoundError("GSM8K jsonl not found: set GVGAP_DATA_DIR to a folder with gsm8k/{train,test}.jsonl")


def _rows(split: str, n: int) -> list[dict]:
    out = []
    with open(data_dir() / "gsm8k" / f"{split}.jsonl") as f:
        for line in f:
            out.append(json.loads(line))
            if len(out) >= n:
                break
    return out


def gsm8k_prompts(n_prompts: int, shots: int = 4) -> tuple[list[str], list[str]]:
    """(prompts, questions) for the first n test questions."""
    prefix = "".join(f"Question: {r['question']}\nAnswer: {r['answer']}\n\n" for r in _rows("train", shots))
    qs = [r["question"] for r in _rows("test", n_prompts)]
    return [f"{prefix}Question: {q}\nAnswer:" for q in qs], qs


def mc_template() -> str:
    """The pipeline's MC verification template for GSM8K-like tasks."""
    try:
        from gvgap.verifiers import prompts

        return prompts.MC[prompts.family("gsm8k")]
    except Exception:  # the verifier package is optional for the benchmark
        return ("Here is a math problem and a proposed solution.\n\nProblem: {problem}\n\n"
                "Proposed solution: {solution}\n\nIs the proposed solution correct? "
                "Reply with one word: Correct or Incorrect.\nAnswer:")
