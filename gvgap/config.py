"""The top-level config, the registration of every group's schema, and the rules that
span groups. A wrong value fails before any model loads, with one line naming the field.

Each config group owns its schema, beside its code (gvgap/verifiers/mc.py holds
MCVerifierConfig; gvgap/model/schema.py holds ModelConfig), registered in Hydra's
ConfigStore as `<group>/<option>_schema` and named in the option's `defaults`, so Hydra
type-checks each option as it composes. `register_schemas()` imports those modules (it
runs when gvgap.cli is imported, before composing). `validate()` then runs every schema's
`__post_init__` (the range rules) and the cross-group rules below.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from gvgap.schema import ConfigError, check, need, schema_of
from gvgap.verifiers.schema import VerificationConfig

__all__ = ["Config", "ConfigError", "GenerationConfig", "check_option", "register_schemas", "validate"]


@dataclass
class GenerationConfig:
    n_samples: int = 8
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 64
    num_shots: int = 4

    def __post_init__(self):
        need(self.n_samples >= 1, f"generation.n_samples must be >= 1 (got {self.n_samples})")
        need(self.temperature >= 0, f"generation.temperature must be >= 0 (got {self.temperature})")
        need(0 < self.top_p <= 1, f"generation.top_p must be in (0, 1] (got {self.top_p})")
        need(self.max_new_tokens >= 1, f"generation.max_new_tokens must be >= 1 (got {self.max_new_tokens})")
        need(self.num_shots >= 0, f"generation.num_shots must be >= 0 (got {self.num_shots})")


@dataclass
class Config:
    """Registered as `base_config`, first in conf/config.yaml's defaults."""

    seed: int = 0
    iterations: int = 0
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    verification: VerificationConfig = field(default_factory=VerificationConfig)  # recipe-wide verifier settings
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


# Where each group's schemas live. Every module of a package in PART_PACKAGES defines
# one part (a new verifier is one new module there, found by listing the package); the
# engine and updater packages also hold torch code, so their schema modules are named.
PART_PACKAGES = ("gvgap.verifiers", "gvgap.weight_fn", "gvgap.logger")
SCHEMA_MODULES = ("gvgap.model.schema", "gvgap.engines.hf_schema", "gvgap.engines.vllm",
                  "gvgap.updaters.schemas", "gvgap.updaters.none")
GROUPS_WITH_TARGET = ("engine", "verifier", "weight_fn", "updater", "logger")


def register_schemas() -> None:
    """Put `base_config` and every group's schemas in Hydra's ConfigStore (idempotent;
    imports no torch)."""
    ConfigStore.instance().store(name="base_config", node=Config)
    names = list(SCHEMA_MODULES)
    for package in PART_PACKAGES:
        path = importlib.import_module(package).__path__
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(path)]
    for name in names:
        importlib.import_module(name)


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError (one line, naming the field) if any value is out of range."""
    from gvgap.model.schema import ModelConfig
    from gvgap.tasks.schema import check_task

    register_schemas()
    check(GenerationConfig, cfg.generation, "generation")
    if cfg.get("verification") is not None:  # absent from the stored configs of older runs
        check(VerificationConfig, cfg.verification, "verification")
    need(cfg.iterations >= 0, f"iterations must be >= 0 (got {cfg.iterations})")
    need(cfg.get("stage_processes", "auto") in ("auto", "always", "never"),
         f"stage_processes must be auto, always or never (got {cfg.get('stage_processes')!r})")
    check(ModelConfig, cfg.model, "model")
    check_task(cfg.task)
    for group in GROUPS_WITH_TARGET:
        check_option(group, cfg[group])
    if cfg.verifier.get("model") is not None:
        try:
            check(ModelConfig, cfg.verifier.model, "verifier.model")
        except ConfigError as e:  # ModelConfig's messages say "model.<field>"
            msg = str(e)
            raise ConfigError(msg if msg.startswith("verifier.") else f"verifier.{msg}") from None
    check_combination(cfg)
    from gvgap.updaters.memory import check_fit  # the update's memory per GPU, before any model loads

    check_fit(cfg)


def check_combination(cfg) -> None:
    """The rules that need more than one group."""
    n = cfg.generation.n_samples
    for k in cfg.pass_at_k or []:
        need(1 <= k <= n, f"pass_at_k: k={k} must be between 1 and generation.n_samples={n}")
    v, w = cfg.verifier, cfg.weight_fn
    if v.get("_target_") == "gvgap.verifiers.tournament.TournamentVerifier":
        r = int(v.get("rounds", 2))
        need(2 ** r <= n, f"verifier.rounds={r} needs generation.n_samples >= {2 ** r} (got {n})")
        if w.get("_target_") == "gvgap.weight_fn.tournament.Tournament":
            need(int(w.get("round", 1)) <= r, f"weight_fn.round={w.get('round')} exceeds verifier.rounds={r}")
    if cfg.iterations > 0:
        need(cfg.updater._target_ != "gvgap.updaters.none.NoUpdate",
             "updater: iterations > 0 needs an updater (updater=sft or updater=rpo), not updater=none")
        # RPO pairs kept (weight > 0) with dropped (weight = 0) samples; all-positive weights give no pairs
        need(not (cfg.updater._target_.endswith("RPOUpdater") and cfg.weight_fn._target_.endswith(("Exp", "Calibrated"))),
             "updater: updater=rpo needs a filtering weight_fn (threshold, quantile, tournament), not exp/calibrated")


def check_option(group: str, node, where: str | None = None) -> None:
    """Check one option of a group with a `_target_` against the schema registered for it
    (also for commands that swap an option, e.g. re-measuring with another weight_fn)."""
    register_schemas()
    where = where or group
    target = node.get("_target_") if node is not None else None
    need(target is not None, f"{where}._target_ is missing")
    schema = schema_of(group, target)
    if schema is not None:  # a part of your own without a registered schema is not range-checked
        check(schema, node, where)
