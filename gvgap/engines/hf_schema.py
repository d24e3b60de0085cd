"""Config schema of engine=hf: the one place its options' defaults and ranges are
written (HFEngine builds itself from it). Registered as `engine/hf_schema`, named in
conf/engine/hf.yaml's defaults. Torch-free, so the CLI validates before loading models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gvgap.schema import need, store


@store("engine", "hf_schema")
@dataclass
class HFEngineConfig:
    _target_: str = "gvgap.engines.hf.HFEngine"
    # auto: bfloat16 on GPUs and on CPUs with native bf16 (AMX / AVX512-BF16), float32
    # otherwise (emulated bf16 matmuls run ~6x slower than float32 on an AVX2-only CPU)
    dtype: str = "auto"
    device: str = "cpu"
    batch_size: int = 32  # plain path: rows per generate() call and per scoring forward
    threads: Optional[int] = None  # torch threads (None: torch's default)
    progress: bool = True
    # -- fast path (gvgap.engines.fast_decode) --
    # false: plain model.generate + padded scoring forwards (the reference); CPU only:
    # on other devices the plain path runs
    fast: bool = True
    # shared_prefix: prompt KV computed once, never replicated; standard: same loop,
    # prompt KV copied into every row
    attention: str = "shared_prefix"
    sampler: str = "fast"  # fast: exact top-p via growing torch.topk; reference: full sort (same draws)
    max_rows: Optional[int] = 128  # most rows decoded at once (finished rows are refilled at once)
    kv_budget_mb: int = 2048  # per-row KV cache budget; fewer rows when max_new_tokens is long
    prefill_tokens: int = 4096  # most (padded) prompt tokens per prefill/scoring forward
    min_shared: int = 16  # shortest common prompt prefix worth prefilling once
    topk: int = 64  # first k tried by the fast top-p sampler
    # two-level prefix sharing in generate (trunk -> per-group prefix -> own remainder; the
    # CoT verification workload); false: one shared trunk + one KV segment per prompt
    prefix_tree: bool = True
    skinny_linear: bool = True  # float32 CPU: small-batch linears as (W @ x^T)^T (faster with MKL)

    def __post_init__(self):
        need(self.dtype in ("auto", "bfloat16", "float16", "float32"),
             f"engine.dtype must be auto, bfloat16, float16 or float32 (got {self.dtype!r})")
        need(self.attention in ("shared_prefix", "standard"),
             f"engine.attention must be shared_prefix or standard (got {self.attention!r})")
        need(self.sampler in ("fast", "reference"), f"engine.sampler must be fast or reference (got {self.sampler!r})")
        need(self.batch_size >= 1, f"engine.batch_size must be >= 1 (got {self.batch_size})")
        need(self.max_rows is None or self.max_rows >= 1, f"engine.max_rows must be >= 1 or null (got {self.max_rows})")
        need(self.kv_budget_mb > 0, f"engine.kv_budget_mb must be > 0 (got {self.kv_budget_mb})")
        need(self.prefill_tokens >= 1, f"engine.prefill_tokens must be >= 1 (got {self.prefill_tokens})")
        need(self.min_shared >= 1, f"engine.min_shared must be >= 1 (got {self.min_shared})")
        need(self.topk >= 1, f"engine.topk must be >= 1 (got {self.topk})")
        need(self.threads is None or self.threads >= 1, f"engine.threads must be >= 1 or null (got {self.threads})")
