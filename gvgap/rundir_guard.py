"""A run folder is never silently reused by another config.

Three guards:
- Each stage output has a key file beside it (`round_NN/<stage>.key.json`, written
  atomically after the output), holding the content key of everything that output depends
  on. An output is reused only when its recorded key equals the key the current config
  computes; otherwise the stage runs again. A killed stage leaves no key, so it reruns.
- `check_folder` compares the folder's `config.yaml` with the new config before anything
  is written, and refuses (RunFolderConflict, one line naming the differing keys) when a
  key that changes results differs. `+overwrite=true` deletes the folder's gvgap outputs
  and starts it fresh.
- The default folder name carries a per-process id (resolver `gvgap_run_id` in
  gvgap/resolvers.py), so two runs started in the same second never share Hydra's
  `outputs/<date>/<time>` folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from omegaconf import OmegaConf

from gvgap import artifacts as A

# Keys whose value never changes a result: logging, progress bars, thread counts, where the
# run lives, how many further rounds are asked for, and how stages are run.
IGNORED = ("run_dir", "iterations", "stage_processes", "overwrite", "logger",
           "engine.progress", "engine.threads", "updater.logging_steps")

# what each stage writes inside round_NN: its output's path (relative)
OUTPUTS = {"generations": "generations.parquet", "verifications": "verifications.parquet",
           "metrics": "metrics.json", "model": "model/config.json"}

# -- per-stage key files --------------------------------------------------------------------


def key_path(rd: Path, stage: str) -> Path:
    return Path(rd) / f"{stage}.key.json"


def stored_key(rd: Path, stage: str) -> str | None:
    """The key recorded beside a stage's output, or None (never written, or unreadable)."""
    try:
        return A.read_json(key_path(rd, stage)).get("key")
    except (OSError, ValueError, AttributeError):
        return None


def reusable(rd: Path, stage: str, key: str) -> bool:
    """True when the stage's output exists and was produced under exactly this key."""
    return (Path(rd) / OUTPUTS[stage]).exists() and stored_key(rd, stage) == key


def record(rd: Path, stage: str, key: str) -> None:
    """Call after the output is written: marks it as the result of `key`."""
    A.write_json({"stage": stage, "key": key, "output": OUTPUTS[stage]}, key_path(rd, stage))


# -- the folder's config ----------------------------------------------------------------------


class RunFolderConflict(RuntimeError):
    """The run folder holds a run made with another config (one-line message)."""


def _flat(node, prefix: str = "") -> dict:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def _ignored(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in IGNORED)


def identity(node: dict, group: str) -> dict:
    """A config group without its IGNORED keys: what a stage key hashes (e.g. group "engine")."""
    return {k: v for k, v in node.items() if not _ignored(f"{group}.{k}")}


def result_keys(container: dict) -> dict:
    """Dotted key -> value for every key that can change a result."""
    return {k: v for k, v in _flat(container).items() if not _ignored(k)}


def differing_keys(old: dict, new: dict) -> list[str]:
    """Result keys whose values differ. A key missing on one side equals null on the other:
    a key added in a later gvgap version is null when it keeps the old behaviour, so folders
    written before it still resume."""
    a, b = result_keys(old), result_keys(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def check_folder(run_dir: Path, cfg, overwrite: bool = False) -> None:
    """Refuse a folder whose config.yaml differs in a result key; with overwrite, empty it."""
    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if overwrite:
        clear(run_dir)
        return
    if not path.exists():
        return
    old = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    keys = differing_keys(old, OmegaConf.to_container(cfg, resolve=True))
    if keys:
        shown = ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")
        raise RunFolderConflict(
            f"run folder {run_dir} holds a run with a different config: {shown}; "
            f"pass run_dir=<new folder>, or +overwrite=true to delete its results and start it fresh")


def clear(run_dir: Path) -> None:
    """Delete what gvgap wrote in a run folder (rounds, metrics, report, W&B, config);
    other files are left alone."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return
    for p in run_dir.iterdir():
        if re.fullmatch(r"round_\d+", p.name) or p.name in ("wandb", "report", "analysis"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
        elif p.name in ("config.yaml", "metrics.jsonl", "report.md"):
            p.unlink()

