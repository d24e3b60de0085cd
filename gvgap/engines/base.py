"""What every engine offers the pipeline: sampling and continuation log-probabilities."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0


def cut_at_stop(text: str, stop) -> str:
    """Cut a completion at the first stop string (engines may overshoot by a few tokens)."""
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


def prompt_seed(seed: int, index: int) -> int:
    """Seed of the index-th prompt: independent of batching, so a run is reproducible
    whatever the batch size or which prompts were already cached."""
    return (seed * 1_000_003 + index * 7919 + 17) % (2**31 - 1)
