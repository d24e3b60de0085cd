"""task.train_split: each round samples, verifies and measures the held-out test prompts
and, in round_NN/train/, the train prompts; the update trains on the train prompts only;
the splits share no question (nor a few-shot exemplar); a kill in a train-side stage
resumes; a task without a train split fails at validation."""

from __future__ import annotations

import json
from math import comb

import numpy as np
import pandas as pd
import pytest

from gvgap import rundir_guard as G
from gvgap.config import ConfigError, validate
from gvgap.pipeline import build_task, run
from gvgap.stage_process import StageFailed
from gvgap.tasks import get_task
from tests.conftest import REPO, compose
from tests.split_stubs import n_correct

N = 4
STUB = ["model=tiny_random", "logger=none", "debug=smoke", "generation.num_shots=0", f"generation.n_samples={N}",
        "engine._target_=tests.split_stubs.StubEngine", "verifier=oracle", "weight_fn=quantile", "weight_fn.q=0",
        "iterations=1", "updater=none", "updater._target_=tests.split_stubs.RecordingUpdater",
        "task.limit=3", "task.train_split=train", "task.train_limit=5"]


def hand_metrics(questions: list[str]) -> dict:
    """Accuracy and pass@k of StubEngine's samples, from its rule alone (unbiased estimator)."""
    cs = [n_correct(q, N) for q in questions]
    return {"accuracy": sum(cs) / (N * len(cs)),
            "pass_at_k": {str(k): float(np.mean([1 - comb(N - c, k) / comb(N, k) for c in cs])) for k in (1, 2, 4)}}


def check_round(run_dir, t, cfg):
    task = build_task(cfg)
    test, train = task.problems(), task.problems("train")
    rd = run_dir / f"round_{t:02d}"
    m = json.loads((rd / "metrics.json").read_text())
    # the evaluation side is unchanged: the test prompts, in the round's own folder
    assert set(pd.read_parquet(rd / "generations.parquet")["prompt_id"]) == {p.id for p in test}
    assert m["n_prompts"] == 3 and m["accuracy"] == pytest.approx(hand_metrics([p.question for p in test])["accuracy"])
    # the train side: its own folder, its own prompts, its metrics under `train`
    gens = pd.read_parquet(rd / "train/generations.parquet")
    assert set(gens["prompt_id"]) == {p.id for p in train} and len(gens) == 5 * N
    want = hand_metrics([p.question for p in train])
    assert m["train"]["n_prompts"] == 5
    assert m["train"]["accuracy"] == pytest.approx(want["accuracy"]) == pytest.approx(gens["utility"].mean())
    assert m["train"]["pass_at_k"] == pytest.approx(want["pass_at_k"])
    assert 0 < want["accuracy"] < 1 and want["accuracy"] != hand_metrics([p.question for p in test])["accuracy"]
    return m


def test_update_trains_on_train_prompts_only_and_both_sides_are_measured(tmp_path, fresh_cache):
    cfg = compose(STUB)
    rounds = run(cfg, tmp_path)
    task = build_task(cfg)
    train_prompts = {p.id: task.build_prompt(p) for p in task.problems("train")}
    test_questions = {p.question for p in task.load("test")}
    for t in (0, 1):
        m = check_round(tmp_path, t, cfg)
        assert rounds[t] == m  # what run() returned (and handed the logger) carries `train` too
    rows = json.loads((tmp_path / "round_00/model/records.json").read_text())["rows"]
    assert len(rows) == 5 * N and {r["prompt_id"] for r in rows} == set(train_prompts)
    assert all(r["prompt"] == train_prompts[r["prompt_id"]] for r in rows)
    assert not any(q in r["prompt"] for r in rows for q in test_questions)
    # round 1 was sampled from round 0's model, on both sides
    assert G.stored_key(tmp_path / "round_01/train", "generations") != G.stored_key(tmp_path / "round_00/train", "generations")
    assert not (tmp_path / "round_01/model").exists() and not (tmp_path / "round_00/train/model").exists()
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [x["train"]["accuracy"] for x in lines] == [r["train"]["accuracy"] for r in rounds]
    report = (tmp_path / "report.md").read_text()
    assert "## Train prompts (task.train_split)" in report and f"| 0 | {rounds[0]['train']['accuracy']:.4f} |" in report


def test_without_train_split_the_update_trains_on_the_evaluation_prompts(tmp_path, fresh_cache):
    cfg = compose([o for o in STUB if not o.startswith("task.train_")])
    rounds = run(cfg, tmp_path)
    assert "train" not in rounds[0] and not (tmp_path / "round_00/train").exists()
    rows = json.loads((tmp_path / "round_00/model/records.json").read_text())["rows"]
    assert {r["prompt_id"] for r in rows} == {p.id for p in build_task(cfg).problems()}


def test_iterations_zero_measures_both_sides(tmp_path, fresh_cache):
    cfg = compose(STUB + ["iterations=0"])
    run(cfg, tmp_path)
    check_round(tmp_path, 0, cfg)
    assert not (tmp_path / "round_00/model").exists()


@pytest.mark.parametrize("mode", ["always", "never"])
def test_a_kill_in_a_train_stage_resumes(tmp_path, monkeypatch, mode):
    """The first train prompt's sampling dies (SIGKILL in a stage child; an exception in
    process); the rerun keeps the finished evaluation samples and completes the round."""
    monkeypatch.setenv("GVGAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    log = tmp_path / "stub.log"
    monkeypatch.setenv("STUB_LOG", str(log))
    cfg = compose(STUB + [f"stage_processes={mode}"])
    first_train = build_task(cfg).problems("train")[0].question
    monkeypatch.setenv("STUB_KILL", first_train)
    if mode == "never":  # in process: the same crash as an exception, not a kill of pytest
        monkeypatch.setattr("tests.split_stubs.os.kill", _raise)
    with pytest.raises(StageFailed if mode == "always" else RuntimeError) as e:
        run(cfg, tmp_path / "r")
    if mode == "always":
        assert "train_generate stage of round 0" in str(e.value) and "SIGKILL" in str(e.value)
    rd = tmp_path / "r/round_00"
    assert G.reusable(rd, "generations", G.stored_key(rd, "generations"))
    assert not (rd / "train/generations.parquet").exists() and not (rd / "metrics.json").exists()
    eval_key_mtime = G.key_path(rd, "generations").stat().st_mtime_ns
    sampled_before = log.read_text().splitlines()

    monkeypatch.delenv("STUB_KILL")
    run(cfg, tmp_path / "r")
    assert G.key_path(rd, "generations").stat().st_mtime_ns == eval_key_mtime  # not sampled again
    test_questions = {p.question for p in build_task(cfg).problems()}
    resumed = log.read_text().splitlines()[len(sampled_before):]
    round0 = resumed[: 5]  # round 0's rerun sampled only the 5 train prompts
    assert not any(line.split(" ", 1)[1] in test_questions for line in round0)
    for t in (0, 1):
        check_round(tmp_path / "r", t, cfg)
    rows = json.loads((rd / "model/records.json").read_text())["rows"]
    assert {r["prompt_id"] for r in rows} == {p.id for p in build_task(cfg).problems("train")}


def _raise(pid, sig):
    raise RuntimeError("stub engine: crashed on a train prompt")


# -- the splits ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed, size", [(0, 64), (3, 2000)])
def test_arithmetic_train_and_test_share_no_question(seed, size):
    task = get_task("arithmetic", seed=seed, size=size)
    train, test = task.problems("train"), task.load("test")
    assert len(train) >= 900
    shared = {p.question for p in train} & ({p.question for p in test} | task.exemplar_questions())
    assert not shared
    # the filter did the work: the raw train stream does draw some test stories at this size
    raw = {p.question for p in task.load("train")}
    if size == 2000:
        assert raw & {p.question for p in test}
    assert len(task.exemplar_questions()) == 16 and task.exemplar_questions() <= raw


def test_train_limit_is_a_seeded_subset():
    a = get_task("arithmetic", seed=1, train_limit=7).problems("train")
    b = get_task("arithmetic", seed=1, train_limit=7).problems("train")
    c = get_task("arithmetic", seed=2, train_limit=7).problems("train")
    full = get_task("arithmetic", seed=1).problems("train")
    assert len(a) == 7 and a == b and a != c and {p.id for p in a} <= {p.id for p in full}
    assert get_task("arithmetic", seed=1, limit=3, train_limit=7).problems() != a  # limit cuts test only


def test_gsm8k_train_excludes_the_exemplars_and_test():
    from gvgap.tasks.gsm8k import EXEMPLAR_IDX

    task = get_task("gsm8k", num_shots=2)
    raw, train = task.load("train"), task.problems("train")
    exemplar_ids = {raw[i].id for i in EXEMPLAR_IDX}
    assert len(exemplar_ids) == 8 and not exemplar_ids & {p.id for p in train}  # all 8, not only the 2 shown
    assert len(train) == len(raw) - 8  # GSM8K's train and test share no question
    assert not {p.question for p in train} & {p.question for p in task.load("test")}
    prompt = task.build_prompt(train[0])
    assert all(raw[i].question in prompt for i in EXEMPLAR_IDX[:2])


def test_math_train_excludes_the_exemplars_and_test():
    from gvgap.tasks.math import EXEMPLAR_LINES

    task = get_task("math")
    try:
        raw, train = task.load("train"), task.problems("train")
        exemplars = {raw[i].question for i in EXEMPLAR_LINES}
        assert len(exemplars) == 8 and not exemplars & {p.question for p in train}
        assert not {p.question for p in train} & {p.question for p in task.load("test")}
        assert len(raw) - 8 - 10 <= len(train) <= len(raw) - 8
        assert len(get_task("math", train_limit=20).problems("train")) == 20
    finally:
        task.close()


# -- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["sudoku4", "nq_open", "math500"])
def test_a_task_without_train_split_fails_at_validation(task):
    with pytest.raises(ConfigError, match=rf"^task\.train_split: task '{task}' has no split 'train'") as e:
        validate(compose([f"task={task}", "task.train_split=train"]))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("overrides, message", [
    (["task.train_split=train", "task.train_limit=0"], r"task\.train_limit must be >= 1"),
    (["task.train_limit=4"], r"task\.train_limit needs task\.train_split"),
    (["task.train_split=test"], r"task\.train_split: task 'arithmetic' has no split 'test' to train on"),
    (["task.train_split=validation"], r"has no split 'validation' to train on \(has: train\)"),
])
def test_train_split_values_are_checked(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose(overrides))
    validate(compose(["task.train_split=train", "task.train_limit=4", "iterations=0"]))  # fine: measures both


def test_remeasure_reproduces_the_train_metrics(tmp_path, fresh_cache):
    from gvgap.analysis.remeasure import reproduce

    run(compose(STUB + ["iterations=0"]), tmp_path)
    assert reproduce(tmp_path)[0]["equal"]
    m = json.loads((tmp_path / "round_00/metrics.json").read_text())
    m["train"]["accuracy"] += 0.125  # a stored train value that the samples do not give
    (tmp_path / "round_00/metrics.json").write_text(json.dumps(m))
    assert reproduce(tmp_path)[0]["differs"] == ["train"]


def test_real_engine_and_sft_update_on_the_train_prompts(tmp_path, fresh_cache):
    """The tiny random model through the HF engine, MC self-verification and a real SFT step:
    the update's record counts the train prompts (3), not the test prompts (2)."""
    from gvgap.updaters.base import read_record

    cfg = compose(["model=tiny_random", "logger=none", "debug=smoke", "generation.num_shots=0",
                   "generation.max_new_tokens=8", "engine.progress=false", "weight_fn=quantile", "weight_fn.q=0",
                   "iterations=1", "updater=sft", "updater.max_steps=1", "updater.learning_rate=3e-2",
                   "task.train_split=train", "task.train_limit=3"])
    rounds = run(cfg, tmp_path)
    rec = read_record(tmp_path / "round_00/model")
    assert (rec["n_prompts"], rec["n_kept"]) == (3, 3 * 4)
    assert [r["n_prompts"] for r in rounds] == [2, 2] and [r["train"]["n_prompts"] for r in rounds] == [3, 3]
    g0, g1 = (pd.read_parquet(tmp_path / f"round_0{t}/train/generations.parquet")["completion"].tolist() for t in (0, 1))
    assert g0 != g1  # round 1's train samples came from the updated model
