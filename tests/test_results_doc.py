"""`python -m gvgap.analyze results`: docs/results.md from run folders of the three CPU
studies. The numbers in the doc are metrics.json's, the intervals are the bootstrap of
gvgap.metrics (checked against hand values), times come from /usr/bin/time -v."""

import shutil
import subprocess

import numpy as np
import pytest
import yaml

from gvgap import analyze
from gvgap import artifacts as A
from gvgap import metrics as M
from gvgap.analysis import results as R
from gvgap.analysis.runs import load_round
from tests.test_analyze import PNG, make_run


def test_bootstrap_ci_hand_values():
    # mean of 2 resampled values of {0, 1}: 0, 1/2, 1 with probability 1/4, 1/2, 1/4
    assert R.bootstrap_ci([0.0, 1.0], n_boot=20000) == (0.0, 1.0)
    # 4 values {0,0,0,1}: k ones ~ Bin(4, 1/4); P(k=0)=0.32 > 2.5%, P(k>=3)=5.1% > 2.5% > P(k=4)=0.4%
    assert R.bootstrap_ci([0.0, 0.0, 0.0, 1.0], n_boot=20000) == (0.0, 0.75)
    assert R.bootstrap_ci([0.3] * 5) == pytest.approx((0.3, 0.3))


def test_bootstrap_ci_equals_metrics_gap_ci(tmp_path):
    """Same draws as metrics.bootstrap_gap_ci: the per-prompt gap gives metrics.json's gap_ci."""
    make_run(tmp_path / "r")
    a = load_round(tmp_path / "r", 0)
    m = A.read_json(tmp_path / "r" / "round_00" / "metrics.json")
    lo, hi = R.bootstrap_ci(M.prompt_gaps(a.utilities, a.weights))
    assert (lo, hi) == pytest.approx((m["gap_ci"]["low"], m["gap_ci"]["high"]), abs=1e-12)


def test_per_prompt_pass_at_k_by_hand():
    u = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]], dtype=float)
    assert R.per_prompt(u).tolist() == [0.25, 0.0, 0.5]
    # pass@2 with c correct of 4: 1 - C(4-c, 2) / C(4, 2) = 1 - 3/6, 1 - 6/6, 1 - 1/6
    assert R.per_prompt(u, 2) == pytest.approx([0.5, 0.0, 5 / 6])


def _rounds(run, n, seed=0):
    """An iterative run with task.train_split as the pipeline leaves it: rounds 0..n-1, each
    a synthetic round of make_run for the test prompts and one for the train prompts in
    round_NN/train/, whose metrics are metrics.json's `train`."""
    for t in range(n):
        rd = run / f"round_{t:02d}"
        for side, dest, s in (("test", rd, seed + t), ("train", rd / "train", seed + 100 + t)):
            tmp = run.parent / f"_tmp_{side}{t}"
            make_run(tmp, seed=s)
            shutil.move(str(tmp / "round_00"), str(dest))
            if t == 0 and side == "test":
                cfg = yaml.safe_load((tmp / "config.yaml").read_text())
                cfg["task"]["train_split"] = "train"
                (run / "config.yaml").write_text(yaml.safe_dump(cfg))
            shutil.rmtree(tmp)
        train = A.read_json(rd / "train" / "metrics.json")
        A.write_json({**A.read_json(rd / "metrics.json"), "round": t, "train": train}, rd / "metrics.json")


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "results"
    (root / "iterative" / "oracle").mkdir(parents=True)
    _rounds(root / "iterative" / "oracle", 3)
    make_run(root / "verifiers" / "mc")
    timed = root / "verifiers" / "mc.time"
    subprocess.run(["/usr/bin/time", "-v", "-o", str(timed), "true"], check=True)
    (root / "verifiers" / "mc.load").write_text(" load average: 7.50, 6.0, 5.0\n load average: 8.25, 7.0, 6.0\n")
    (root / "verifiers" / "mc.cmd").write_text("/some/venv/bin/python -m gvgap verifier=mc run_dir=x\n")
    return root


def test_results_doc_numbers_are_the_runs_metrics(root, tmp_path, capsys):
    out = tmp_path / "docs" / "results.md"
    notes = tmp_path / "notes.md"
    notes.write_text("Hand-written observation.")
    assert analyze.main(["results", str(root), f"out={out}", f"notes={notes}"]) == 0
    doc = out.read_text()
    assert "Hand-written observation." in doc and "\npython -m gvgap verifier=mc run_dir=x\n" in doc
    for name in ("iterative_ci", "iterative_rounds", "iterative_passk", "verifiers_gap"):
        assert (out.parent / "results" / f"{name}.png").read_bytes()[:8] == PNG
        assert f"(results/{name}.png)" in doc
    # study 3: every number of the row is metrics.json's
    m = A.read_json(root / "verifiers" / "mc" / "round_00" / "metrics.json")
    gap = f"{m['gap']:.3f} [{m['gap_ci']['low']:.3f}, {m['gap_ci']['high']:.3f}]"
    row = next(line for line in doc.splitlines() if "| mc |" in line)
    assert gap in row and f"{m['accuracy']:.3f}" in row and f"{m['verifier_auroc']:.3f}" in row
    # study 1: held-out (test) and trained-on (train) prompts of every round
    it = R.iterative_rows(root)
    assert list(zip(it["prompts"], it["round"])) == [("held-out", 0), ("held-out", 1), ("held-out", 2),
                                                     ("trained-on", 0), ("trained-on", 1), ("trained-on", 2)]
    run = root / "iterative" / "oracle"
    m2 = A.read_json(run / "round_02" / "metrics.json")
    for r, mm, sub in ((it.iloc[2], m2, ""), (it.iloc[5], m2["train"], "train")):
        assert r["accuracy"] == mm["accuracy"] and r["pass@8"] == mm["pass_at_k"]["8"]
        assert r["gap_ci"] == (mm["gap_ci"]["low"], mm["gap_ci"]["high"])
        u0 = R.per_prompt(R.train_arrays(run, 0).utilities if sub else load_round(run, 0).utilities)
        u2 = R.per_prompt(R.train_arrays(run, 2).utilities if sub else load_round(run, 2).utilities)
        assert r["d_accuracy"] == pytest.approx(u2.mean() - u0.mean())  # paired over the same prompts
        assert r["d_accuracy_ci"] == R.bootstrap_ci(u2 - u0)
        side = "trained-on" if sub else "held-out"
        assert f"| oracle | {side} | 2 | {mm['accuracy']:.3f} [" in doc
    # CPU time from /usr/bin/time -v, and the load averages
    tm = R.timings(root)
    assert tm["run"].tolist() == ["verifiers/mc"] and tm["cpu_s"].iloc[0] >= 0 and tm["status"].iloc[0] == "finished"
    assert tm["load (1 min) before -> after"].iloc[0] == "7.50 -> 8.25"


def test_noise_label():
    assert R.noise(-0.1, 0.2) == "within noise" and R.noise(0.01, 0.2) == "above 0" and R.noise(-0.3, -0.1) == "below 0"


def test_timing_of_a_stopped_run(tmp_path):
    t = tmp_path / "x.time"
    t.write_text("Command terminated by signal 15\n\tUser time (seconds): 243.40\n\tSystem time (seconds): 1.60\n"
                 "\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:43:23.13\n")
    r = R.timing(t)  # 3600 + 43 * 60 + 23.13 s of wall time
    assert r["status"] == "stopped (signal 15)" and r["cpu_s"] == pytest.approx(245.0)
    assert r["wall_s"] == pytest.approx(6203.13)


def test_results_rejects_an_unknown_option(tmp_path, capsys):
    assert analyze.main(["results", str(tmp_path), "outt=x.md"]) == 2
    assert "unknown option outt= (known: out, notes)" in capsys.readouterr().err
