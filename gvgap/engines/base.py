"""What every engine offers the pipeline and the verifiers: the `Engine` protocol, the
sampling parameters it takes, and the helpers engines share (stop cutting, seeds).

Torch-free, so configs and tests can import it without loading a model stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SamplingParams:
    """n samples per prompt; temperature 0 = greedy; nucleus top_p in (0, 1];
    max_new_tokens counts tokens; a sample ends at the first of `stop` (not included);
    seed together with a prompt's index seeds that prompt's samples (see prompt_seed)."""

    n: int = 1
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0


@runtime_checkable
class Engine(Protocol):
    """A loaded model that samples and scores text. Built by Hydra from `engine.*` with
    `model_path=` (a local folder or hub id); `gvgap.pipeline.EnginePool` keeps one alive.
    tests/test_engine_protocol.py checks every engine class against these signatures."""

    tokenizer: Any  # the model's transformers tokenizer (token counts, ids)

    def generate(self, prompts: list[str], params: SamplingParams, indices: list[int] | None = None) -> list[list[str]]:
        """`params.n` completions per prompt: texts [len(prompts)][params.n], each cut
        before its first stop string, special tokens removed. Prompt i's samples are
        seeded by prompt_seed(params.seed, indices[i]) (indices default 0..P-1), so they
        do not depend on batching or on the other prompts of the call."""
        ...

    def continuation_logprobs(self, prompts: list[str], continuations: list[str]) -> np.ndarray:
        """log p(c | prompt) in nats, summed over c's tokens, for every prompt and
        continuation: float64 [len(prompts), len(continuations)]. The prompt is
        tokenized alone (with special tokens), c without: a word of several tokens is
        scored whole."""
        ...

    def close(self) -> None:
        """Free the model (and any worker processes) before another one loads."""
        ...


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
