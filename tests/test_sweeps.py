"""Sweep aggregation (gvgap.analysis: runs, tables, figures, scaling, sweeps) on synthetic run
directories written by hand with known values (no .hydra folder and no verifier_name in
their metrics: folders as older versions wrote them), and the literal command
`python -m gvgap -m experiment=scaling_qwen15 model=tiny_random debug=smoke`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gvgap.analysis import runs as R
from gvgap.analysis import scaling, sweeps, tables
from tests.conftest import REPO

TARGETS = {"mc": "gvgap.verifiers.mc.MCVerifier", "oracle": "gvgap.verifiers.oracle.OracleVerifier",
           "cot_binary": "gvgap.verifiers.cot.CoTBinaryVerifier", "cot_score": "gvgap.verifiers.cot.CoTScoreVerifier",
           "tournament": "gvgap.verifiers.tournament.TournamentVerifier"}
PNG = b"\x89PNG\r\n\x1a\n"


def model(name, params=None, tokens=None, family=None):
    return {"name": name, "source": "hub", "path": f"org/{name}", "params": params, "train_tokens": tokens,
            "family": family or name}


def make_run(root: Path, name: str, mdl: dict, verifier: str = "mc", *, utilities=None, scores=None,
             rounds=None, verifier_model=None, temperature=0.7, completions_tag="", extra_verifier=None):
    """A run directory as the pipeline writes it. utilities: [P, N]; scores: [P, N] or
    [P, N, m]; rounds: metrics dicts for metrics.jsonl (default: one round of zeros)."""
    run = root / name
    (run / "round_00").mkdir(parents=True)
    vcfg = {"_target_": TARGETS[verifier], "num_verifications": 1, "model": verifier_model, **(extra_verifier or {})}
    if scores is not None and np.asarray(scores).ndim == 3:
        vcfg["num_verifications"] = np.asarray(scores).shape[2]
    cfg = {"seed": 0, "iterations": max(0, len(rounds or [{}]) - 1),
           "generation": {"n_samples": 5, "temperature": temperature, "top_p": 0.9, "max_new_tokens": 16,
                          "num_shots": 4},
           "model": mdl, "task": {"name": "arithmetic", "limit": 2},
           "verifier": vcfg, "weight_fn": {"_target_": "gvgap.weight_fn.quantile.Quantile", "q": 0.8, "nan_weight": 0.0},
           "updater": {"_target_": "gvgap.updaters.none.NoUpdate"}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    if utilities is not None:
        u = np.asarray(utilities, dtype=float)
        s = np.asarray(scores, dtype=float)
        s = s[..., None] if s.ndim == 2 else s
        gens = [{"prompt_id": f"p{i}", "sample_id": j, "completion": f"p{i} s{j}{completions_tag}", "answer": None,
                 "utility": u[i, j], "weight": math.nan} for i in range(u.shape[0]) for j in range(u.shape[1])]
        ver = [{"prompt_id": f"p{i}", "sample_id": j, "verifier": verifier, "verification_id": k,
                "score": s[i, j, k], "raw": ""} for i in range(u.shape[0]) for j in range(u.shape[1])
               for k in range(s.shape[2])]
        pd.DataFrame(gens).to_parquet(run / "round_00" / "generations.parquet", index=False)
        pd.DataFrame(ver).to_parquet(run / "round_00" / "verifications.parquet", index=False)
    rounds = rounds or [{"accuracy": 0.0, "gap": 0.0, "gap_rel": 0.0}]
    for t, m in enumerate(rounds):
        m.setdefault("round", t)
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in rounds))
    return run


# two prompts, five samples; the MC scores below give hand-computable filters
U = [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0]]
S_MC = [[0.9, 0.1, 0.2, 0.3, 0.4], [0.2, 0.9, 0.8, 0.1, 0.1]]


def test_fit_line_matches_hand_values_and_numpy_polyfit():
    f = scaling.fit_line([1, 2, 3], [1, 3, 5])
    assert f["slope"] == pytest.approx(2.0) and f["intercept"] == pytest.approx(-1.0)
    assert f["r2"] == pytest.approx(1.0) and f["n"] == 3
    rng = np.random.default_rng(0)
    x, y = rng.normal(22, 1, 9), rng.normal(0.05, 0.03, 9)
    x[3] = np.nan  # non-finite pairs are ignored
    f = scaling.fit_line(x, y)
    ok = np.isfinite(x)
    slope, intercept = np.polyfit(x[ok], y[ok], 1)
    assert f["slope"] == pytest.approx(slope) and f["intercept"] == pytest.approx(intercept) and f["n"] == 8
    assert f["r2"] == pytest.approx(np.corrcoef(x[ok], y[ok])[0, 1] ** 2)
    assert math.isnan(scaling.fit_line([22, 22], [0.1, 0.2])["slope"])  # one distinct x: no line


def test_scaling_fit_per_family_from_run_metrics(tmp_path):
    # family A: FLOPs 1e21, 1e22, 1e23 (params x tokens / 6) and gap_rel 0.05, 0.15, 0.25
    for i, rel in enumerate([0.05, 0.15, 0.25]):
        make_run(tmp_path, f"a{i}", model(f"a-{i}", 10.0 ** (9 + i), 1e12 / 6, "famA"),
                 rounds=[{"accuracy": 0.5, "gap": rel / 2, "gap_rel": rel, "n_prompts": 10}])
    # family B: two models; a third run of B with another verifier is a separate line
    b = [(2e9, 1e12, 0.30), (8e9, 2e12, 0.10)]
    for i, (p, t, rel) in enumerate(b):
        make_run(tmp_path, f"b{i}", model(f"b-{i}", p, t, "famB"),
                 rounds=[{"accuracy": 0.4, "gap": 0.0, "gap_rel": rel}])
    make_run(tmp_path, "b_cot", model("b-0", 2e9, 1e12, "famB"), "cot_score",
             rounds=[{"accuracy": 0.4, "gap": 0.0, "gap_rel": 0.9}])
    df = tables.collect(tmp_path)
    assert len(df) == 6 and (df["paper_setting"] == "run: quantile(q=0.8)").all()  # no artifacts: own metrics
    table = scaling.scaling_table(df)
    fits = scaling.fits(table).set_index(["verifier", "family"])
    a = fits.loc[("mc", "famA")]
    assert a["slope"] == pytest.approx(0.1) and a["intercept"] == pytest.approx(-2.05) and a["n"] == 3
    xb = [math.log10(6 * p * t) for p, t, _ in b]
    slope, intercept = np.polyfit(xb, [r for *_, r in b], 1)
    assert fits.loc[("mc", "famB")]["slope"] == pytest.approx(slope)
    assert fits.loc[("mc", "famB")]["intercept"] == pytest.approx(intercept)
    assert fits.loc[("cot_score", "famB")]["n"] == 1 and math.isnan(fits.loc[("cot_score", "famB")]["slope"])
    paths = scaling.write(table, tmp_path / "out")
    written = pd.read_csv(tmp_path / "out" / "scaling.csv")
    assert sorted(written.loc[written["family"] == "famA", "flops"]) == pytest.approx([1e21, 1e22, 1e23])
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG and p.stat().st_size > 5000


def test_paper_settings_are_remeasured_from_stored_scores(tmp_path):
    make_run(tmp_path, "mc", model("m", 1e9, 1e12), utilities=U, scores=S_MC,
             rounds=[{"accuracy": 0.3, "gap": -1.0, "gap_rel": -1.0}])  # own metrics deliberately different
    df = tables.collect(tmp_path)
    row = df.iloc[0]
    # headline "top 0.8": per prompt only the top-scored sample (both correct) is kept
    assert row["paper_setting"] == "top 0.8"
    assert row["paper_gap"] == pytest.approx(0.7) and row["paper_gap_rel"] == pytest.approx(1.0)
    assert row["gap"] == -1.0  # the run's own value is kept beside it
    pt = tables.paper_table(tmp_path, df).set_index("setting")
    assert pt.loc["top 0.7", "gap"] == pytest.approx(0.2)
    assert pt.loc["top 0.7", "gap_rel"] == pytest.approx((0.3 / 0.8 + 0.1 / 0.6) / 2)
    assert pt.loc["tau=0.7", "gap"] == pytest.approx(0.45)
    assert pt.loc["tau=0.7", "gap_rel"] == pytest.approx((1.0 + 0.1 / 0.6) / 2)
    assert pt.loc["tau=0.8", "gap"] == pytest.approx(0.45)
    assert pt["accuracy"].tolist() == pytest.approx([0.3] * 4)


def test_ensembles_and_grouping_by_identical_generations(tmp_path):
    make_run(tmp_path, "mc", model("m"), "mc", utilities=U, scores=S_MC)
    make_run(tmp_path, "bin", model("m"), "cot_binary", utilities=U, scores=[[1, 1, 0, 0, 0], [0, 0, 1, 0, 0]])
    make_run(tmp_path, "other", model("m"), "cot_score", utilities=U, scores=[[9] * 5, [9] * 5], completions_tag="!")
    make_run(tmp_path, "gold", model("m"), "oracle", utilities=U, scores=U)
    df = tables.collect(tmp_path)
    groups = tables.shared_generation_groups(tmp_path, df)
    assert len(groups) == 1 and sorted(groups[0]["verifier"]) == ["cot_binary", "mc"]  # other gens, oracle: out
    table, per_prompt = tables.ensembles(tmp_path, groups[0])
    t = table.set_index("verifiers")
    assert t.loc["mc", "gap"] == pytest.approx(0.7)
    assert t.loc["cot_binary", "gap"] == pytest.approx(-0.05)
    assert t.loc["cot_binary", "gap_rel"] == pytest.approx((0.3 / 0.8 - 0.4 / 0.6) / 2)
    # AND: prompt 0 keeps sample 0 (correct); prompt 1 keeps nothing, so it keeps f (gap 0)
    assert t.loc["cot_binary+mc", "gap"] == pytest.approx(0.4)
    assert t.loc["cot_binary+mc", "gap_rel"] == pytest.approx(0.5) and t.loc["cot_binary+mc", "n_empty"] == 1
    assert per_prompt["cot_binary"] == pytest.approx([0.3, -0.4])
    written = sweeps.analyse(tmp_path)
    assert (tmp_path / "analysis" / "ensembles.csv") in written["ensembles"]
    assert (tmp_path / "analysis" / "gap_distribution.png").read_bytes()[:8] == PNG


def test_cross_verification_grid_is_ordered_by_flops(tmp_path):
    small, big = model("small", 1e9, 1e12 / 6, "f"), model("big", 1e11, 1e12 / 6, "f")
    gaps = {("small", "small"): 0.01, ("small", "big"): 0.05, ("big", "small"): -0.02, ("big", "big"): 0.03}
    for (g, v), gap in gaps.items():
        make_run(tmp_path, f"{g}_{v}", {"small": small, "big": big}[g], verifier_model={"small": small, "big": big}[v],
                 rounds=[{"accuracy": 0.5, "gap": gap, "gap_rel": gap * 2}])
    df = tables.collect(tmp_path)
    assert set(df["verifier_model"]) == {"small", "big"}
    grid = tables.cross_grids(df)["mc"]
    assert list(grid.index) == ["small", "big"] and list(grid.columns) == ["small", "big"]
    for (g, v), gap in gaps.items():
        assert grid.loc[g, v] == pytest.approx(100 * gap)
    assert scaling.scaling_table(df).empty  # cross-verification runs are not self-improvement points
    sweeps.analyse(tmp_path)
    assert (tmp_path / "analysis" / "cross_mc.png").read_bytes()[:8] == PNG
    assert pd.read_csv(tmp_path / "analysis" / "cross_mc.csv", index_col=0).loc["small", "big"] == pytest.approx(5.0)


def test_rounds_table_keeps_every_round_in_order(tmp_path):
    rounds = [{"accuracy": a, "weighted_accuracy": a + g, "gap": g, "gap_rel": g, "pass_at_k": {"1": a, "4": p4}}
              for a, g, p4 in [(0.2, 0.1, 0.6), (0.3, 0.02, 0.55), (0.32, 0.001, 0.5)]]
    make_run(tmp_path, "it", model("m"), "cot_binary", rounds=rounds)
    make_run(tmp_path, "single", model("m2"), "mc")
    written = sweeps.analyse(tmp_path)
    rd = pd.read_csv(tmp_path / "analysis" / "rounds.csv")
    assert rd["round"].tolist() == [0, 1, 2] and rd["accuracy"].tolist() == pytest.approx([0.2, 0.3, 0.32])
    assert rd["pass@4"].tolist() == pytest.approx([0.6, 0.55, 0.5])
    assert {p.name for p in written["rounds"]} >= {"rounds.png", "passk.png"}


def test_verification_variance_per_sample(tmp_path):
    # m = 2 verdicts per sample: (1, 0) -> p = 0.5, variance 0.25; (1, 1) and (0, 0) -> 0
    s = np.zeros((2, 5, 2))
    s[0, 0] = [1, 0]
    s[0, 1] = [1, 1]
    s[1, 2] = [0, 1]
    make_run(tmp_path, "var", model("m"), "cot_binary", utilities=U, scores=s)
    var = tables.variance(tmp_path, tables.collect(tmp_path))
    assert len(var) == 10
    assert sorted(var["variance"])[-2:] == pytest.approx([0.25, 0.25]) and var["variance"].sum() == pytest.approx(0.5)
    make_run(tmp_path, "unread", model("m2"), "cot_binary", utilities=U, scores=np.full((2, 5, 2), np.nan))
    sweeps.analyse(tmp_path)
    summary = pd.read_csv(tmp_path / "analysis" / "variance.csv").set_index("model")
    assert summary.loc["m", "mean"] == pytest.approx(0.05) and summary.loc["m", "share_below_0.05"] == pytest.approx(0.8)
    assert summary.loc["m2", "count"] == 0 and math.isnan(summary.loc["m2", "mean"])  # no verdict read: reported


def test_threshold_curves_for_cot_score_and_tournament(tmp_path):
    make_run(tmp_path, "cs", model("m"), "cot_score", utilities=U, scores=[[9, 2, 8, 1, 1], [3, 10, 10, 2, 1]])
    # tournament of 4 entrants (2 rounds); the fifth sample did not enter (-1)
    make_run(tmp_path, "to", model("m"), "tournament", utilities=U, scores=[[2, 0, 1, 0, -1], [0, 1, 0, 2, -1]],
             extra_verifier={"rounds": 2})
    df = tables.collect(tmp_path)
    th = tables.thresholds(tmp_path, df)
    cs = th[th["verifier"] == "cot_score"].set_index("x")
    assert list(cs.index) == [float(t) for t in range(1, 11)]
    # tau 9: prompt 0 keeps sample 0 (correct, 1.0); prompt 1 keeps samples 1 and 2 (0.5)
    assert cs.loc[9.0, "weighted_accuracy"] == pytest.approx(0.75) and cs.loc[9.0, "gap"] == pytest.approx(0.45)
    to = th[th["verifier"] == "tournament"].set_index("x")
    assert list(to.index) == [0.0, 1.0, 2.0]
    # round 2 (champions): sample 0 of prompt 0 (correct), sample 3 of prompt 1 (wrong)
    assert to.loc[2.0, "weighted_accuracy"] == pytest.approx(0.5)
    # round 0: the 4 entrants; prompt 0 has 1/4 correct, prompt 1 has 2/4
    assert to.loc[0.0, "weighted_accuracy"] == pytest.approx((0.25 + 0.5) / 2)
    head = df.set_index("verifier").loc["tournament"]
    assert head["paper_setting"] == "round 2" and head["paper_gap"] == pytest.approx(0.5 - 0.3)
    sweeps.analyse(tmp_path)
    assert (tmp_path / "analysis" / "tournament.png").read_bytes()[:8] == PNG


def test_command_line_entry_points(tmp_path):
    for i, rel in enumerate([0.0, 0.1]):
        make_run(tmp_path / "sweep", f"r{i}", model(f"x{i}", 10.0 ** (9 + i), 1e12, "fam"),
                 rounds=[{"accuracy": 0.5, "gap": rel, "gap_rel": rel}])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "gvgap.analysis.scaling", str(tmp_path / "sweep"),
                          "--out", str(tmp_path / "sc")], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    fit = pd.read_csv(tmp_path / "sc" / "scaling_fit.csv")
    assert fit.loc[fit["y"] == "paper_gap_rel", "slope"].iloc[0] == pytest.approx(0.1)
    assert (tmp_path / "sc" / "scaling_gap_rel.png").exists()
    with pytest.raises(SystemExit, match="no gvgap runs"):
        sweeps.main([str(tmp_path / "sc")])


def test_one_command_runs_a_recipe_and_its_aggregation(tmp_path):
    """The whole chain with no shell script: the multirun, then the callback's tables."""
    sweep = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": str(REPO), "GVGAP_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "gvgap", "-m", "experiment=scaling_qwen15", "model=tiny_random", "debug=smoke",
           f"hydra.sweep.dir={sweep}"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = R.find_runs(sweep)
    assert len(jobs) == 3 and (sweep / "analysis" / "runs.csv").exists()  # written by the callback
    df = pd.read_csv(sweep / "analysis" / "runs.csv").set_index("verifier")
    assert sorted(df.index) == ["cot_binary", "cot_score", "mc"] and (df["model"] == "tiny-random-llama").all()
    paper = pd.read_csv(sweep / "analysis" / "paper.csv").set_index(["verifier", "setting"])
    for job in jobs:
        own = json.loads((job / "round_00" / "metrics.json").read_text())
        kind = own["verifier_name"]
        gens = pd.read_parquet(job / "round_00" / "generations.parquet")
        ver = pd.read_parquet(job / "round_00" / "verifications.parquet")
        assert df.loc[kind, "n_prompts"] == 2 and df.loc[kind, "n_samples"] == 4
        assert df.loc[kind, "accuracy"] == pytest.approx(gens["utility"].mean())  # an independent recount
        assert df.loc[kind, "gap"] == pytest.approx(own["gap"])
        if kind == "cot_binary":  # headline "bin": keep samples judged correct, by hand with pandas
            s = ver.groupby(["prompt_id", "sample_id"])["score"].mean().rename("s")
            g = gens.join(s, on=["prompt_id", "sample_id"])
            kept = g[g["s"] >= 1.0]
            per_prompt = [kept.loc[kept.prompt_id == p, "utility"].mean() if (kept.prompt_id == p).any()
                          else g.loc[g.prompt_id == p, "utility"].mean() for p in g["prompt_id"].unique()]
            assert paper.loc[("cot_binary", "bin"), "gap"] == pytest.approx(np.mean(per_prompt) - g["utility"].mean())
    assert {"top 0.8", "top 0.7", "tau=0.7", "tau=0.8"} <= set(paper.loc["mc"].index)


def test_analysis_modules_import_no_cycle():
    """No import cycle among the analysis modules and the layers under them (static: every
    import, also those inside functions)."""
    import ast

    root = REPO / "gvgap"
    mods = {f"gvgap.analysis.{p.stem}": p for p in (root / "analysis").glob("*.py") if p.stem != "__init__"}
    mods |= {f"gvgap.{n}": root / f"{n}.py" for n in ("arrays", "artifacts", "measure", "analyze", "report")}
    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                deps |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = deps & set(mods)
    state = {}

    def visit(n, path):
        assert state.get(n) != "open", " -> ".join(path + [n])
        if state.get(n) == "done":
            return
        state[n] = "open"
        for d in sorted(graph[n]):
            visit(d, path + [n])
        state[n] = "done"

    for n in graph:
        visit(n, [])
    assert "gvgap.analysis.sweeps" not in graph["gvgap.analysis.scaling"]
