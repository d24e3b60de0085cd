"""Run-directory files, written atomically (temp file + rename), so a killed run never
leaves a half-written artifact and resumes from its last finished stage.

Layout (a contract other tools read):
  <run>/round_NN/generations.parquet, verifications.parquet, metrics.json
  <run>/metrics.jsonl   one line per finished round
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

GEN_COLUMNS = ["prompt_id", "sample_id", "completion", "answer", "utility", "weight"]


def round_dir(run_dir: str | Path, t: int) -> Path:
    return Path(run_dir) / f"round_{t:02d}"


def atomic_write(path: str | Path, write) -> Path:
    """Call write(tmp) on a temp file beside `path`, then rename it over `path`: readers see
    the old file or the whole new one, never a part. The temp file is removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:  # on disk before the rename: a crash leaves old or new, not empty
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path




def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=columns)


def write_csv(df: pd.DataFrame, path: str | Path, index: bool = False) -> Path:
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=index))


def clean(obj):
    """JSON has no NaN: write null instead, so every JSON reader can read our files."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def write_text(text: str, path: str | Path) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(obj, path: str | Path) -> None:
    text = json.dumps(clean(obj), indent=2, sort_keys=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def write_metrics_jsonl(run_dir: str | Path, rounds: list[dict]) -> None:
    lines = "".join(json.dumps(clean(r), sort_keys=True) + "\n" for r in rounds)
    atomic_write(Path(run_dir) / "metrics.jsonl", lambda tmp: Path(tmp).write_text(lines))


def content_key(*parts) -> str:
    """A stable hash of JSON-able parts: the address of a cached artifact."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]
