"""weight_fn.strict: the threshold direction, >= (Example 2.2) or > (Algorithm 1)."""

import numpy as np
import pytest

from gvgap.schema import ConfigError
from gvgap.weight_fn.quantile import Quantile
from gvgap.weight_fn.threshold import Threshold

NAN = float("nan")
COT_SCORES = np.array([[1, 7, 8, 8, 9, 10, NAN]])  # integer CoT-Score verdicts, one unreadable


def test_cot_score_tau_8_keeps_8_only_when_not_strict():
    assert Threshold(tau=8).cfg.strict is False  # the default: Example 2.2's >=
    assert Threshold(tau=8)(COT_SCORES).tolist() == [[0, 0, 1, 1, 1, 1, 0]]
    assert Threshold(tau=8, strict=True)(COT_SCORES).tolist() == [[0, 0, 0, 0, 1, 1, 0]]
    # the NaN rule is the same in both directions
    assert Threshold(tau=8, strict=True, nan_weight=1)(COT_SCORES)[0, -1] == 1


def test_quantile_strict_drops_the_ties_at_the_quantile():
    s = np.array([[1, 2, 8, 8, 8], [5, 6, 7, 8, 9]], dtype=float)
    # q=0.5: prompt 0's median is 8 (three ties), prompt 1's is 7
    assert Quantile(q=0.5)(s).tolist() == [[0, 0, 1, 1, 1], [0, 0, 1, 1, 1]]
    assert Quantile(q=0.5, strict=True)(s).tolist() == [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]


def test_strict_must_be_a_boolean_when_composed(composer):
    from gvgap.config import validate

    cfg = composer(["weight_fn=threshold", "weight_fn.tau=8", "weight_fn.strict=true"])
    validate(cfg)
    assert cfg.weight_fn.strict is True
    with pytest.raises(Exception, match="strict"):
        composer(["weight_fn=quantile", "weight_fn.strict=maybe"])
    with pytest.raises(ConfigError, match="weight_fn.tau"):
        Threshold(tau=float("inf"), strict=True)
