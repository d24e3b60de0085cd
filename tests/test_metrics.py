"""Every metric against values computed by hand (or by an independent method)."""

import math
from math import comb

import numpy as np
import pytest

from gvgap import metrics as M

U = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=float)
W = np.array([[1, 0, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=float)


def test_gap_metrics_by_hand():
    m = M.gap_metrics(U, W)
    # base 0.25, 0.5, 1; reweighted 1, 0, 1
    assert m["accuracy"] == pytest.approx(1.75 / 3)
    assert m["weighted_accuracy"] == pytest.approx(2 / 3)
    assert m["gap"] == pytest.approx(0.25 / 3)
    # gap_rel over prompts 0, 1 (prompt 2 saturated): (0.75 / 0.75 + (-0.5) / 0.5) / 2 = 0
    assert m["gap_rel"] == pytest.approx(0.0)
    assert (m["n_saturated"], m["n_empty"], m["n_prompts"], m["n_samples"]) == (1, 0, 3, 4)


def test_prompt_with_all_zero_weights_keeps_its_distribution():
    m = M.gap_metrics(U, np.zeros_like(U))
    assert m["gap"] == 0 and m["n_empty"] == 3
    assert M.prompt_gaps(U, W).tolist() == pytest.approx([0.75, -0.5, 0.0])


@pytest.mark.parametrize("n, c, k", [(4, 2, 2), (10, 3, 1), (10, 3, 5), (128, 1, 64), (5, 0, 3), (5, 5, 1)])
def test_pass_at_k_matches_the_binomial_formula(n, c, k):
    want = 1 - comb(n - c, k) / comb(n, k)
    assert M.pass_at_k(n, c, k) == pytest.approx(want)
    correct = np.zeros((1, n), dtype=bool)
    correct[0, :c] = True
    assert M.pass_at_k_mean(correct, k) == pytest.approx(want)


def test_pass_at_k_hand_value_and_curve():
    assert M.pass_at_k(4, 2, 2) == pytest.approx(5 / 6)
    assert M.default_ks(8) == [1, 2, 4, 8] and M.default_ks(6) == [1, 2, 4, 6]
    curve = M.pass_at_k_curve(U, [1, 4])
    assert curve == pytest.approx({"1": 1.75 / 3, "4": 1.0})


ANSWERS = np.array([["5", "5", "7", None], ["3", "4", "4", "3"], [None, "", None, None]], dtype=object)
UTIL = np.array([[0, 0, 1, 0], [1, 0, 0, 1], [0, 0, 0, 0]], dtype=float)


def test_majority_vote_by_hand():
    # prompt 0: "5" wins (wrong); prompt 1: "3" and "4" tie, "3" seen first (right); prompt 2: no answer
    assert M.majority_vote_accuracy(ANSWERS, UTIL) == pytest.approx(1 / 3)
    w = np.array([[0, 0, 1, 0], [0, 1, 1, 0], [1, 1, 1, 1]], dtype=float)
    # weighted: prompt 0 -> "7" (right), prompt 1 -> "4" (wrong), prompt 2 none
    assert M.majority_vote_accuracy(ANSWERS, UTIL, w) == pytest.approx(1 / 3)
    w0 = np.array([[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=float)
    # prompt 1 has no weight: it votes unweighted ("3", right) -> (1 + 1 + 0) / 3
    assert M.majority_vote_accuracy(ANSWERS, UTIL, w0) == pytest.approx(2 / 3)


def test_answer_diversity_by_hand():
    d = M.answer_diversity(ANSWERS)
    assert d["distinct_answers"] == pytest.approx((2 + 2 + 0) / 3)
    h0 = -(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3)
    assert d["answer_entropy"] == pytest.approx((h0 + 1.0 + 0.0) / 3)


def test_distinct_n_by_hand():
    texts = [["a b a b", "a b"], ["x y z", ""]]
    # prompt 0: unigrams a b a b a b -> 2/6; prompt 1: x y z -> 3/3
    d = M.distinct_ns(texts, (1, 2))
    assert d["distinct_1"] == pytest.approx((2 / 6 + 1) / 2)
    # bigrams: (a b)(b a)(a b) + (a b) -> 2/4; (x y)(y z) -> 2/2
    assert d["distinct_2"] == pytest.approx((0.5 + 1) / 2)
    assert math.isnan(M.distinct_ns([["one"]], (2,))["distinct_2"])


def test_verification_variance_is_p_one_minus_p():
    s = np.array([[[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, np.nan, np.nan], [1, np.nan, np.nan, np.nan]]], dtype=float)
    v = M.verification_variance(s)
    # p = 0.5, 1, 0.5 -> p(1-p) = 0.25, 0, 0.25; the last sample has one readable verdict only
    assert v["n_samples"] == 3
    assert v["mean"] == pytest.approx(0.5 / 3) and v["median"] == pytest.approx(0.25)
    assert sum(v["histogram"]["counts"]) == 3 and v["histogram"]["edges"][-1] == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    b = rng.integers(0, 2, size=(5, 6, 9)).astype(float)
    p = b.mean(axis=2)
    assert M.verification_variance(b)["mean"] == pytest.approx((p * (1 - p)).mean())


def test_score_histogram_discrete_and_continuous():
    h = M.score_histogram(np.array([1, 10, 10, np.nan, 8]))
    assert h == {"n_nan": 1, "values": [1.0, 8.0, 10.0], "counts": [1, 1, 2]}
    c = M.score_histogram(np.linspace(0, 1, 50), bins=5)
    assert c["counts"] == [10] * 5 and c["edges"][0] == 0 and c["edges"][-1] == 1


def test_pearson_against_numpy_and_edge_cases():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert M.pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    x2, y2 = x.copy(), y.copy()
    x2[3], y2[7] = np.nan, np.inf
    keep = np.ones(50, dtype=bool)
    keep[[3, 7]] = False
    assert M.pearson(x2, y2) == pytest.approx(np.corrcoef(x[keep], y[keep])[0, 1])
    assert math.isnan(M.pearson([1, 1, 1], [1, 2, 3])) and math.isnan(M.pearson([1], [2]))
    cm = M.correlation_matrix({"a": x, "b": -x, "c": y})
    assert cm["a"]["b"] == pytest.approx(-1) and cm["b"]["a"] == pytest.approx(-1) and "a" not in cm["a"]


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(2)
    u = (rng.random((60, 8)) < 0.4).astype(float)
    w = (rng.random((60, 8)) < 0.5) * 1.0 + u
    a = M.bootstrap_gap_ci(u, w, seed=5)
    assert a == M.bootstrap_gap_ci(u, w, seed=5)
    g = M.gap_metrics(u, w)
    assert a["gap_ci"]["low"] < g["gap"] < a["gap_ci"]["high"]
    assert a["gap_rel_ci"]["low"] < g["gap_rel"] < a["gap_rel_ci"]["high"]
    one = M.bootstrap_gap_ci(u[:1], w[:1])
    assert one["gap_ci"]["low"] == one["gap_ci"]["high"]  # a single prompt: no spread


def test_bootstrap_ci_covers_the_true_value_at_about_the_nominal_rate():
    # a population of 20000 prompts with a noisy verifier; experiments draw 80 of them
    rng = np.random.default_rng(3)
    n_pop, n = 20000, 8
    p = rng.beta(1.2, 1.5, size=(n_pop, 1))
    u = (rng.random((n_pop, n)) < p).astype(float)
    w = ((u + rng.normal(0, 0.8, size=u.shape)) > 0.6).astype(float)
    base, rew, _ = M.prompt_means(u, w)
    true_gap = (rew - base).mean()
    open_ = base < 1
    true_rel = ((rew - base)[open_] / (1 - base[open_])).mean()
    hits_gap = hits_rel = 0
    reps = 300
    for r in range(reps):
        idx = rng.integers(0, n_pop, size=80)
        ci = M.bootstrap_gap_ci(u[idx], w[idx], n_boot=400, seed=r)
        hits_gap += ci["gap_ci"]["low"] <= true_gap <= ci["gap_ci"]["high"]
        hits_rel += ci["gap_rel_ci"]["low"] <= true_rel <= ci["gap_rel_ci"]["high"]
    # nominal 0.95; the binomial sd over 300 repetitions is ~0.013
    assert 0.90 <= hits_gap / reps <= 0.99
    assert 0.90 <= hits_rel / reps <= 0.99


def test_relative_gap_variants_by_hand():
    m = M.gap_metrics(U, W)
    # pooled: gap / (1 - J(f)) = (0.25/3) / (1 - 1.75/3) = 0.25 / 1.25 = 0.2
    assert m["gap_rel_pooled"] == pytest.approx(0.2)
    # all prompts, saturated counted as 0: (1 + (-1) + 0) / 3 = 0
    assert m["gap_rel_all"] == pytest.approx(0.0)
    u = np.array([[1, 0], [1, 1], [0, 0]], dtype=float)
    w = np.array([[1, 0], [1, 1], [0, 1]], dtype=float)
    m = M.gap_metrics(u, w)
    # base .5, 1, 0 -> reweighted 1, 1, 0: gap_rel (1 + 0) / 2 = .5; all: 1 / 3; pooled: (1/6) / (1/2)
    assert (m["gap_rel"], m["gap_rel_all"], m["gap_rel_pooled"]) == pytest.approx((0.5, 1 / 3, 1 / 3))
    sat = M.gap_metrics(np.ones((2, 2)), np.ones((2, 2)))
    assert math.isnan(sat["gap_rel_pooled"]) and sat["gap_rel_all"] == 0.0


def _auroc_by_pairs(s, y):
    pos = [a for a, b in zip(s, y) if b and not math.isnan(a)]
    neg = [a for a, b in zip(s, y) if not b and not math.isnan(a)]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auroc_by_hand_and_against_pair_counting():
    # positives 0.9, 0.5; negatives 0.5, 0.1: pairs (.9>.5) (.9>.1) (.5=.5 -> 1/2) (.5>.1) = 3.5 / 4
    assert M.auroc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.875)
    assert M.auroc([0.1, 0.9], [1, 0]) == 0.0
    assert M.auroc([0.3, float("nan"), 0.2], [1, 0, 0]) == 1.0  # the NaN sample is left out
    assert M.auroc([0.3, 0.4], [1, 1]) is None
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = rng.integers(0, 5, size=40).astype(float)  # many ties
        s[rng.random(40) < 0.1] = np.nan
        y = rng.random(40) < 0.4
        assert M.auroc(s, y) == pytest.approx(_auroc_by_pairs(s, y))


def test_verifier_discrimination_by_hand():
    u = np.array([[1, 0, 0], [1, 1, 0]], dtype=float)
    sc = np.array([[[0.9, 0.7], [0.2, 0.4], [np.nan, np.nan]], [[0.6, 0.6], [0.1, 0.3], [0.5, 0.5]]])
    w = np.array([[1, 0, 0], [1, 0, 1]], dtype=float)
    d = M.verifier_discrimination(u, sc, w)
    # mean scores: correct .8, .6, .2; incorrect .3, (nan, left out), .5
    # pairs: .8>.3 .8>.5 .6>.3 .6>.5 .2<.3 .2<.5 -> 4 / 6
    assert d["verifier_auroc"] == pytest.approx(4 / 6)
    assert d["kept_precision"] == pytest.approx(2 / 3) and d["kept_recall"] == pytest.approx(2 / 3)
    none = M.verifier_discrimination(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 2)))
    assert none == {"verifier_auroc": None, "kept_precision": None, "kept_recall": None}
