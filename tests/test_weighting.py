"""Weight functions against hand-computed weights, NaN handling, and the calibrated
weight's fit on hold-out prompts."""

import numpy as np
import pytest

from gvgap.metrics import prompt_means
from gvgap.weight_fn.calibrated import Calibrated, default_alphas
from gvgap.weight_fn.exp import Exp
from gvgap.weight_fn.quantile import Quantile
from gvgap.weight_fn.threshold import Threshold
from gvgap.weight_fn.tournament import Tournament

NAN = np.nan


def test_threshold_keeps_scores_at_or_above_tau_and_nan_gets_nan_weight():
    s = np.array([[0.2, 0.8, 0.81, NAN]])
    assert Threshold(tau=0.8)(s).tolist() == [[0, 1, 1, 0]]
    assert Threshold(tau=0.8, nan_weight=0.5)(s).tolist() == [[0, 1, 1, 0.5]]


def test_quantile_is_per_prompt():
    s = np.array([[1, 2, 3, 4, 5], [10, 10, 10, 20, NAN]], dtype=float)
    # row 0: 0.8-quantile of 1..5 is 4.2 -> keeps 5; row 1 (NaN ignored): of 10,10,10,20 is 14 -> keeps 20
    assert Quantile(q=0.8)(s).tolist() == [[0, 0, 0, 0, 1], [0, 0, 0, 1, 0]]
    # q=0.5 of 10,10,10,20 is 10: ties at the threshold are all kept
    assert Quantile(q=0.5)(s)[1].tolist() == [1, 1, 1, 1, 0]
    assert Quantile(q=0.5)(np.array([[NAN, NAN]])).tolist() == [[0, 0]]


def test_exp_weights_are_relative_to_each_prompts_best():
    s = np.array([[0.0, 1.0, NAN], [1000.0, 999.0, 998.0]])
    w = Exp(beta=0.5)(s)
    assert w[0].tolist() == pytest.approx([np.exp(-2), 1.0, 0.0])
    assert w[1].tolist() == pytest.approx([1.0, np.exp(-2), np.exp(-4)])  # no overflow at large scores


def test_tournament_round_k():
    s = np.array([[0, 1, 0, 2, -1, NAN]], dtype=float)
    assert Tournament(round=0)(s).tolist() == [[1, 1, 1, 1, 0, 0]]
    assert Tournament(round=1)(s).tolist() == [[0, 1, 0, 1, 0, 0]]
    assert Tournament(round=2)(s).tolist() == [[0, 0, 0, 1, 0, 0]]
    with pytest.raises(ValueError, match="weight_fn.round"):
        Tournament(round=-1)


def test_calibrated_fits_positive_alpha_for_an_informative_verifier():
    u = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]], dtype=float)
    s = u * 0.8 + 0.1  # scores follow the truth
    c = Calibrated(alphas=[-5, -1, 0, 1, 5])
    assert c.fit(s, u) == 5
    w = c(s)
    assert prompt_means(u, w)[1].mean() > u.mean()
    # weights are exp(5 * score) up to a per-prompt factor
    assert w[0, 0] / w[0, 1] == pytest.approx(np.exp(5 * 0.8))


def test_calibrated_flips_an_anti_correlated_verifier():
    u = np.array([[1, 0, 0], [0, 1, 1]], dtype=float)
    s = 1 - u
    c = Calibrated(alphas=default_alphas())
    assert c.fit(s, u) < -10  # a strongly negative alpha undoes the verifier
    assert prompt_means(u, c(s))[1].mean() == pytest.approx(1.0)


def test_calibrated_ties_prefer_the_smallest_change_and_base_is_applied():
    u = np.array([[1, 1], [0, 0]], dtype=float)  # no alpha can change anything
    c = Calibrated(alphas=[-3, 2, 0.5, 3])
    assert c.fit(np.array([[0.1, 0.9], [0.3, 0.2]]), u) == 0.5
    base = Calibrated(base=Threshold(tau=0.5), alphas=[0, 2])
    base.alpha = 2.0
    w = base(np.array([[0.4, 0.6, NAN]]))
    assert w[0].tolist() == pytest.approx([np.exp(-2), 1.0, 0.0])  # exp(2 * 1[s >= 0.5]), NaN -> nan_weight


def test_calibrated_holdout_mask_and_errors():
    c = Calibrated(holdout=0.25, seed=1)
    m = c.holdout_mask(10)
    assert m.sum() == 2 and np.array_equal(m, Calibrated(holdout=0.25, seed=1).holdout_mask(10))
    assert Calibrated(holdout=0.01).holdout_mask(10).sum() == 1  # at least one labelled prompt
    with pytest.raises(ValueError, match="leaves no prompt"):
        Calibrated(holdout=0.9).holdout_mask(2)
    with pytest.raises(ValueError, match="fit"):
        Calibrated()(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="weight_fn.holdout"):
        Calibrated(holdout=0)
