"""measure(): the pipeline's single source of metrics, checked by hand on small frames."""

import math

import numpy as np
import pandas as pd
import pytest

from gvgap import metrics as M
from gvgap import artifacts as A
from gvgap.arrays import RoundArrays
from gvgap.measure import measure
from gvgap.verifiers.base import frame
from gvgap.weight_fn.calibrated import Calibrated
from gvgap.weight_fn.threshold import Threshold

# 2 prompts x 4 samples; answers and utilities chosen so every number is easy by hand
ANS = [["4", "4", "5", None], ["9", "8", "9", "9"]]
UTIL = [[1, 1, 0, 0], [0, 1, 0, 0]]


def gens_frame(answers=ANS, util=UTIL, prompts=("p0", "p1")):
    rows = []
    for pid, a_row, u_row in zip(prompts, answers, util):
        for sid, (a, u) in enumerate(zip(a_row, u_row)):
            rows.append({"prompt_id": pid, "sample_id": sid, "completion": f"so the answer is {a}",
                         "answer": a, "utility": float(u), "weight": np.nan, "utility_strict": float(u and sid == 0)})
    return pd.DataFrame(rows)


def ver_frame(scores, name="cot_binary", prompts=("p0", "p1")):
    """scores[p][s] is a list of the m verification scores of sample s."""
    return frame([(pid, sid, name, v, float(x), "text") for pid, row in zip(prompts, scores)
                  for sid, vals in enumerate(row) for v, x in enumerate(vals)])


def test_measure_by_hand():
    scores = [[[1, 1], [1, 0], [0, 0], [np.nan, np.nan]], [[0, 1], [1, 1], [0, 0], [1, np.nan]]]
    m, w = measure(gens_frame(), ver_frame(scores), Threshold(tau=0.5), pass_at_k=[1, 4])
    # mean scores: p0 1, .5, 0, NaN; p1 .5, 1, 0, 1 -> weights (tau .5; NaN -> 0)
    assert w.tolist() == [[1, 1, 0, 0], [1, 1, 0, 1]]
    assert m["accuracy"] == pytest.approx((0.5 + 0.25) / 2)
    assert m["weighted_accuracy"] == pytest.approx((1 + 1 / 3) / 2)
    assert m["gap"] == pytest.approx((0.5 + 1 / 12) / 2)
    assert m["gap_rel"] == pytest.approx((0.5 / 0.5 + (1 / 12) / 0.75) / 2)
    assert m["pass_at_k"] == pytest.approx({"1": 0.375, "4": 1.0})
    assert m["gap_ci"]["low"] <= m["gap"] <= m["gap_ci"]["high"]
    # majority: p0 "4" (right), p1 "9" (wrong); weighted p1: "9" x2 vs "8" -> still "9"
    assert m["majority_vote_accuracy"] == pytest.approx(0.5)
    assert m["weighted_majority_vote_accuracy"] == pytest.approx(0.5)
    assert m["diversity"]["distinct_answers"] == pytest.approx(2.0)
    assert (m["n_unparseable"], m["n_verifications"], m["num_verifications"]) == (3, 16, 2)
    assert m["unparseable_rate"] == pytest.approx(3 / 16)
    assert m["n_no_answer"] == 1
    assert m["score_histogram"] == {"n_nan": 3, "values": [0.0, 1.0], "counts": [6, 7]}
    # p(1-p) of samples with two readable verdicts: 0, .25, 0, .25, 0, 0 (two samples have < 2)
    assert m["verification_variance"]["n_samples"] == 6
    assert m["verification_variance"]["mean"] == pytest.approx(0.5 / 6)
    assert m["accuracy_strict"] == pytest.approx((0.25 + 0) / 2)
    assert "members" not in m and "tournament" not in m
    assert m["verifier_name"] == "cot_binary"  # the name the verifier wrote on its rows


def test_nan_weight_rule_is_configurable():
    scores = [[[1], [np.nan], [np.nan], [0]], [[1], [1], [0], [0]]]
    _, w0 = measure(gens_frame(), ver_frame(scores), Threshold(tau=1))
    _, w1 = measure(gens_frame(), ver_frame(scores), Threshold(tau=1, nan_weight=1.0))
    assert w0[0].tolist() == [1, 0, 0, 0] and w1[0].tolist() == [1, 1, 1, 0]


def test_calibrated_holdout_prompts_are_not_reported():
    rng = np.random.default_rng(0)
    p, n = 20, 6
    util = (rng.random((p, n)) < 0.5).astype(int)
    ans = [[str(int(x)) for x in row] for row in util]
    prompts = [f"q{i}" for i in range(p)]
    scores = [[float(u) * 0.6 + 0.2] for row in util for u in row]
    scores = [scores[i * n:(i + 1) * n] for i in range(p)]
    gens, ver = gens_frame(ans, util, prompts), ver_frame(scores, "mc", prompts)
    wf = Calibrated(holdout=0.25, seed=7)
    m, w = measure(gens, ver, wf)
    hold = Calibrated(holdout=0.25, seed=7).holdout_mask(p)
    assert m["n_holdout"] == 5 and m["n_prompts"] == 15 and m["alpha"] > 0
    want = M.gap_metrics(util[~hold].astype(float), w[~hold])
    assert m["gap"] == pytest.approx(want["gap"]) and m["accuracy"] == pytest.approx(util[~hold].mean())
    assert w.shape == (p, n)  # hold-out prompts still get weights (for the update)


def test_unknown_verifier_prompt_fails_loudly():
    ver = ver_frame([[[1]] * 4, [[1]] * 4], prompts=("p0", "zz"))
    with pytest.raises(ValueError, match="zz"):
        measure(gens_frame(), ver, Threshold())


def test_gap_metrics_at_benchmark_size_many_thresholds():
    # 5000 x 128 under 20 thresholds (the benchmark's workload) gives the same numbers as a
    # direct per-prompt computation on a few rows
    rng = np.random.default_rng(1)
    u = (rng.random((5000, 128)) < 0.3).astype(float)
    s = u * 0.3 + rng.random(u.shape) * 0.7
    rows = [M.gap_metrics(u, Threshold(tau=t)(s)) for t in np.linspace(0.1, 0.95, 20)]
    w = Threshold(tau=0.5)(s[:3])
    manual = [(u[i] * w[i]).sum() / w[i].sum() - u[i].mean() for i in range(3)]
    assert M.prompt_gaps(u[:3], w).tolist() == pytest.approx(manual)
    assert all(not math.isnan(r["gap"]) for r in rows) and rows[-1]["gap"] > rows[0]["gap"]


def test_grading_timeouts_are_counted():
    gens = gens_frame()
    gens["math_verify_timeout"] = [0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    m, _ = measure(gens, ver_frame([[[1]] * 4, [[1]] * 4]), Threshold(tau=0.5))
    assert m["n_grading_timeouts"] == 3
    assert "n_grading_timeouts" not in measure(gens_frame(), ver_frame([[[1]] * 4, [[1]] * 4]), Threshold(tau=0.5))[0]


def test_round_arrays_from_frames_on_disk(tmp_path):
    """The one road from stored frames to arrays: shapes [P, N] / [P, N, m], prompts in
    generation order, NaN where a sample has no verification, members kept apart."""
    gens = gens_frame(prompts=("b", "a"))  # generation order is b, a: not sorted
    gens = gens.sample(frac=1.0, random_state=0)  # rows on disk in any order
    ver = ver_frame([[[1, 0], [1, 1], [0, 0], [1, 1]], [[0, 0], [1, 0], [1, 1], [0, 1]]], prompts=("b", "a"))
    ver = ver[~((ver.prompt_id == "a") & (ver.sample_id == 3))]  # one sample never verified
    member = frame([("b", 0, "cot_binary/mc", 0, 0.9, None), ("a", 2, "cot_binary/mc", 0, 0.1, None)])
    member["kept"] = [1.0, 0.0]
    rd = A.round_dir(tmp_path, 0)
    A.write_parquet(gens, rd / "generations.parquet")
    A.write_parquet(pd.concat([ver.assign(kept=np.nan), member], ignore_index=True), rd / "verifications.parquet")

    assert RoundArrays.exists(tmp_path, 0) and not RoundArrays.exists(tmp_path, 1)
    r = RoundArrays.load(tmp_path, 0)
    assert r.prompt_ids == list(dict.fromkeys(gens["prompt_id"]))  # first seen on disk
    order = r.prompt_ids
    want_u = {"b": UTIL[0], "a": UTIL[1]}
    assert r.utilities.tolist() == [want_u[p] for p in order]
    means = {"b": [0.5, 1.0, 0.0, 1.0], "a": [0.0, 0.5, 1.0, math.nan]}
    np.testing.assert_array_equal(r.scores, np.array([means[p] for p in order]))
    assert r.score_tensor.shape == (2, 4, 2) and np.isnan(r.score_tensor[order.index("a"), 3]).all()
    assert r.members == ["cot_binary/mc"] and r.verifier_name == "cot_binary"
    kept = r.member_kept("cot_binary/mc")
    assert kept[order.index("b"), 0] == 1.0 and kept.sum() == 1.0  # missing cells count as not kept
    assert r.texts("answer")[order.index("b")].tolist() == ["4", "4", "5", None]
    # aligned on another prompt order, the same numbers move with their prompts
    flipped = RoundArrays(r.gens, r.ver, order=order[::-1])
    np.testing.assert_array_equal(flipped.scores, r.scores[::-1])
    with pytest.raises(FileNotFoundError):
        RoundArrays.load(tmp_path, 1)
