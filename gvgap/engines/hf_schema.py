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
    dtype: str = "auto"
    device: str = "cpu"
    batch_size: int = 32
    threads: Optional[int] = None
    progress: bool = True
    fast: bool = True
    attention: str = "shared_prefix"
    sampler: str = "fast"
    max_rows: Optional[int] = 128
    kv_budget_mb: float = 2048
    prefill_tokens: int = 4096
    min_shared: int = 16
    topk: int = 64
    skinny_linear: bool = True

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
