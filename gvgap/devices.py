"""Whether this machine shows a GPU, decided from files (never through torch), so a parent
process that only plans the run initialises no CUDA context."""

from __future__ import annotations

import os
from pathlib import Path


def gpu_visible() -> bool:
    """An NVIDIA device node exists and CUDA_VISIBLE_DEVICES does not hide every GPU."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*"))


def trains_on_gpu(device: str) -> bool:
    """updater.device cuda, or auto with a GPU visible."""
    return device == "cuda" or (device == "auto" and gpu_visible())
