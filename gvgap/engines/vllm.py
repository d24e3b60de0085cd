"""vLLM engine (GPU; `pip install -e ".[vllm]"`): the same interface as HFEngine.

- generate: one vllm.SamplingParams per prompt, seeded by prompt_seed(seed, index), so a
  prompt's samples do not depend on batching or on which prompts were cached; vLLM batches
  all requests continuously.
- continuation_logprobs: each prompt + continuation is sent as token ids with
  prompt_logprobs=0, and the log-probs of the continuation's tokens are summed. Token ids
  (prompt tokenized alone, continuation without special tokens) keep the split exactly
  where HFEngine puts it, whatever the tokenizer would merge across the boundary.

vllm is imported only when the engine is built; this module (and its config schema) loads
without it. Freeing GPU memory inside one process is unreliable in vLLM: see docs/updaters.md.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Optional

import numpy as np

from gvgap.engines.base import SamplingParams, cut_at_stop, prompt_seed
from gvgap.schema import need as _need
from gvgap.schema import store


@store("engine", "vllm_schema")
@dataclass
class VLLMEngineConfig:
    _target_: str = "gvgap.engines.vllm.VLLMEngine"
    dtype: str = "bfloat16"
    gpu_memory_utilization: float = 0.85
    max_model_len: Optional[int] = 4096
    tensor_parallel_size: int = 1
    seed: int = 0
    enforce_eager: bool = False
    score_batch_size: int = 256  # prompt+continuation requests per scoring call
    progress: bool = True

    def __post_init__(self):
        _need(self.dtype in ("bfloat16", "float16", "float32", "auto"),
              f"engine.dtype must be bfloat16, float16, float32 or auto (got {self.dtype!r})")
        _need(0 < self.gpu_memory_utilization <= 1,
              f"engine.gpu_memory_utilization must be in (0, 1] (got {self.gpu_memory_utilization})")
        _need(self.max_model_len is None or self.max_model_len >= 16,
              f"engine.max_model_len must be >= 16 or null (got {self.max_model_len})")
        _need(self.tensor_parallel_size >= 1,
              f"engine.tensor_parallel_size must be >= 1 (got {self.tensor_parallel_size})")
        _need(self.score_batch_size >= 1, f"engine.score_batch_size must be >= 1 (got {self.score_batch_size})")


def import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise ImportError(
            "engine=vllm needs the vllm package (GPU only): pip install -e \".[vllm]\"; "
            "on a CPU machine use engine=hf"
        ) from e
    return vllm


class VLLMEngine:
    def __init__(self, model_path: str, dtype: str = "bfloat16", gpu_memory_utilization: float = 0.85,
                 max_model_len: int | None = 4096, tensor_parallel_size: int = 1, seed: int = 0,
                 enforce_eager: bool = False, score_batch_size: int = 256, progress: bool = True):
        self.cfg = VLLMEngineConfig(dtype=dtype, gpu_memory_utilization=gpu_memory_utilization,
                                    max_model_len=max_model_len, tensor_parallel_size=tensor_parallel_size,
                                    seed=seed, enforce_eager=enforce_eager, score_batch_size=score_batch_size,
                                    progress=progress)
        self.vllm = import_vllm()
        self.llm = self.vllm.LLM(model=model_path, tokenizer=model_path, dtype=dtype,
                                 gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                                 tensor_parallel_size=tensor_parallel_size, seed=seed, enforce_eager=enforce_eager)
        self.tokenizer = self.llm.get_tokenizer()

    # -- sampling ------------------------------------------------------------------------
    def generate(self, prompts: list[str], params: SamplingParams, indices: list[int] | None = None) -> list[list[str]]:
        """`params.n` completions per prompt. Prompt i is seeded by (seed, indices[i])."""
        indices = list(range(len(prompts))) if indices is None else indices
        if not prompts:
            return []
        greedy = params.temperature == 0
        # greedy decoding is deterministic: one sample, repeated n times
        n = 1 if greedy else params.n
        sps = [
            self.vllm.SamplingParams(
                n=n, temperature=params.temperature, top_p=1.0 if greedy else params.top_p,
                max_tokens=params.max_new_tokens, stop=list(params.stop), seed=prompt_seed(params.seed, idx),
            )
            for idx in indices
        ]
        outs = self.llm.generate(prompts, sampling_params=sps, use_tqdm=self.cfg.progress)
        texts = []
        for o in outs:
            t = [cut_at_stop(c.text, params.stop) for c in o.outputs]
            texts.append(t * params.n if greedy else t)
        return texts

    # -- scoring -------------------------------------------------------------------------
    def continuation_logprobs(self, prompts: list[str], continuations: list[str]) -> np.ndarray:
        """log p(c | prompt) summed over c's tokens: an array [len(prompts), len(continuations)]."""
        tok = self.tokenizer
        prompt_ids = [list(tok(p).input_ids) for p in prompts]
        cont_ids = [list(tok(c, add_special_tokens=False).input_ids) for c in continuations]
        for c, ids in zip(continuations, cont_ids):
            if not ids:
                raise ValueError(f"continuation {c!r} has no tokens")
        rows = [(i, j) for i in range(len(prompts)) for j in range(len(continuations))]
        sp = self.vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        result = np.zeros((len(prompts), len(continuations)), dtype=np.float64)
        step = self.cfg.score_batch_size
        for s in range(0, len(rows), step):
            batch = rows[s: s + step]
            requests = [{"prompt_token_ids": prompt_ids[i] + cont_ids[j]} for i, j in batch]
            outs = self.llm.generate(requests, sampling_params=sp, use_tqdm=self.cfg.progress)
            for (i, j), o in zip(batch, outs):
                result[i, j] = sum_continuation(o.prompt_logprobs, o.prompt_token_ids, len(cont_ids[j]))
        return result

    def close(self) -> None:
        """Best effort: drop the LLM so its engine process exits (reliable only across processes)."""
        self.llm = None
        gc.collect()


def sum_continuation(prompt_logprobs, token_ids, n_cont: int) -> float:
    """Sum of log p(token) over the last n_cont positions. vLLM's prompt_logprobs[k] maps token
    ids to Logprob objects for position k (None at position 0); with prompt_logprobs=0 it
    holds the actual token (plus the top-1 when that differs)."""
    total = 0.0
    for k in range(len(token_ids) - n_cont, len(token_ids)):
        entry = prompt_logprobs[k]
        if entry is None:
            raise ValueError("vLLM returned no log-prob for a continuation token (position 0?)")
        total += float(entry[token_ids[k]].logprob)
    return total
