"""Ensemble = logical AND of member filters; members' rows are stored beside the
top-level rows and never change the weights. Also: the oracle verifier's exact link to
pass@N, and score_matrix's choice of rows."""

import numpy as np
import pandas as pd
import pytest

from gvgap.measure import measure
from gvgap.metrics import pass_at_k_mean
from gvgap.verifiers.base import frame, member_names, score_matrix
from gvgap.verifiers.ensemble import EnsembleVerifier
from gvgap.verifiers.oracle import OracleVerifier
from gvgap.weight_fn.quantile import Quantile
from gvgap.weight_fn.threshold import Threshold
from tests.test_verifiers_cot import make_input


class TableVerifier:
    """A fake verifier that returns fixed scores [P][N] (NaN allowed)."""

    needs_model = False
    model = None

    def __init__(self, name, scores):
        self.name, self.scores = name, scores

    def verify(self, engine, data):
        return frame([(p.id, s, self.name, 0, float(v), None)
                      for p, row in zip(data.problems, self.scores) for s, v in enumerate(row)])


def gens_frame(solutions, golds):
    return pd.DataFrame([{"prompt_id": f"p{i}", "sample_id": s, "completion": t, "answer": t.split()[-1],
                          "utility": float(t.split()[-1] == str(g)), "weight": np.nan}
                         for i, (row, g) in enumerate(zip(solutions, golds)) for s, t in enumerate(row)])


SOLS = [["x 1", "x 2", "x 1", "x 3"], ["x 2", "x 2", "x 5", "x 2"]]
GOLDS = [1, 2]


def ensemble():
    a = TableVerifier("mc", [[0.9, 0.2, 0.7, 0.95], [0.1, 0.8, 0.9, 0.6]])
    b = TableVerifier("cot_score", [[9, 9, 3, 10], [10, np.nan, 8, 9]])
    return EnsembleVerifier(members=[{"verifier": a, "weight_fn": Threshold(tau=0.7)},
                                     {"verifier": b, "weight_fn": Threshold(tau=8)}])


def test_and_of_member_filters_and_member_rows():
    df = ensemble().verify(None, make_input(SOLS, GOLDS))
    top = score_matrix(df, ["p0", "p1"], 4)
    # mc keeps   [1,0,1,1] [0,1,1,0];  cot_score keeps [1,1,0,1] [1,0(NaN),1,1]
    assert top.tolist() == [[1, 0, 0, 1], [0, 0, 1, 0]]
    assert member_names(df) == ["ensemble/mc", "ensemble/cot_score"]
    assert score_matrix(df, ["p0", "p1"], 4, verifier="ensemble/mc")[0].tolist() == [0.9, 0.2, 0.7, 0.95]
    kept = df[df.verifier == "ensemble/cot_score"].sort_values(["prompt_id", "sample_id"])["kept"].tolist()
    assert kept == [1, 1, 0, 1, 1, 0, 1, 1]


def test_measure_weights_follow_only_the_top_level_rows():
    data = make_input(SOLS, GOLDS)
    df = ensemble().verify(None, data)
    m, w = measure(gens_frame(SOLS, GOLDS), df, Threshold(tau=1.0))
    assert w.tolist() == [[1, 0, 0, 1], [0, 0, 1, 0]]
    # prompt 0: kept x 1, x 3 -> 0.5 (base 0.5); prompt 1: kept x 5 -> 0 (base 0.75)
    assert m["accuracy"] == pytest.approx(0.625) and m["weighted_accuracy"] == pytest.approx(0.25)
    assert m["n_verifications"] == 8 and m["n_unparseable"] == 0  # top-level rows only
    mem = m["members"]
    assert mem["ensemble/cot_score"]["n_unparseable"] == 1
    # member mc alone keeps p0: x1, x1, x3 -> 2/3; p1: x2, x5 -> 1/2; base 0.625
    assert mem["ensemble/mc"]["weighted_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert mem["ensemble/mc"]["kept_fraction"] == pytest.approx(5 / 8)
    r = m["correlation"]["scores"]["ensemble/mc"]["ensemble/cot_score"]
    a = np.array([0.9, 0.2, 0.7, 0.95, 0.1, 0.9, 0.6])  # pairs where both are finite
    b = np.array([9, 9, 3, 10, 10, 8, 9])
    assert r == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert set(m["correlation"]["gaps"]) == {"ensemble", "accuracy", "ensemble/mc", "ensemble/cot_score"}


def test_member_configs_are_built_and_checked():
    e = EnsembleVerifier(members=[
        {"verifier": {"_target_": "gvgap.verifiers.oracle.OracleVerifier"},
         "weight_fn": {"_target_": "gvgap.weight_fn.threshold.Threshold", "tau": 1.0}},
        {"verifier": {"_target_": "gvgap.verifiers.oracle.OracleVerifier"},
         "weight_fn": {"_target_": "gvgap.weight_fn.quantile.Quantile", "q": 0.5}}])
    assert [label for label, _, _ in e.members] == ["oracle", "oracle#2"]
    assert not e.needs_model
    assert isinstance(e.members[1][2], Quantile)
    with pytest.raises(ValueError, match="members share verifier.model"):
        EnsembleVerifier(members=[{"verifier": OracleVerifier(model={"name": "x"}), "weight_fn": Threshold()}])
    with pytest.raises(ValueError, match="num_verifications must be 1"):
        EnsembleVerifier(num_verifications=2, members=[{"verifier": OracleVerifier(), "weight_fn": Threshold()}])
    with pytest.raises(ValueError, match=r"members\[0\] needs both"):
        EnsembleVerifier(members=[{"verifier": OracleVerifier()}])


def test_oracle_with_threshold_one_gives_pass_at_n_exactly():
    rng = np.random.default_rng(0)
    golds = list(range(1, 41))
    # 40 prompts x 8 samples; each sample right with a prompt-specific chance (some prompts never)
    sols = [[f"x {g if rng.random() < p else g + 1}" for _ in range(8)]
            for g, p in zip(golds, rng.choice([0.0, 0.1, 0.5, 0.9], size=40))]
    data = make_input(sols, golds)
    ver = OracleVerifier().verify(None, data)
    gens = gens_frame(sols, golds)
    m, _ = measure(gens, ver, Threshold(tau=1.0))
    correct = np.array([[t == f"x {g}" for t in row] for row, g in zip(sols, golds)])
    assert 0 < correct.any(axis=1).mean() < 1
    assert m["weighted_accuracy"] == correct.any(axis=1).mean()  # exactly, no tolerance
    assert m["weighted_accuracy"] == m["pass_at_k"]["8"] == pass_at_k_mean(correct, 8)


def test_score_matrix_rejects_unknown_prompts_and_samples():
    df = frame([("p9", 0, "mc", 0, 0.5, None)])
    with pytest.raises(ValueError, match="p9"):
        score_matrix(df, ["p0"], 2)
    with pytest.raises(ValueError, match="sample_id"):
        score_matrix(frame([("p0", 2, "mc", 0, 0.5, None)]), ["p0"], 2)
