"""Stages in child processes (stage_processes): the same results as in-process, a parent
that never imports vLLM, a dying child reported with its exit code, and a rerun resuming."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from gvgap import rundir_guard as G
from gvgap.config import ConfigError, validate
from gvgap.pipeline import run
from gvgap.stage_process import StageFailed, use_children
from tests.conftest import REPO, compose

TWO_ROUNDS = ["model=tiny_random", "logger=none", "debug=smoke", "generation.num_shots=0",
              "generation.max_new_tokens=8", "engine.progress=false", "iterations=1", "updater=sft",
              "updater.max_steps=2", "updater.learning_rate=3e-2"]


class _Forbidden:
    def __init__(self, *a, **k):
        raise AssertionError("the parent loaded a model although stages run in child processes")


def test_child_processes_give_the_in_process_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("GVGAP_CACHE", str(tmp_path / "cache_here"))  # separate caches: both really compute
    run(compose(TWO_ROUNDS + ["stage_processes=never"]), tmp_path / "here")

    monkeypatch.setenv("GVGAP_CACHE", str(tmp_path / "cache_child"))
    # the parent may neither load a model nor train: only the children can
    monkeypatch.setattr("gvgap.engines.hf.HFEngine", _Forbidden)
    monkeypatch.setattr("gvgap.updaters.sft.SFTUpdater.update", _Forbidden)
    rounds = run(compose(TWO_ROUNDS + ["stage_processes=always"]), tmp_path / "child")

    assert [r["round"] for r in rounds] == [0, 1]
    for t in (0, 1):
        here = (tmp_path / f"here/round_{t:02d}/metrics.json").read_text()
        child = (tmp_path / f"child/round_{t:02d}/metrics.json").read_text()
        assert child == here
        g_here = pd.read_parquet(tmp_path / f"here/round_{t:02d}/generations.parquet")
        g_child = pd.read_parquet(tmp_path / f"child/round_{t:02d}/generations.parquet")
        pd.testing.assert_frame_equal(g_child, g_here)
    # the update changed the model: round 1 was sampled from round_00/model, not the base model
    g0 = pd.read_parquet(tmp_path / "child/round_00/generations.parquet")["completion"].tolist()
    g1 = pd.read_parquet(tmp_path / "child/round_01/generations.parquet")["completion"].tolist()
    assert g0 != g1
    assert (tmp_path / "child/round_00/model/config.json").exists()
    assert not list((tmp_path / "child").glob(".*.error"))


def test_auto_mode_and_the_setting_is_checked():
    assert use_children(compose(["engine=vllm"]))
    assert not use_children(compose(["engine=vllm", "stage_processes=never"]))
    assert use_children(compose(["stage_processes=always"]))
    assert use_children(compose(["iterations=1", "updater.device=cuda"]))
    assert not use_children(compose(["iterations=1", "updater.device=cpu"]))
    assert not use_children(compose(["iterations=0", "updater.device=cuda"]))  # nothing trains
    with pytest.raises(ConfigError, match="stage_processes must be auto, always or never"):
        validate(compose(["stage_processes=sometimes"]))


# -- a fake vLLM the children import (on PYTHONPATH), so the parent's imports can be checked -----
FAKE_VLLM = '''
"""A stand-in for vllm: canned samples, made-up prompt log-probs, and failures on request."""
import os, signal, types

def _log(kind):
    with open(os.environ["FAKE_VLLM_LOG"], "a") as f:
        f.write(f"{os.getpid()} {kind}\\n")

class SamplingParams:
    def __init__(self, **kw):
        self.kw = kw

class LLM:
    def __init__(self, **kw):
        from gvgap.model.sources import byte_tokenizer
        self.tok = byte_tokenizer()
        _log("load")

    def get_tokenizer(self):
        return self.tok

    def generate(self, prompts, sampling_params=None, use_tqdm=True):
        if isinstance(sampling_params, list):
            _log("sample")
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f" The answer is {(sp.kw['seed'] + k) % 7}.")
                                                   for k in range(sp.kw["n"])]) for sp in sampling_params]
        fail = os.environ.get("FAKE_VLLM_FAIL")
        if fail == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if fail == "raise":
            raise RuntimeError("fake vLLM: CUDA out of memory")
        _log("score")
        outs = []
        for req in prompts:
            ids = req["prompt_token_ids"]
            plp = [None] + [{ids[k]: types.SimpleNamespace(logprob=-0.1 * (1 + (ids[k] + k) % 5))}
                            for k in range(1, len(ids))]
            outs.append(types.SimpleNamespace(prompt_token_ids=list(ids), prompt_logprobs=plp, outputs=[]))
        return outs
'''

VLLM_RUN = ["model=tiny_random", "engine=vllm", "engine.progress=false", "logger=none", "task.limit=2",
            "generation.n_samples=3", "generation.num_shots=0"]


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch):
    pkg = tmp_path / "fake" / "vllm"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(FAKE_VLLM))
    log = tmp_path / "fake_vllm.log"
    monkeypatch.setenv("FAKE_VLLM_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pkg.parent), str(REPO)]))
    monkeypatch.setenv("GVGAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(pkg.parent))  # importable by the parent too: it must not import it
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    return log


def _events(log):
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def test_killed_child_fails_the_run_and_a_rerun_resumes(tmp_path, monkeypatch, fake_vllm):
    monkeypatch.setenv("FAKE_VLLM_FAIL", "kill")  # dies (SIGKILL) when MC verification scores
    with pytest.raises(StageFailed) as e:
        run(compose(VLLM_RUN), tmp_path / "r")  # stage_processes=auto: on for vLLM
    msg = str(e.value)
    assert "verify stage of round 0" in msg and "exit code -9" in msg and "SIGKILL" in msg
    assert "\n" not in msg
    assert e.value.exit_code == 128 + 9
    assert "vllm" not in sys.modules  # the parent never imported vLLM
    if "torch" in sys.modules:  # nor initialised CUDA (trivially so on a CPU machine)
        assert not sys.modules["torch"].cuda.is_initialized()
    rd = tmp_path / "r/round_00"
    assert G.reusable(rd, "generations", G.stored_key(rd, "generations"))
    assert not (rd / "verifications.parquet").exists() and not (rd / "metrics.json").exists()
    gen_mtime = G.key_path(rd, "generations").stat().st_mtime_ns
    samples = [pid for pid, kind in _events(fake_vllm) if kind == "sample"]
    assert len(samples) == 1 and int(samples[0]) != os.getpid()

    monkeypatch.delenv("FAKE_VLLM_FAIL")
    rounds = run(compose(VLLM_RUN), tmp_path / "r")
    assert rounds[0]["n_verifications"] == 2 * 3
    assert G.key_path(rd, "generations").stat().st_mtime_ns == gen_mtime  # resumed: not sampled again
    kinds = [kind for _, kind in _events(fake_vllm)]
    assert kinds.count("sample") == 1 and kinds.count("score") >= 1
    assert "vllm" not in sys.modules


def test_cli_reports_a_failing_child_in_one_line_with_its_exit_code(tmp_path, monkeypatch, fake_vllm):
    monkeypatch.setenv("FAKE_VLLM_FAIL", "raise")
    out = subprocess.run([sys.executable, "-m", "gvgap", *VLLM_RUN, f"run_dir={tmp_path / 'r'}",
                          f"hydra.run.dir={tmp_path / 'hydra'}"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.startswith("gvgap:")]
    assert lines == ["gvgap: verify stage of round 0 failed in its child process (exit code 1): "
                     "RuntimeError: fake vLLM: CUDA out of memory; rerun the same command to resume"]
