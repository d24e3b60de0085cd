"""CPU facts that decide how engines run: does this CPU do bf16 matmuls natively?

bf16 halves memory traffic, but without AMX / AVX512-BF16 every bf16 matmul is
emulated and runs several times slower than float32 (measured on an AVX2-only AMD EPYC:
F.linear bf16 ~6 GFLOP/s vs float32 ~50 GFLOP/s on one thread). `dtype: auto` picks
bfloat16 only where it is native. The choice depends only on the CPU flags, never on a
timing, so it is the same on every run of one machine.
"""

from __future__ import annotations

from functools import lru_cache

_NATIVE_BF16 = ("amx_bf16", "avx512_bf16")


def _cpuinfo(field: str) -> str | None:
    """The value of the first `field` line of /proc/cpuinfo (None where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1]
    except OSError:
        pass
    return None


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    return frozenset((_cpuinfo("flags") or "").split())


def cpu_model() -> str:
    name = _cpuinfo("model name")
    if name is not None:
        return name.strip()
    import platform

    return platform.processor() or "unknown"


def native_bf16() -> bool:
    flags = cpu_flags()
    if any(f in flags for f in _NATIVE_BF16):
        return True
    import platform

    return platform.machine().lower() in ("arm64", "aarch64") and "bf16" in flags


def resolve_dtype(dtype: str, device: str = "cpu") -> str:
    """'auto' -> 'bfloat16' on GPUs and on CPUs with native bf16, else 'float32'."""
    if dtype != "auto":
        return dtype
    if not str(device).startswith("cpu"):
        return "bfloat16"
    return "bfloat16" if native_bf16() else "float32"
