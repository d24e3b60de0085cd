"""The content key of each stage's output: everything that output depends on, hashed.

A stage is skipped when its recorded key (gvgap.rundir_guard) equals the key computed
here, and the generation and verification caches are addressed by these keys. Keys read
the recorded key of the stage below them (folder `rd`), so a changed input reruns every
stage above it. The keys of the train prompts' stages (round_NN/train/) are computed the
same way from their own folder and prompts.
"""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import OmegaConf

from gvgap import artifacts as A
from gvgap import rundir_guard as G
from gvgap.model.sources import model_fingerprint, resolve_model

# task keys that only choose which prompts a stage gets; the prompt ids are in the key
PROMPT_SET_KEYS = ("train_split", "train_limit")


def engine_identity(engine_cfg) -> dict:
    """Engine settings that change outputs (not progress bars or thread counts)."""
    return G.identity(OmegaConf.to_container(engine_cfg, resolve=True), "engine")


def task_identity(task_cfg) -> dict:
    """The task's settings without the train-prompt selection, so caches made before
    `task.train_split` existed stay valid (and the evaluation side never re-samples)."""
    node = OmegaConf.to_container(task_cfg, resolve=True)
    return {k: v for k, v in node.items() if k not in PROMPT_SET_KEYS}


def generations_key(cfg, problems, model_path) -> str:
    """Everything the samples depend on: model weights, engine, task, sampling, seed, prompts."""
    return A.content_key("generations", model_fingerprint(model_path), engine_identity(cfg.engine),
                         task_identity(cfg.task), OmegaConf.to_container(cfg.generation),
                         cfg.seed, [p.id for p in problems])


def verifications_key(cfg, gen_key, model_path, verifier=None) -> str:
    verifier = verifier or instantiate(cfg.verifier, _convert_="all")
    vmodel = resolve_model(cfg.verifier.model) if cfg.verifier.get("model") else model_path
    return A.content_key("verifications", gen_key, OmegaConf.to_container(cfg.verifier, resolve=True),
                         model_fingerprint(vmodel) if verifier.needs_model else None, engine_identity(cfg.engine),
                         cfg.seed)


def metrics_key(cfg, rd: Path, t: int) -> str:
    """The verifications measured (by their recorded key), the weight function, the ks."""
    return A.content_key("metrics", G.stored_key(rd, "verifications"),
                         OmegaConf.to_container(cfg.weight_fn, resolve=True),
                         None if cfg.get("pass_at_k") is None else list(cfg.pass_at_k), t)


def model_key(cfg, src: Path) -> str:
    """The weighted samples trained on (by the metrics key, in folder `src`, that set the
    weights), the updater, the seed."""
    return A.content_key("model", G.stored_key(src, "metrics"),
                         G.identity(OmegaConf.to_container(cfg.updater, resolve=True), "updater"), cfg.seed)
