"""A run folder is never silently reused by another config: refusal naming the keys, an
identical rerun that redoes nothing, stage outputs reused only under their key, the
+overwrite=true restart, and a unique default folder per run."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from gvgap import rundir_guard as G
from gvgap.pipeline import run
from tests.conftest import REPO, compose

SMALL = ["model=tiny_random", "logger=none", "task.limit=2", "generation.n_samples=3",
         "generation.max_new_tokens=6", "generation.num_shots=0", "engine.progress=false"]


class _Forbidden:
    def __init__(self, *a, **k):
        raise AssertionError("a model was loaded although every stage was on disk")


def _stamps(run_dir):
    """mtime of every file gvgap wrote (outputs and key files), by relative path."""
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns
            for p in run_dir.rglob("*") if p.is_file() and p.name != "config.yaml"}


def test_other_verifier_is_refused_naming_verifier(tmp_path, fresh_cache):
    run(compose(SMALL), tmp_path / "r")
    before = (tmp_path / "r/config.yaml").read_text()
    stamps = _stamps(tmp_path / "r")
    with pytest.raises(G.RunFolderConflict) as e:
        run(compose(SMALL + ["verifier=oracle"]), tmp_path / "r")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"run folder {tmp_path / 'r'} holds a run with a different config: verifier.")
    assert "verifier._target_" in msg and "+overwrite=true" in msg and "run_dir=" in msg
    keys = msg.split(": ", 1)[1].split(";")[0].split(", ")
    assert all(k.startswith("verifier.") for k in keys)  # only what differs is named
    assert (tmp_path / "r/config.yaml").read_text() == before  # nothing was touched
    assert _stamps(tmp_path / "r") == stamps


def test_identical_rerun_redoes_nothing_and_harmless_changes_are_accepted(tmp_path, fresh_cache, monkeypatch):
    cfg = SMALL + ["iterations=1", "updater=sft", "updater.max_steps=1", "verifier=oracle"]
    run(compose(cfg), tmp_path / "r")
    stamps = _stamps(tmp_path / "r")
    assert {"round_00/generations.key.json", "round_00/verifications.key.json", "round_00/metrics.key.json",
            "round_00/model.key.json", "round_01/metrics.key.json"} <= set(stamps)
    monkeypatch.setattr("gvgap.engines.hf.HFEngine", _Forbidden)
    monkeypatch.setattr("gvgap.updaters.sft.SFTUpdater.update", _Forbidden)
    run(compose(cfg), tmp_path / "r")
    # progress bars, threads, the logger and the stage mode do not change results: not refused
    run(compose(cfg + ["engine.progress=true", "engine.threads=1", "stage_processes=never",
                       "updater.logging_steps=1"]), tmp_path / "r")
    changed = {k for k, v in _stamps(tmp_path / "r").items() if stamps.get(k) != v}
    assert all(k in ("metrics.jsonl", "report.md") or k.startswith("report/") for k in changed), changed


def test_a_stage_output_is_reused_only_under_its_key(tmp_path, fresh_cache):
    run(compose(SMALL + ["verifier=oracle"]), tmp_path / "r")
    rd = tmp_path / "r/round_00"
    stamps = _stamps(tmp_path / "r")
    # the verifications on disk claim another origin: they are redone (their true key is
    # the one the metrics were measured under, so the metrics stand)
    G.record(rd, "verifications", "0" * 24)
    run(compose(SMALL + ["verifier=oracle"]), tmp_path / "r")
    after = _stamps(tmp_path / "r")
    assert after["round_00/verifications.parquet"] != stamps["round_00/verifications.parquet"]
    assert G.stored_key(rd, "verifications") != "0" * 24
    assert after["round_00/generations.key.json"] == stamps["round_00/generations.key.json"]
    assert after["round_00/metrics.json"] == stamps["round_00/metrics.json"]
    G.record(rd, "metrics", "0" * 24)
    run(compose(SMALL + ["verifier=oracle"]), tmp_path / "r")
    assert _stamps(tmp_path / "r")["round_00/metrics.json"] != after["round_00/metrics.json"]
    # an output without its key file (killed between the two writes) is not trusted either
    G.key_path(rd, "generations").unlink()
    assert not G.reusable(rd, "generations", "anything")


def test_overwrite_starts_the_folder_fresh(tmp_path, fresh_cache):
    run(compose(SMALL), tmp_path / "r")
    (tmp_path / "r" / "notes.txt").write_text("mine")
    run(compose(SMALL + ["verifier=oracle", "+overwrite=true"]), tmp_path / "r")
    m = json.loads((tmp_path / "r/round_00/metrics.json").read_text())
    assert m["verifier"]["_target_"].endswith("OracleVerifier")
    assert (tmp_path / "r/notes.txt").read_text() == "mine"  # only gvgap's own files are removed
    # the folder now holds the oracle run: the old config is the one refused
    with pytest.raises(G.RunFolderConflict, match="verifier"):
        run(compose(SMALL), tmp_path / "r")


def test_differing_keys_skip_what_does_not_change_results():
    old = {"seed": 0, "iterations": 1, "logger": {"_target_": "a"}, "engine": {"progress": True, "dtype": "auto"},
           "verifier": {"_target_": "mc", "template": None}, "pass_at_k": [1, 2]}
    new = {"seed": 0, "iterations": 3, "logger": {"_target_": "b"}, "engine": {"progress": False, "dtype": "auto"},
           "verifier": {"_target_": "oracle"}, "pass_at_k": [1, 2], "run_dir": "x", "overwrite": True}
    assert G.differing_keys(old, new) == ["verifier._target_"]  # a missing key equals null
    assert G.differing_keys(old, {**old, "pass_at_k": [1]}) == ["pass_at_k"]
    # a key added by a later version: null (the old behaviour) resumes, a value does not
    newer = {**old, "task": {"train_split": None}, "verifier": {"_target_": "mc", "template": None, "num_shots": None}}
    assert G.differing_keys(old, newer) == []
    assert G.differing_keys(old, {**newer, "task": {"train_split": "train"}}) == ["task.train_split"]


def test_two_runs_started_at_once_get_different_folders(tmp_path):
    # each run stops at config validation, after Hydra made its (default) output folder
    cmd = [sys.executable, "-m", "gvgap", "generation.temperature=-1", "logger=none"]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for p in procs:
        p.communicate(timeout=300)
        assert p.returncode == 2
    folders = sorted(p for p in (tmp_path / "outputs").glob("*/*") if p.is_dir())
    assert len(folders) == 2
    for f in folders:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", f.parent.name)
        assert re.fullmatch(r"\d\d-\d\d-\d\d-[0-9a-f]{8}", f.name)
