"""Re-analysis from artifacts: reproduce metrics.json exactly, gap-vs-threshold tables and
plots, re-verification without generation, correlations, and the per-run report."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from gvgap import analyze
from gvgap import artifacts as A
from gvgap import metrics as M
from gvgap.arrays import matrix, prompt_order, score_matrix
from gvgap.pipeline import build_task, grade, measure_stage
from gvgap.verifiers.base import frame
from gvgap.weight_fn.threshold import Threshold
from tests.conftest import compose

PNG = b"\x89PNG\r\n\x1a\n"


def make_run(run_dir, overrides=(), seed=0):
    """A finished round 0 on disk, as the pipeline leaves it, from synthetic samples:
    arithmetic prompts, right or wrong answers, and MC-like scores that follow the truth."""
    cfg = compose(["model=tiny_random", "logger=none", "updater=none", "task.limit=12",
                   "generation.n_samples=8", *overrides])
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    A.write_text(OmegaConf.to_yaml(cfg, resolve=True), run_dir / "config.yaml")
    task = build_task(cfg)
    problems = task.problems()
    rng = np.random.default_rng(seed)
    texts = [[f"It is {p.gold + (0 if rng.random() < q else 1)}. The answer is "
              f"{p.gold + (0 if rng.random() < q else 1)}." for _ in range(8)]
             for p, q in zip(problems, rng.choice([0.0, 0.3, 0.6, 1.0], size=len(problems)))]
    gens = grade(task, problems, texts)
    u = gens["utility"].to_numpy()
    score = np.clip(0.5 * u + rng.random(len(u)) * 0.6, 0, 1)
    ver = frame([(r.prompt_id, r.sample_id, "mc", 0, float(s), "x") for r, s in zip(gens.itertuples(), score)])
    rd = A.round_dir(run_dir, 0)
    A.write_parquet(gens, rd / "generations.parquet")
    A.write_parquet(ver, rd / "verifications.parquet")
    measure_stage(cfg, task, gens, ver, rd, 0)
    return cfg, gens, ver


@pytest.fixture
def run(tmp_path):
    d = tmp_path / "run"
    make_run(d)
    return d


def test_remeasure_reproduces_metrics_json_exactly(run, capsys):
    assert analyze.main([str(run)]) == 0
    assert "reproduce metrics.json exactly" in capsys.readouterr().out
    again = A.read_json(run / "analysis" / "remeasured_round_00.json")
    assert again == A.read_json(run / "round_00" / "metrics.json")
    # a changed artifact is caught
    m = A.read_json(run / "round_00" / "metrics.json")
    m["gap"] += 1e-9
    A.write_json(m, run / "round_00" / "metrics.json")
    assert analyze.main([str(run)]) == 1
    assert "DIFFER" in capsys.readouterr().out and "gap" in capsys.readouterr().out + "gap"


def test_threshold_sweep_table_and_plot(run, capsys):
    assert analyze.main([str(run), "weight_fn=threshold", "weight_fn.tau=0.2,0.5,0.8"]) == 0
    out = run / "analysis"
    df = pd.read_csv(out / "gap_vs_threshold.csv")
    assert df["weight_fn.tau"].tolist() == [0.2, 0.5, 0.8]
    gens = A.read_parquet(run / "round_00" / "generations.parquet")
    ver = A.read_parquet(run / "round_00" / "verifications.parquet")
    ids = prompt_order(gens)
    u, s = matrix(gens, "utility", ids, 8), score_matrix(ver, ids, 8)
    for tau, row in zip([0.2, 0.5, 0.8], df.itertuples()):
        g = M.gap_metrics(u, Threshold(tau=tau)(s))
        assert row.gap == pytest.approx(g["gap"]) and row.weighted_accuracy == pytest.approx(g["weighted_accuracy"])
        assert row.gap_low <= row.gap <= row.gap_high
        assert row.kept == pytest.approx((s >= tau).mean())
    assert (out / "gap_vs_threshold.png").read_bytes()[:8] == PNG
    assert re.search(r"\| *0 *\| *Threshold *\| *0\.5000 *\|", (out / "gap_vs_threshold.md").read_text())
    # two swept keys: the product of their values
    assert analyze.main([str(run), "weight_fn=quantile", "weight_fn.q=0.5,0.9", "weight_fn.nan_weight=0,1",
                         "name=q"]) == 0
    assert len(pd.read_csv(out / "q.csv")) == 4


def test_sweep_rejects_bad_values_and_other_groups(run, capsys):
    assert analyze.main([str(run), "weight_fn=quantile", "weight_fn.q=0.5,2"]) == 2
    assert "weight_fn.q" in capsys.readouterr().err
    assert analyze.main([str(run), "verifier=oracle", "weight_fn.tau=1"]) == 2
    assert analyze.main([str(run), "weight_fn=nope"]) == 2
    assert "no such option" in capsys.readouterr().err
    assert analyze.main([str(run), "weight_fn.qq=1"]) == 2  # a key the run's config does not have
    assert "weight_fn.qq" in capsys.readouterr().err
    assert analyze.main([str(run), "weight_fn.q=[0.5"]) == 2  # Hydra's grammar: a syntax error, one line
    assert "weight_fn.q" in capsys.readouterr().err


def test_a_hydra_job_folder_is_a_run_not_an_override(tmp_path, capsys):
    job = tmp_path / "0_model=tiny_random,verifier=mc"  # how a multirun names its jobs
    make_run(job)
    assert analyze.main([str(job), "weight_fn=threshold", "weight_fn.tau=0.5"]) == 0
    assert (job / "analysis" / "gap_vs_threshold.csv").exists()


def test_reverify_with_oracle_uses_stored_generations(run, tmp_path, fresh_cache, capsys):
    out = tmp_path / "oracle"
    assert analyze.main(["reverify", str(run), "verifier=oracle", "weight_fn=threshold", "weight_fn.tau=1",
                         f"out={out}"]) == 0
    old = A.read_parquet(run / "round_00" / "generations.parquet")
    new = A.read_parquet(out / "round_00" / "generations.parquet")
    assert new["completion"].tolist() == old["completion"].tolist()
    assert not (fresh_cache / "generations").exists()  # nothing was generated
    m = A.read_json(out / "round_00" / "metrics.json")
    assert m["verifier"]["_target_"].endswith("OracleVerifier")
    ids = prompt_order(old)
    u = matrix(old, "utility", ids, 8)
    assert m["weighted_accuracy"] == pytest.approx(u.max(axis=1).mean())  # oracle + tau=1 = pass@N
    assert m["weighted_accuracy"] == m["pass_at_k"]["8"]
    assert (out / "report.md").exists() and (out / "metrics.jsonl").exists()
    assert analyze.main([str(out)]) == 0  # the new run reproduces itself too
    # correlations between the two runs' verifiers on the same samples
    assert analyze.main(["correlate", str(run), str(out), f"out={tmp_path / 'corr'}"]) == 0
    corr = pd.read_csv(tmp_path / "corr" / "correlation_scores.csv", index_col=0)
    ver = A.read_parquet(run / "round_00" / "verifications.parquet")
    want = M.pearson(score_matrix(ver, ids, 8), u)
    assert corr.loc["mc", "oracle"] == pytest.approx(want)
    gaps = pd.read_csv(tmp_path / "corr" / "correlation_gaps.csv", index_col=0)
    assert {"accuracy", "mc", "oracle"} <= set(gaps.index)
    assert (tmp_path / "corr" / "correlation_scores.png").read_bytes()[:8] == PNG


def test_reverify_refuses_changed_generation_settings(run, tmp_path, capsys):
    assert analyze.main(["reverify", str(run), "verifier=oracle", "generation.n_samples=4"]) == 2
    assert "generation differs" in capsys.readouterr().err
    assert analyze.main(["reverify", str(run)]) == 2
    assert analyze.main(["correlate", str(run), str(tmp_path)]) == 2


def test_correlate_refuses_runs_on_different_samples(run, tmp_path, capsys):
    other = tmp_path / "other"
    make_run(other, seed=5)
    assert analyze.main(["correlate", str(run), str(other)]) == 2
    assert "other generations" in capsys.readouterr().err


def test_report_lists_every_measurement(run):
    path = analyze.main(["report", str(run)])
    assert path == 0
    text = (run / "report.md").read_text()
    m = A.read_json(run / "round_00" / "metrics.json")
    assert f"| 0 | {m['accuracy']:.4f} | {m['weighted_accuracy']:.4f} | {m['gap']:.4f} [" in text
    for word in ("pass@8", "Diversity", "majority vote", "model: tiny-random-llama", "MCVerifier"):
        assert word in text
    assert (run / "report" / "pass_at_k.png").read_bytes()[:8] == PNG
    assert (run / "report" / "scores_round_00.png").read_bytes()[:8] == PNG


def test_pipeline_run_then_reverify_with_a_model(tmp_path, fresh_cache):
    """End to end on the tiny random model: a real run reproduces itself, and
    re-verification loads the verifier model but never samples new generations."""
    from gvgap.pipeline import run as run_pipeline

    cfg = compose(["model=tiny_random", "logger=none", "updater=none", "task.limit=2", "generation.n_samples=4",
                   "generation.max_new_tokens=6", "engine.progress=false"])
    src = tmp_path / "src"
    run_pipeline(cfg, str(src))
    assert analyze.main([str(src)]) == 0
    cached = sorted((fresh_cache / "generations").iterdir())
    out = tmp_path / "cot"
    assert analyze.main(["reverify", str(src), "verifier=cot_binary", "verifier.max_new_tokens=4",
                         "weight_fn=threshold", "weight_fn.tau=1", f"out={out}"]) == 0
    assert sorted((fresh_cache / "generations").iterdir()) == cached
    ver = A.read_parquet(out / "round_00" / "verifications.parquet")
    assert len(ver) == 8 and set(ver["verifier"]) == {"cot_binary"}
    m = json.loads((out / "round_00" / "metrics.json").read_text())
    assert m["n_verifications"] == 8 and m["n_unparseable"] == ver["score"].isna().sum()


def test_report_with_several_rounds_and_verifier_diagnostics(run):
    import shutil

    shutil.copytree(run / "round_00", run / "round_01")
    m = A.read_json(run / "round_01" / "metrics.json")
    m.update(round=1, accuracy=0.75, tournament={"first_position_win_rate": 0.5625, "judged_matches": 16,
                                                 "coin_flip_matches": 2},
             verification_variance={"mean": 0.125, "median": 0.0, "n_samples": 10, "histogram": {}},
             num_verifications=4)
    A.write_json(m, run / "round_01" / "metrics.json")
    from gvgap.report import write_report

    text = write_report(run).read_text()
    assert "| 1 | 0.7500 |" in text
    assert "first-position win rate 0.562 over 16 judged matches; 2 settled by coin" in text
    assert "verification variance p(1-p) over 10 samples: mean 0.1250" in text
    assert (run / "report" / "accuracy.png").read_bytes()[:8] == PNG


def test_tournament_round_sweep(tmp_path):
    from gvgap.verifiers.tournament import TournamentVerifier
    from gvgap.verifiers.base import VerifyInput

    d = tmp_path / "to"
    cfg, gens, _ = make_run(d, ["verifier=tournament", "verifier.rounds=3", "weight_fn=tournament"])
    task = build_task(cfg)
    problems = task.problems()
    texts = [gens[gens.prompt_id == p.id].sort_values("sample_id")["completion"].tolist() for p in problems]

    def judge(requests):  # prefers the solution whose stated answer is right
        return [f"Preferred solution: <{'B' if task.utility(p, b) > task.utility(p, a) else 'A'}>"
                for p, a, b in requests]

    ver = TournamentVerifier(rounds=3, judge=judge).verify(None, VerifyInput(task, problems, texts, seed=0))
    rd = A.round_dir(d, 0)
    A.write_parquet(ver, rd / "verifications.parquet")
    (rd / "metrics.json").unlink()
    measure_stage(cfg, task, gens, ver, rd, 0)
    assert analyze.main([str(d), "weight_fn.round=range(0,4)"]) == 0  # Hydra's sweep grammar
    df = pd.read_csv(d / "analysis" / "gap_vs_threshold.csv")
    assert df["kept"].tolist() == pytest.approx([1, 1 / 2, 1 / 4, 1 / 8])
    assert df["gap_vs_previous_round"].tolist() == pytest.approx(
        [df.weighted_accuracy[0] - df.accuracy[0], *np.diff(df.weighted_accuracy)])
    # a judge that knows the truth: the champion is right whenever any entrant is
    u = matrix(gens, "utility", prompt_order(gens), 8)
    assert df.weighted_accuracy.iloc[-1] == pytest.approx(u.max(axis=1).mean())
