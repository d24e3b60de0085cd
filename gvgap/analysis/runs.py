"""Finding and reading run directories: one run's config and rounds, and every run below
a sweep folder with what identifies it in a table (models, verifier, weights, task).

A run directory holds config.yaml (the resolved config) and round_NN/ with
generations.parquet, verifications.parquet and metrics.json (see gvgap.artifacts); a
Hydra job also has .hydra/hydra.yaml with the options it chose.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from gvgap import artifacts as A
from gvgap.arrays import RoundArrays

SKIP_DIRS = {".hydra", ".submitit", "analysis", "wandb", "model"}


# -- one run -----------------------------------------------------------------------------------
def load_config(run_dir) -> DictConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a gvgap run directory?")
    return OmegaConf.load(path)


def rounds(run_dir) -> list[int]:
    """Rounds whose generations and verifications are on disk, in order."""
    out = []
    for d in sorted(Path(run_dir).glob("round_*")):
        m = re.fullmatch(r"round_(\d+)", d.name)
        if m and RoundArrays.exists(run_dir, int(m.group(1))):
            out.append(int(m.group(1)))
    if not out:
        raise FileNotFoundError(f"no round_NN/ with generations and verifications in {run_dir}")
    return out


def load_round(run_dir, t: int) -> RoundArrays:
    return RoundArrays.load(run_dir, t)


@lru_cache(maxsize=None)
def u_max(task: str) -> float:
    """U_max of a task, read from its class (no data is loaded); 1.0 for an unknown task."""
    import importlib

    from gvgap.tasks import REGISTRY

    if task not in REGISTRY:
        return 1.0
    module, cls = REGISTRY[task].split(":")
    return float(getattr(importlib.import_module(module), cls).u_max)


def task_u_max(cfg) -> float:
    return u_max(str(cfg.task.name))


# -- every run of a sweep ------------------------------------------------------------------------
def find_runs(root) -> list[Path]:
    """Run directories below root (root itself included), in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    found = []
    for cfg in sorted(root.rglob("config.yaml")):
        run = cfg.parent
        if any(p in SKIP_DIRS for p in run.relative_to(root).parts):
            continue
        if (run / "metrics.jsonl").exists() or any(run.glob("round_*/metrics.json")):
            found.append(run)
    return found


def read_rounds(run) -> list[dict]:
    """Metrics of every finished round: metrics.jsonl, else round_NN/metrics.json."""
    run = Path(run)
    lines = run / "metrics.jsonl"
    if lines.exists():
        rows = [json.loads(x) for x in lines.read_text().splitlines() if x.strip()]
        if rows:
            return rows
    out = []
    for p in sorted(run.glob("round_*/metrics.json")):
        m = A.read_json(p)
        m.setdefault("round", int(re.sub(r"\D", "", p.parent.name) or 0))
        out.append(m)
    return out


def read_config(run) -> dict:
    return yaml.safe_load((Path(run) / "config.yaml").read_text()) or {}


def hydra_choices(run) -> dict:
    """The config-group options Hydra chose for this job (e.g. verifier: cot_score)."""
    path = Path(run) / ".hydra" / "hydra.yaml"
    if not path.exists():
        return {}
    try:
        return (yaml.safe_load(path.read_text()) or {}).get("hydra", {}).get("runtime", {}).get("choices", {}) or {}
    except yaml.YAMLError:
        return {}


def verifier_name(run, metrics: list[dict], verifier: dict, choice: str | None) -> str:
    """The verifier's name: as metrics.json records it; for runs older than that record,
    the name its rows carry in verifications.parquet, the Hydra option, or the `name` its
    class declares."""
    for m in metrics:
        if m.get("verifier_name"):
            return str(m["verifier_name"])
    path = A.round_dir(run, 0) / "verifications.parquet"
    if path.exists():  # only the names column: cheap even for millions of rows
        names = [n for n in A.read_parquet(path, columns=["verifier"])["verifier"].astype(str).unique() if "/" not in n]
        if names:
            return names[0]
    if choice:
        return str(choice)
    target = str(verifier.get("_target_", ""))
    try:
        from hydra.utils import get_class

        return str(get_class(target).name)
    except Exception:  # an unknown or moved class: its short name still tells the reader
        return target.rsplit(".", 1)[-1] or "unknown"


def describe(node: dict | None) -> str:
    """`quantile(q=0.8)`: a weight function or updater in one short string."""
    if not node:
        return "none"
    name = str(node.get("_target_", "?")).rsplit(".", 1)[-1].lower()
    args = [f"{k}={v}" for k, v in node.items()
            if k != "_target_" and not isinstance(v, (dict, list)) and not (k == "nan_weight" and v == 0)]
    return f"{name}({', '.join(args)})" if args else name


def num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def model_info(m: dict | None, prefix: str = "") -> dict:
    """Name, family, parameters, pre-training tokens and FLOPs (6 N D) of a model config."""
    m = m or {}
    params, tokens = num(m.get("params")), num(m.get("train_tokens"))
    flops = 6.0 * params * tokens
    return {f"{prefix}model": m.get("name", "?"), f"{prefix}family": m.get("family") or m.get("name", "?"),
            f"{prefix}params": params, f"{prefix}train_tokens": tokens, f"{prefix}flops": flops,
            f"{prefix}log10_flops": math.log10(flops) if flops > 0 else math.nan}


def flatten_metrics(m: dict) -> dict:
    """Scalars of a metrics dict; one level of nesting as `a.b`; pass_at_k as `pass@k`."""
    out = {}
    for k, v in m.items():
        if k in ("verifier", "weight_fn"):
            continue
        if k == "pass_at_k" and isinstance(v, dict):
            out.update({f"pass@{kk}": num(vv) for kk, vv in v.items()})
        elif isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items() if isinstance(vv, (int, float)) or vv is None})
        elif isinstance(v, (int, float)) or v is None:
            out[k] = math.nan if v is None else v
    return out


def run_info(run, root, metrics: list[dict] | None = None) -> dict:
    """What identifies a run in a sweep table: models, verifier, weights, task, settings."""
    cfg, ch = read_config(run), hydra_choices(run)
    v = cfg.get("verifier") or {}
    gen = cfg.get("generation") or {}
    info = {"run": str(Path(run).relative_to(root)) if Path(run) != Path(root) else ".",
            **model_info(cfg.get("model")),
            "verifier": verifier_name(run, metrics or [], v, ch.get("verifier")),
            "verifier_model": v["model"].get("name", "?") if isinstance(v.get("model"), dict) else "self",
            "num_verifications": int(v.get("num_verifications", 1) or 1),
            "weight_fn": describe(cfg.get("weight_fn")),
            "updater": ch.get("updater") or describe(cfg.get("updater")).split("(")[0],
            "task": (cfg.get("task") or {}).get("name", "?"),
            "temperature": num(gen.get("temperature")), "n_samples": gen.get("n_samples"),
            "seed": cfg.get("seed"), "iterations": cfg.get("iterations", 0)}
    if info["verifier"] == "oracle":  # ground truth: whatever verifier.model says is unused
        info["verifier_model"] = "gold"
    if info["verifier_model"] not in ("self", "gold"):
        vm = model_info(v["model"], "verifier_")
        info.update({k: vm[k] for k in ("verifier_params", "verifier_flops", "verifier_log10_flops")})
    if info["verifier"] == "tournament":
        info["tournament_rounds"] = int(v.get("rounds", 0) or 0)
    return info
