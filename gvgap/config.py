"""Typed configs and validation: a wrong value fails before any model loads, with one
line that names the field.

Top-level keys are typed by the structured config `Config` (registered as `base_config`,
first in conf/config.yaml's defaults), so Hydra rejects a non-number at compose time.
Each group option is checked against the schema registered for its `_target_` in
SCHEMAS, and every range rule lives in one `__post_init__`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, List, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A config value is wrong; the message names the field."""


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass
class GenerationConfig:
    n_samples: int = 8
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 64
    num_shots: int = 4

    def __post_init__(self):
        _need(self.n_samples >= 1, f"generation.n_samples must be >= 1 (got {self.n_samples})")
        _need(self.temperature >= 0, f"generation.temperature must be >= 0 (got {self.temperature})")
        _need(0 < self.top_p <= 1, f"generation.top_p must be in (0, 1] (got {self.top_p})")
        _need(self.max_new_tokens >= 1, f"generation.max_new_tokens must be >= 1 (got {self.max_new_tokens})")
        _need(self.num_shots >= 0, f"generation.num_shots must be >= 0 (got {self.num_shots})")


@dataclass
class Config:
    seed: int = 0
    iterations: int = 0
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    pass_at_k: Optional[List[int]] = None  # null: 1, 2, 4, ..., n_samples
    run_dir: Optional[str] = None  # null: Hydra's output dir
    stage_processes: str = "auto"  # auto | always | never: generate/verify/update in child processes
    model: Any = MISSING
    engine: Any = MISSING
    task: Any = MISSING
    verifier: Any = MISSING
    weight_fn: Any = MISSING
    updater: Any = MISSING
    logger: Any = MISSING


# -- group schemas, keyed by _target_ -------------------------------------------------------
@dataclass
class ModelConfig:
    name: str = MISSING
    source: str = MISSING  # pip_gguf | pip_gguf_assemble | tiny_random | local | hub
    path: Optional[str] = None
    package: Optional[str] = None
    gguf_file: Optional[str] = None
    assemble: Optional[str] = None  # function of `package` that returns the GGUF path
    arch: str = "llama"
    seed: int = 0
    params: Optional[float] = None  # parameter count
    train_tokens: Optional[float] = None  # pre-training tokens
    family: Optional[str] = None
    citation: Optional[str] = None
    train: Any = None  # what an update needs: sizes, GPUs, strategy (gvgap.updaters.memory, docs/cluster.md)

    def __post_init__(self):
        _need(self.source in ("pip_gguf", "pip_gguf_assemble", "tiny_random", "local", "hub"),
              f"model.source must be pip_gguf, pip_gguf_assemble, tiny_random, local or hub (got {self.source!r})")
        _need(self.source != "pip_gguf_assemble" or bool(self.package),
              "model.package is required for source pip_gguf_assemble")
        _need(self.source not in ("local", "hub") or bool(self.path), "model.path is required for source local/hub")
        _need(self.source != "pip_gguf" or bool(self.package and self.gguf_file),
              "model.package and model.gguf_file are required for source pip_gguf")


@dataclass
class TaskConfig:
    name: str = MISSING
    limit: Optional[int] = None
    options: Any = None  # unused; tasks take their extra keys as options

    def __post_init__(self):
        from gvgap.tasks import REGISTRY

        _need(self.name in REGISTRY, f"task.name must be one of {sorted(REGISTRY)} (got {self.name!r})")
        _need(self.limit is None or self.limit >= 1, f"task.limit must be >= 1 or null (got {self.limit})")


@dataclass
class WeightSchema:
    """Base of weight_fn schemas: every weight function has the NaN rule."""

    nan_weight: float = 0.0

    def __post_init__(self):
        _need(self.nan_weight >= 0, f"weight_fn.nan_weight must be >= 0 (got {self.nan_weight})")
        self.check()

    def check(self) -> None:
        pass


@dataclass
class ThresholdConfig(WeightSchema):
    _target_: str = "gvgap.weighting.Threshold"
    tau: float = 0.8

    def check(self):
        _need(math.isfinite(self.tau), f"weight_fn.tau must be a finite number (got {self.tau})")


@dataclass
class QuantileConfig(WeightSchema):
    _target_: str = "gvgap.weighting.Quantile"
    q: float = 0.8

    def check(self):
        _need(0 <= self.q <= 1, f"weight_fn.q must be in [0, 1] (got {self.q})")


@dataclass
class ExpConfig(WeightSchema):
    _target_: str = "gvgap.weighting.Exp"
    beta: float = 1.0

    def check(self):
        _need(self.beta > 0, f"weight_fn.beta must be > 0 (got {self.beta})")


@dataclass
class MCVerifierConfig:
    _target_: str = "gvgap.verifiers.mc.MCVerifier"
    num_verifications: int = 1
    model: Any = None
    positive: str = " Correct"
    negative: str = " Incorrect"
    template: Optional[str] = None

    def __post_init__(self):
        _need(self.num_verifications >= 1, f"verifier.num_verifications must be >= 1 (got {self.num_verifications})")


@dataclass
class OracleVerifierConfig:
    _target_: str = "gvgap.verifiers.oracle.OracleVerifier"
    num_verifications: int = 1
    model: Any = None

    def __post_init__(self):
        _need(self.num_verifications >= 1, f"verifier.num_verifications must be >= 1 (got {self.num_verifications})")


@dataclass
class WandbLoggerConfig:
    _target_: str = "gvgap.tracking.WandbLogger"
    project: str = "gvgap"
    entity: Optional[str] = None
    mode: str = "offline"
    tags: List[str] = field(default_factory=list)

    def __post_init__(self):
        _need(self.mode in ("offline", "online", "disabled"),
              f"logger.mode must be offline, online or disabled (got {self.mode!r})")


SCHEMAS: dict[str, type] = {
    c._target_: c
    for c in (ThresholdConfig, QuantileConfig, ExpConfig, MCVerifierConfig, OracleVerifierConfig, WandbLoggerConfig)
}


def register_schema(cls: type) -> type:
    """Decorator for group-option schemas defined elsewhere (verifiers, updaters)."""
    SCHEMAS[cls._target_] = cls
    return cls


def _check(schema: type, node, where: str) -> None:
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
        OmegaConf.to_object(merged)  # runs __post_init__
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or ""
        msg = str(e).splitlines()[0]
        raise ConfigError(f"{where}.{key}: {msg}" if key else f"{where}: {msg}") from None
    except ConfigError as e:  # from __post_init__: names the field itself
        raise ConfigError(str(e)) from None


PLUGIN_SCHEMAS = ("gvgap.verifiers.schemas", "gvgap.updaters.schemas", "gvgap.engines.vllm", "gvgap.engines.hf_schema")


def _load_plugin_schemas() -> None:
    """Schemas of verifiers and updaters live beside their code; importing those light
    modules registers them (no torch imported)."""
    import importlib

    for name in PLUGIN_SCHEMAS:
        importlib.import_module(name)


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError (one line, naming the field) if any value is out of range."""
    _load_plugin_schemas()
    _check(GenerationConfig, cfg.generation, "generation")
    _need(cfg.iterations >= 0, f"iterations must be >= 0 (got {cfg.iterations})")
    _need(cfg.get("stage_processes", "auto") in ("auto", "always", "never"),
          f"stage_processes must be auto, always or never (got {cfg.get('stage_processes')!r})")
    n = cfg.generation.n_samples
    for k in cfg.pass_at_k or []:
        _need(1 <= k <= n, f"pass_at_k: k={k} must be between 1 and generation.n_samples={n}")
    _check(ModelConfig, cfg.model, "model")
    task_node = OmegaConf.masked_copy(cfg.task, [k for k in ("name", "limit") if k in cfg.task])
    _check(TaskConfig, task_node, "task")
    for group in ("engine", "verifier", "weight_fn", "updater", "logger"):
        node = cfg[group]
        if node is not None:  # resolve ${...} against the whole config before checking alone
            node = OmegaConf.create(OmegaConf.to_container(node, resolve=True))
        target = node.get("_target_") if node is not None else None
        _need(target is not None, f"{group}._target_ is missing")
        if target in SCHEMAS:
            _check(SCHEMAS[target], node, group)
    vmodel = cfg.verifier.get("model")
    if vmodel is not None:
        _check(ModelConfig, vmodel, "verifier.model")
    from gvgap.verifiers.schemas import check_combination

    check_combination(cfg)
    from gvgap.updaters.memory import check_fit  # the update's memory per GPU, before any model loads

    check_fit(cfg)
    if cfg.iterations > 0:
        _need(cfg.updater._target_ != "gvgap.updaters.none.NoUpdate",
              "updater: iterations > 0 needs an updater (updater=sft or updater=rpo), not updater=none")
        # RPO pairs kept (weight > 0) with dropped (weight = 0) samples; all-positive weights give no pairs
        _need(not (cfg.updater._target_.endswith("RPOUpdater") and cfg.weight_fn._target_.endswith(("Exp", "Calibrated"))),
              "updater: updater=rpo needs a filtering weight_fn (threshold, quantile, tournament), not exp/calibrated")
