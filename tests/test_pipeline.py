"""End to end through Hydra's compose with the tiny random model: artifacts, caching,
resume and reproducibility."""

import json

import numpy as np
import pandas as pd
import pytest

from gvgap import artifacts as A
from gvgap.measure import matrix, prompt_order
from gvgap.pipeline import run
from gvgap.verifiers.base import score_matrix
from gvgap.weight_fn.quantile import Quantile
from tests.conftest import compose

SMALL = ["model=tiny_random", "logger=none", "task.limit=3", "generation.n_samples=4",
         "generation.max_new_tokens=6", "engine.progress=false"]


def test_artifacts_follow_the_contract(tmp_path, fresh_cache):
    cfg = compose(SMALL)
    rounds = run(cfg, tmp_path)
    rd = tmp_path / "round_00"
    gens = pd.read_parquet(rd / "generations.parquet")
    ver = pd.read_parquet(rd / "verifications.parquet")
    metrics = json.loads((rd / "metrics.json").read_text())
    assert list(gens.columns[:6]) == A.GEN_COLUMNS
    assert len(gens) == 3 * 4 and set(gens["sample_id"]) == {0, 1, 2, 3}
    assert gens["prompt_id"].map(type).eq(str).all()
    assert list(ver.columns) == ["prompt_id", "sample_id", "verifier", "verification_id", "score", "raw"]
    assert ((ver["score"] > 0) & (ver["score"] < 1)).all()  # MC probabilities
    # the stored weights are the weight function applied to the stored scores
    ids = prompt_order(gens)
    expected = Quantile(q=0.8)(score_matrix(ver, ids, 4))
    assert np.array_equal(matrix(gens, "weight", ids, 4), expected)
    for key in ("accuracy", "weighted_accuracy", "gap", "gap_rel", "pass_at_k", "n_prompts",
                "n_samples", "n_empty", "n_saturated", "verifier", "weight_fn"):
        assert key in metrics
    assert metrics["n_prompts"] == 3 and metrics["n_samples"] == 4
    assert set(metrics["pass_at_k"]) == {"1", "2", "4"}
    assert metrics["weight_fn"]["q"] == 0.8
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["round"] == 0
    assert rounds[0]["gap"] == pytest.approx(metrics["gap"])
    assert (tmp_path / "config.yaml").exists()


def test_same_seed_same_generations(tmp_path, monkeypatch):
    for name in ("a", "b"):  # separate caches: both runs really sample
        monkeypatch.setenv("GVGAP_CACHE", str(tmp_path / f"cache_{name}"))
        run(compose(SMALL + ["verifier=oracle"]), tmp_path / name)
    a = (tmp_path / "a/round_00/generations.parquet").read_bytes()
    b = (tmp_path / "b/round_00/generations.parquet").read_bytes()
    assert a == b
    monkeypatch.setenv("GVGAP_CACHE", str(tmp_path / "cache_c"))
    run(compose(SMALL + ["verifier=oracle", "seed=1"]), tmp_path / "c")
    c = pd.read_parquet(tmp_path / "c/round_00/generations.parquet")
    assert not c["completion"].equals(pd.read_parquet(tmp_path / "a/round_00/generations.parquet")["completion"])


class _Forbidden:
    def __init__(self, *a, **k):
        raise AssertionError("a model was loaded although every stage was on disk or cached")


def test_resume_and_cache_skip_model(tmp_path, fresh_cache, monkeypatch):
    cfg = compose(SMALL)
    run(cfg, tmp_path / "r")
    first = (tmp_path / "r/round_00/metrics.json").read_text()
    # killed after generation: the run resumes from its last finished stage
    (tmp_path / "r/round_00/metrics.json").unlink()
    monkeypatch.setattr("gvgap.engines.hf.HFEngine", _Forbidden)
    run(compose(SMALL + ["engine._target_=gvgap.engines.hf.HFEngine"]), tmp_path / "r")
    assert (tmp_path / "r/round_00/metrics.json").read_text() == first
    # a new run dir with the same generation and verifier config hits the cache
    run(compose(SMALL), tmp_path / "s")
    assert (tmp_path / "s/round_00/metrics.json").read_text() == first
    # another weight function re-measures without any model
    run(compose(SMALL + ["weight_fn=threshold", "weight_fn.tau=0.5"]), tmp_path / "t")
    assert json.loads((tmp_path / "t/round_00/metrics.json").read_text())["weight_fn"]["tau"] == 0.5


def test_unparseable_scores_are_counted_and_weigh_nan_weight(tmp_path, fresh_cache, monkeypatch):
    from gvgap.verifiers import oracle

    real = oracle.OracleVerifier.verify

    def half_nan(self, engine, data):
        df = real(self, engine, data)
        df.loc[df["sample_id"] % 2 == 1, "score"] = np.nan
        return df

    monkeypatch.setattr(oracle.OracleVerifier, "verify", half_nan)
    run(compose(SMALL + ["verifier=oracle", "weight_fn=threshold", "weight_fn.tau=0"]), tmp_path)
    m = json.loads((tmp_path / "round_00/metrics.json").read_text())
    gens = pd.read_parquet(tmp_path / "round_00/generations.parquet")
    assert m["n_unparseable"] == 6
    assert (gens.loc[gens["sample_id"] % 2 == 1, "weight"] == 0).all()
    assert (gens.loc[gens["sample_id"] % 2 == 0, "weight"] == 1).all()


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    class Boom(Exception):
        pass

    def fail(tmp):
        open(tmp, "w").write("partial")
        raise Boom

    with pytest.raises(Boom):
        A.atomic_write(tmp_path / "metrics.json", fail)
    assert list(tmp_path.iterdir()) == []
