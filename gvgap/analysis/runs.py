"""Reading a run directory back, and command-line overrides in Hydra's `key=value` form.

A run directory holds config.yaml (the resolved config) and round_NN/ with
generations.parquet, verifications.parquet and metrics.json (see gvgap.artifacts).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from gvgap import artifacts as A

CONF_DIR = Path(__file__).resolve().parent.parent.parent / "conf"
GROUPS = ("verifier", "weight_fn", "engine")  # groups a re-analysis may swap (never model or task)


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
        if m and (d / "generations.parquet").exists() and (d / "verifications.parquet").exists():
            out.append(int(m.group(1)))
    if not out:
        raise FileNotFoundError(f"no round_NN/ with generations and verifications in {run_dir}")
    return out


def load_round(run_dir, t: int):
    rd = A.round_dir(run_dir, t)
    return A.read_parquet(rd / "generations.parquet"), A.read_parquet(rd / "verifications.parquet")


def task_u_max(cfg) -> float:
    """U_max of the run's task, read from its class (no data is loaded)."""
    import importlib

    from gvgap.tasks import REGISTRY

    module, cls = REGISTRY[cfg.task.name].split(":")
    return float(getattr(importlib.import_module(module), cls).u_max)


# -- overrides ---------------------------------------------------------------------------
def _split_values(text: str) -> list[str]:
    """Split "a,b,[c,d]" at top-level commas."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def parse_value(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def group_option(group: str, name: str) -> DictConfig:
    """conf/<group>/<name>.yaml, as `python -m gvgap <group>=<name>` would select it."""
    path = CONF_DIR / group / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        raise ValueError(f"{group}={name}: no such option (known: {', '.join(known)})")
    cfg = OmegaConf.load(path)
    cfg.pop("defaults", None)  # the option's schema: validate() checks the values against it
    return cfg


def parse_overrides(args: list[str]) -> tuple[dict, dict, dict]:
    """Split `key=value` arguments into (options, group choices, dotted overrides).

    options: keys without a dot that are not config groups (out=, rounds=...).
    group choices: `verifier=cot_score`, `weight_fn=quantile`.
    dotted overrides: `weight_fn.q=0.5,0.6` -> {"weight_fn.q": [0.5, 0.6]} (a list: a sweep).
    """
    options, groups, dotted = {}, {}, {}
    for arg in args:
        if "=" not in arg:
            raise ValueError(f"expected key=value, got {arg!r}")
        key, text = arg.split("=", 1)
        key = key.lstrip("+")
        if "." in key:
            dotted[key] = [parse_value(v) for v in _split_values(text)]
        elif key in GROUPS:
            groups[key] = text
        else:
            options[key] = text
    return options, groups, dotted


def apply(cfg: DictConfig, groups: dict, dotted: dict) -> list[tuple[dict, DictConfig]]:
    """Every config of the sweep: the group choices, then each combination of dotted values.

    `verifier.model=<name>` with a name from conf/model/ selects that model config.
    Returns [(the swept values of this combination, config)].
    """
    base = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    for group, name in groups.items():
        base[group] = group_option(group, name)
    keys = list(dotted)
    combos = []
    for values in itertools.product(*(dotted[k] for k in keys)):
        c = base.copy()
        for k, v in zip(keys, values):
            if k == "verifier.model" and isinstance(v, str):
                v = OmegaConf.to_container(group_option("model", v))
            OmegaConf.update(c, k, v, force_add=True)
        combos.append(({k: v for k, v in zip(keys, values) if len(dotted[k]) > 1}, c))
    return combos
