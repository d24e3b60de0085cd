"""The W&B logger as a researcher meets it, checked by recording the calls gvgap makes
to the `wandb` module (tests/fake_wandb/wandb.py): a killed and resumed run is one W&B
run with each round once, a multirun's jobs share a group, and each round carries a
capped table of its samples. One test drives the real wandb (offline) through a resume."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gvgap import artifacts as A
from gvgap.logger.samples import samples_frame
from gvgap.logger.wandb import read_state, scalars
from tests.conftest import REPO, compose

FAKE_DIR = REPO / "tests" / "fake_wandb"
TWO_ROUNDS = ["model=tiny_random", "debug=smoke", "logger=wandb", "generation.num_shots=0",
              "generation.max_new_tokens=8", "engine.progress=false", "iterations=1", "updater=sft",
              "updater.max_steps=2", "stage_processes=never", "verifier=oracle"]


@pytest.fixture
def fake_wandb(monkeypatch):
    spec = importlib.util.spec_from_file_location("wandb", FAKE_DIR / "wandb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


class Killed(BaseException):
    """Stands for the process being killed in the middle of round 1."""


def calls(fake, kind):
    return [c for c in fake.CALLS if c["call"] == kind]


def test_a_killed_and_resumed_run_is_one_wandb_run_with_each_round_once(tmp_path, fresh_cache, fake_wandb,
                                                                         monkeypatch):
    from gvgap import pipeline

    cfg = compose(TWO_ROUNDS + ["logger.samples_table_rows=5"])
    real_generate = pipeline.generate_stage

    def generate_until_round_1(cfg, task, problems, model_path, pool, rd):
        if rd.name == "round_01":
            raise Killed()
        return real_generate(cfg, task, problems, model_path, pool, rd)

    monkeypatch.setattr(pipeline, "generate_stage", generate_until_round_1)
    with pytest.raises(Killed):
        pipeline.run(cfg, tmp_path)
    assert (tmp_path / "round_00/model/config.json").exists() and not (tmp_path / "round_01").exists()
    monkeypatch.setattr(pipeline, "generate_stage", real_generate)
    rounds = pipeline.run(cfg, tmp_path)  # the rerun restores round 0 from disk and runs round 1
    assert [m["round"] for m in rounds] == [0, 1]

    inits = calls(fake_wandb, "init")
    assert len(inits) == 2
    ids = {c["kwargs"]["id"] for c in inits}
    assert len(ids) == 1 and ids == {read_state(tmp_path)["id"]}
    assert all(c["kwargs"]["resume"] == "allow" for c in inits)
    assert inits[0]["config"]["generation"]["n_samples"] == 4 and inits[0]["config"]["task"]["limit"] == 2
    logs = calls(fake_wandb, "log")
    assert [c["data"]["round"] for c in logs] == [0, 1]  # round 0 only by the first process
    assert [c["step"] for c in logs] == [0, 1]
    assert {c["run_id"] for c in logs} == ids
    # the killed process closed its run as failed, the resumed one as finished
    assert [c["exit_code"] for c in calls(fake_wandb, "finish")] == [1, 0]
    assert read_state(tmp_path)["rounds"] == [0, 1]

    for t, entry in enumerate(logs):
        data, m = entry["data"], A.read_json(tmp_path / f"round_{t:02d}/metrics.json")
        assert data["accuracy"] == pytest.approx(m["accuracy"])
        assert data["gap_ci/low"] == pytest.approx(m["gap_ci"]["low"])
        assert data["pass_at_k/4"] == pytest.approx(m["pass_at_k"]["4"])
        assert data[f"pass_at_k_curve/round_{t:02d}"]["chart"]["table"]["table"]["data"] == \
            [[int(k), v] for k, v in m["pass_at_k"].items()]
        # the samples table: capped at 5 rows, each row the stored sample it names
        table = data["samples"]["table"]
        assert table["columns"] == ["round", "prompt_id", "sample_id", "completion", "answer", "utility",
                                    "score:oracle", "weight"]
        assert len(table["data"]) == 5
        gens = A.read_parquet(tmp_path / f"round_{t:02d}/generations.parquet").set_index(["prompt_id", "sample_id"])
        for row in table["data"]:
            stored = gens.loc[(row[1], row[2])]
            assert row[0] == t and row[3] == stored["completion"] and row[5] == stored["utility"]
            assert row[6] == stored["utility"]  # the oracle's score is the true utility
            assert row[7] == stored["weight"]


def test_samples_table_joins_mean_scores_and_caps_rows():
    gens = pd.DataFrame({"prompt_id": np.repeat(["p0", "p1", "p2"], 4), "sample_id": np.tile(range(4), 3),
                         "completion": [f"c{i}" for i in range(12)], "answer": [str(i) for i in range(12)],
                         "utility": [float(i % 2) for i in range(12)], "weight": [i / 10 for i in range(12)]})
    rows = []
    for i, (pid, sid) in enumerate(zip(gens["prompt_id"], gens["sample_id"])):
        rows += [(pid, sid, "ens", 0, 0.5, ""), (pid, sid, "ens/a", 0, i, ""), (pid, sid, "ens/a", 1, i + 2, ""),
                 (pid, sid, "ens/b", 0, float("nan") if i == 5 else 1.0, "")]
    ver = pd.DataFrame(rows, columns=["prompt_id", "sample_id", "verifier", "verification_id", "score", "raw"])
    ver = ver.sample(frac=1, random_state=0)  # row order must not matter

    full = samples_frame(gens, ver, t=3, max_rows=100)
    assert list(full.columns) == ["round", "prompt_id", "sample_id", "completion", "answer", "utility",
                                  "score:ens", "score:ens/a", "score:ens/b", "weight"]
    assert len(full) == 12 and (full["round"] == 3).all()
    assert full["score:ens/a"].tolist() == [i + 1.0 for i in range(12)]  # mean of i and i + 2
    assert np.isnan(full.loc[5, "score:ens/b"]) and full.loc[4, "score:ens/b"] == 1.0
    assert full["weight"].tolist() == gens["weight"].tolist()

    capped = samples_frame(gens, ver, t=3, max_rows=4)
    assert capped["completion"].tolist() == ["c0", "c4", "c7", "c11"]  # spread over the prompts
    assert capped["score:ens/a"].tolist() == [1.0, 5.0, 8.0, 12.0]
    assert samples_frame(gens, ver, t=3, max_rows=0).empty


def test_scalars_flatten_metrics_and_leave_out_what_is_not_a_number():
    m = {"accuracy": 0.5, "verifier_auroc": 0.75, "kept_precision": None, "gap_ci": {"low": -0.1, "high": 0.2},
         "pass_at_k": {"1": 0.5, "4": 0.9}, "members": {"mc": {"gap": 0.1}}, "verifier_name": "mc",
         "score_histogram": {"counts": [1, 2]}, "verifier": {"num_verifications": 1}, "weight_fn": {"q": 0.8},
         "n_prompts": 3, "flag": True}
    assert scalars(m) == {"accuracy": 0.5, "verifier_auroc": 0.75, "gap_ci/low": -0.1, "gap_ci/high": 0.2,
                          "pass_at_k/1": 0.5, "pass_at_k/4": 0.9, "members/mc/gap": 0.1, "n_prompts": 3}


def test_multirun_jobs_share_a_group_with_job_type_and_tags_from_the_sweep(tmp_path, fresh_cache):
    log = tmp_path / "calls.jsonl"
    env = {**os.environ, "PYTHONPATH": f"{FAKE_DIR}{os.pathsep}{REPO}", "FAKE_WANDB_LOG": str(log)}
    cmd = [sys.executable, "-m", "gvgap", "-m", "model=tiny_random", "verifier=oracle,mc", "logger=wandb",
           "task.limit=2", "generation.n_samples=2", "generation.max_new_tokens=4", "generation.num_shots=0",
           "engine.progress=false", "iterations=0", "hydra.sweep.dir=sweeps/s1"]
    out = subprocess.run(cmd, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    inits = [json.loads(x)["kwargs"] for x in log.read_text().splitlines() if json.loads(x)["call"] == "init"]
    assert len(inits) == 2
    assert {i["group"] for i in inits} == {"sweeps/s1"}
    assert sorted((i["job_type"], tuple(i["tags"])) for i in inits) == [
        ("verifier=mc", ("verifier=mc",)), ("verifier=oracle", ("verifier=oracle",))]
    assert len({i["id"] for i in inits}) == 2  # two jobs, two W&B runs


def test_a_sweep_over_models_tags_the_model_and_types_jobs_by_the_rest(tmp_path):
    from omegaconf import OmegaConf

    from gvgap.logger.sweep import identity

    sweep = tmp_path / "outputs" / "sw"
    (sweep / "0_x").mkdir(parents=True)
    OmegaConf.save({"hydra": {"overrides": {"task": ["seed=1", "weight_fn.q=0.5,0.8"]},
                              "sweeper": {"params": {"model": "a,b", "verifier": "mc"}}}}, sweep / "multirun.yaml")
    job = OmegaConf.create({"mode": "MULTIRUN", "runtime": {"output_dir": str(sweep / "0_x"), "cwd": str(tmp_path),
                                                            "choices": {"verifier": "mc"}},
                            "sweeper": {"params": {"model": "a,b", "verifier": "mc"}},
                            "overrides": {"task": ["seed=1", "weight_fn.q=0.8", "model=b", "verifier=mc"]}})
    assert identity(job) == {"group": "outputs/sw", "job_type": "weight_fn.q=0.8",
                             "tags": ["model=b", "weight_fn.q=0.8"]}
    # the command line wins over the recipe's grid: `model=b` alone is no sweep over models
    OmegaConf.save({"hydra": {"overrides": {"task": ["model=b", "seed=0,1"]},
                              "sweeper": {"params": {"model": "a,b"}}}}, sweep / "multirun.yaml")
    job.overrides.task = ["model=b", "seed=1"]
    assert identity(job)["tags"] == ["seed=1"]
    # only the model varies: the job type is the verifier option
    OmegaConf.save({"hydra": {"overrides": {"task": []}, "sweeper": {"params": {"model": "a,b"}}}},
                   sweep / "multirun.yaml")
    assert identity(job) == {"group": "outputs/sw", "job_type": "mc", "tags": ["model=b"]}
    job.mode = "RUN"
    assert identity(job) == {"group": None, "job_type": None, "tags": []}


def test_real_wandb_offline_resumes_the_same_run_id(tmp_path, fresh_cache):
    """The real wandb accepts the calls (id, resume, group, tables) and names both
    offline runs of a resumed folder with the folder's one id."""
    from gvgap.pipeline import run

    cfg = compose(["model=tiny_random", "logger=wandb", "logger.mode=offline", "task.limit=2",
                   "generation.n_samples=2", "generation.max_new_tokens=4", "generation.num_shots=0",
                   "engine.progress=false", "verifier=oracle"])
    run(cfg, tmp_path)
    run(cfg, tmp_path)
    run_id = read_state(tmp_path)["id"]
    dirs = sorted(p.name for p in (tmp_path / "wandb").glob("offline-run-*"))
    assert len(dirs) == 2 and all(d.endswith(f"-{run_id}") for d in dirs), dirs
    assert read_state(tmp_path)["rounds"] == [0]


def test_a_negative_table_size_fails_naming_the_field():
    from gvgap.config import ConfigError, validate

    with pytest.raises(ConfigError, match="logger.samples_table_rows must be an integer >= 0"):
        validate(compose(["logger.samples_table_rows=-1"]))


def test_overwrite_starts_a_new_wandb_run(tmp_path, fresh_cache, fake_wandb):
    from gvgap.pipeline import run

    small = ["model=tiny_random", "logger=wandb", "task.limit=2", "generation.n_samples=2",
             "generation.max_new_tokens=4", "generation.num_shots=0", "engine.progress=false", "verifier=oracle"]
    run(compose(small), tmp_path)
    run(compose(small + ["+overwrite=true"]), tmp_path)  # the folder's results deleted: a fresh run
    ids = [c["kwargs"]["id"] for c in calls(fake_wandb, "init")]
    assert len(ids) == 2 and ids[0] != ids[1] and ids[1] == read_state(tmp_path)["id"]
    assert [c["data"]["round"] for c in calls(fake_wandb, "log")] == [0, 0]  # round 0 once in each run
