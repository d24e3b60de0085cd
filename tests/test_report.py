"""The run report explains the gap: score distributions split by true utility (checked
against hand counts), the verifier's AUROC and kept-set precision / recall from
metrics.json, and a caption under every figure."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gvgap import artifacts as A
from gvgap.analysis import plots
from gvgap.report import write_report
from tests.test_analyze import PNG, make_run

NAN = float("nan")


def test_score_groups_put_each_sample_in_its_true_class():
    utilities = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, NAN], [0.5, 1.0, 0.0]])
    scores = np.array([[0.9, 0.2, NAN], [0.4, 0.8, 0.5], [0.7, 0.6, NAN]])
    g = plots.score_groups(scores, utilities)
    assert sorted(g["correct"]) == [0.6, 0.8, 0.9]
    assert sorted(g["incorrect"]) == [0.2, 0.4, 0.7]  # 0.5 is not U_max; the ungraded 0.5 score is left out
    assert g["unparseable"] == (1, 1)
    # U_max = 2 (a task graded out of 2): a utility of 1 is not correct
    g2 = plots.score_groups(scores, utilities * 2, u_max=2.0)
    assert sorted(g2["correct"]) == [0.6, 0.8, 0.9] and sorted(g2["incorrect"]) == [0.2, 0.4, 0.7]
    # [P, N, m]: the mean over the m verifications; an all-NaN sample is unparseable
    tensor = np.array([[[1.0, 0.0], [NAN, NAN]]])
    g3 = plots.score_groups(tensor, np.array([[1.0, 1.0]]))
    assert g3["correct"].tolist() == [0.5] and g3["unparseable"] == (1, 0)


def test_score_bins_count_by_hand():
    discrete = plots.score_bins({"correct": np.array([1.0, 1.0, 0.0]), "incorrect": np.array([0.0, 0.0, 1.0, 0.0]),
                                 "unparseable": (0, 0)})
    assert discrete == {"labels": ["0", "1"], "correct": [1, 2], "incorrect": [3, 1]}
    cont = plots.score_bins({"correct": np.array([0.95, 0.85, 0.05]), "incorrect": np.array([0.12, 0.15, 0.99]),
                             "unparseable": (2, 1)}, bins=10)
    assert cont["labels"][0] == "0-0.1" and cont["labels"][-1] == "unparseable" and len(cont["labels"]) == 11
    assert cont["correct"] == [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2]
    assert cont["incorrect"] == [0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1]


def test_report_shows_auroc_and_a_caption_under_every_figure(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _, gens, _ = make_run(run)
    drawn = []
    real = plots.score_distributions
    monkeypatch.setattr(plots, "score_distributions", lambda *a, **k: drawn.append(real(*a, **k)) or drawn[-1])
    text = write_report(run).read_text()
    m = A.read_json(run / "round_00" / "metrics.json")
    assert m["verifier_auroc"] is not None and 0.5 < m["verifier_auroc"] <= 1  # scores follow the truth
    assert f"| 0 | {m['verifier_auroc']:.4f} | {m['kept_precision']:.4f} | {m['kept_recall']:.4f} |" in text
    # the score figure drew every sample in its class (make_run grades by the real task)
    assert len(drawn) == 1
    assert sum(drawn[0]["correct"]) == int((gens["utility"] == 1).sum())
    assert sum(drawn[0]["incorrect"]) == int((gens["utility"] < 1).sum())
    lines = text.splitlines()
    figures = [i for i, line in enumerate(lines) if line.startswith("![")]
    assert len(figures) == 2  # pass@k and the round's score distribution (one round: no accuracy curve)
    for i in figures:
        rel = re.fullmatch(r"!\[.*\]\((.*)\)", lines[i]).group(1)
        assert (run / rel).read_bytes()[:8] == PNG
        caption = lines[i + 2]
        assert caption.startswith("*") and caption.endswith("*") and len(caption) > 40, caption
    assert f"AUROC {m['verifier_auroc']:.3f}" in text


def test_report_of_a_run_without_its_samples_falls_back_to_the_pooled_histogram(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    (run / "round_00" / "generations.parquet").unlink()
    text = write_report(run).read_text()
    assert "no split by true utility" in text
    assert (run / "report" / "scores_round_00.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize("xs", [[1, 2, 4, 8, 16]])
def test_pass_at_k_axis_ticks_are_the_ks_as_plain_numbers(tmp_path, xs, monkeypatch):
    saved = {}
    monkeypatch.setattr(plots, "save", lambda fig, path: saved.update(fig=fig) or path)
    plots.lines({"round 0": (xs, [0.1, 0.2, 0.3, 0.4, 0.5])}, "k (samples per prompt)", "pass@k", "t",
                tmp_path / "a.png", xlog=True, ylim=(0, 1.02))
    ax = saved["fig"].axes[0]
    saved["fig"].canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(x) for x in xs]
    assert ax.get_xlabel() == "k (samples per prompt)" and ax.get_ylim() == (0, 1.02)
