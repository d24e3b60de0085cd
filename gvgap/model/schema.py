"""Schema of a conf/model/ option: where the weights come from, and the pre-training
figures the scaling analysis needs. Registered as `model/schema`, named in every model
option's defaults; also the schema of `verifier.model` (cross-verification)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from gvgap.schema import need, store

SOURCES = ("pip_gguf", "pip_gguf_assemble", "tiny_random", "local", "hub")


@store("model", "schema")
@dataclass
class ModelConfig:
    name: str = MISSING
    source: str = MISSING  # one of SOURCES; see gvgap.model.sources.resolve_model
    path: Optional[str] = None  # local folder or hub id (source local / hub)
    package: Optional[str] = None  # pip package holding the GGUF (source pip_gguf*)
    gguf_file: Optional[str] = None
    assemble: Optional[str] = None  # function of `package` that returns the GGUF path
    arch: str = "llama"  # tiny_random: llama | qwen2
    seed: int = 0  # tiny_random: weight seed
    params: Optional[float] = None  # parameter count
    train_tokens: Optional[float] = None  # pre-training tokens
    family: Optional[str] = None
    citation: Optional[str] = None
    train: Any = None  # what an update needs: sizes, GPUs, strategy (gvgap.updaters.memory, docs/cluster.md)

    def __post_init__(self):
        need(self.source in SOURCES,
             f"model.source must be pip_gguf, pip_gguf_assemble, tiny_random, local or hub (got {self.source!r})")
        need(self.source != "pip_gguf_assemble" or bool(self.package),
             "model.package is required for source pip_gguf_assemble")
        need(self.source not in ("local", "hub") or bool(self.path), "model.path is required for source local/hub")
        need(self.source != "pip_gguf" or bool(self.package and self.gguf_file),
             "model.package and model.gguf_file are required for source pip_gguf")
