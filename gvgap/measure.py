"""Turn one round's artifacts into its metrics: the single place both the pipeline and
re-analysis (gvgap.analyze) compute metrics, so they agree exactly.

Everything is deterministic (the bootstrap has a fixed seed), so re-measuring stored
artifacts reproduces metrics.json bit for bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gvgap import metrics as M
from gvgap.arrays import RoundArrays, matrix, object_matrix, prompt_order  # noqa: F401  (re-exported)

N_BOOT = 1000  # bootstrap resamples of prompts for the gap CIs
DISTINCT_SAMPLES = 16  # distinct-n reads the first 16 samples of each prompt: bounded cost,
#                        and comparable between runs with different N


def weights_for(weight_fn, scores: np.ndarray, utilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Weights [P, N], the mask of prompts to report on, and facts about the fit.

    A weight function with `fit` (weight_fn=calibrated) is fitted on its labelled
    hold-out prompts, which are then not reported."""
    report = np.ones(scores.shape[0], dtype=bool)
    info = {}
    if hasattr(weight_fn, "fit"):
        hold = weight_fn.holdout_mask(scores.shape[0])
        alpha = weight_fn.fit(scores[hold], utilities[hold])
        report = ~hold
        info = {"n_holdout": int(hold.sum()), "alpha": float(alpha),
                "holdout_weighted_accuracy": float(weight_fn.holdout_accuracy)}
    return weight_fn(scores), report, info


def measure(gens: pd.DataFrame, verifications: pd.DataFrame, weight_fn, pass_at_k=None,
            u_max: float = 1.0, *, n_boot: int = N_BOOT, seed: int = 0, diversity: bool = True) -> tuple[dict, np.ndarray]:
    """Metrics of one round, and the weight of every sample ([P, N], prompt order of gens).

    Only the top-level verifier's rows set the weights; members of a composite verifier
    are reported under "members" and "correlation".
    """
    r = RoundArrays(gens, verifications)
    n = r.n_samples
    utilities, scores = r.utilities, r.scores
    weights, report, fit_info = weights_for(weight_fn, scores, utilities)
    u, w = utilities[report], weights[report]

    out = M.gap_metrics(u, w, u_max=u_max)
    out.update(M.bootstrap_gap_ci(u, w, u_max=u_max, n_boot=n_boot, seed=seed))
    ks = list(pass_at_k) if pass_at_k else M.default_ks(n)
    out["pass_at_k"] = M.pass_at_k_curve(u, ks, u_max=u_max)
    answers = r.texts("answer")[report]
    out["majority_vote_accuracy"] = M.majority_vote_accuracy(answers, u)
    out["weighted_majority_vote_accuracy"] = M.majority_vote_accuracy(answers, u, w)
    if diversity:
        div = M.answer_diversity(answers)
        div.update(M.distinct_ns(r.texts("completion", DISTINCT_SAMPLES)[report], (1, 2)))
        out["diversity"] = div

    top = r.top
    out["verifier_name"] = r.verifier_name
    out["n_unparseable"] = int(top["score"].isna().sum())
    out["n_verifications"] = int(len(top))
    out["unparseable_rate"] = out["n_unparseable"] / out["n_verifications"] if len(top) else float("nan")
    out["n_no_answer"] = int(gens["answer"].isna().sum())
    tensor = r.score_tensor
    out["num_verifications"] = int(tensor.shape[2])
    out["score_histogram"] = M.score_histogram(tensor[report])
    # does the verifier separate correct from incorrect samples (a gap near 0 when it cannot)
    out.update(M.verifier_discrimination(u, tensor[report], w, u_max=u_max))
    if tensor.shape[2] > 1:
        out["verification_variance"] = M.verification_variance(tensor[report])
    if "wins_first" in top.columns:
        from gvgap.verifiers.tournament import first_position_stats

        out["tournament"] = first_position_stats(top.fillna({"wins_first": 0, "wins_second": 0, "coin_wins": 0}))
        if "raw" in top.columns:  # the same rate per tournament round (Section 6.1)
            from gvgap.verifiers.tournament import first_position_by_round

            out["first_position_by_round"] = first_position_by_round(top)
    out.update(fit_info)
    out.update(_members(r, weights, report, u_max))
    for col in gens.columns:  # secondary gradings, e.g. GSM8K strict / flexible
        if col.startswith("utility_"):
            out["accuracy_" + col[len("utility_"):]] = float(r.column(col)[report].mean(axis=1).mean())
    if "math_verify_timeout" in gens.columns:  # MATH grading checks cut at the time bound
        out["n_grading_timeouts"] = int(gens["math_verify_timeout"].sum())
    return out, weights


def _members(r: RoundArrays, weights, report, u_max) -> dict:
    """Per-member gaps of a composite verifier, and Pearson correlations between the
    verifiers' scores and between their per-prompt gaps (with accuracy; Fig. 7, 18, 19)."""
    if not r.members:
        return {}
    u = r.utilities[report]
    top_name = r.verifier_name or "top"
    score_series = {top_name: r.scores[report]}
    gap_series = {top_name: M.prompt_gaps(u, weights[report]), "accuracy": u.mean(axis=1)}
    members = {}
    for name in r.members:
        rows = r.ver[r.ver["verifier"].astype(str) == name]
        info = {"n_verifications": int(len(rows)), "n_unparseable": int(rows["score"].isna().sum())}
        score_series[name] = r.member_scores(name)[report]
        kept = r.member_kept(name)
        if kept is not None:
            kw = kept[report]
            info.update({k: v for k, v in M.gap_metrics(u, kw, u_max=u_max).items()
                         if k in ("weighted_accuracy", "gap", "gap_rel", "n_empty")})
            info["kept_fraction"] = float(kw.mean())
            gap_series[name] = M.prompt_gaps(u, kw)
        members[name] = info
    return {"members": members,
            "correlation": {"scores": M.correlation_matrix(score_series),
                            "gaps": M.correlation_matrix(gap_series)}}


def measure_round(cfg, gens: pd.DataFrame, verifications: pd.DataFrame, t: int, u_max: float = 1.0):
    """metrics.json of round t exactly as the pipeline's measure stage writes it, from a
    (resolved) run config: the weight function is built from cfg.weight_fn."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    metrics, weights = measure(gens, verifications, instantiate(cfg.weight_fn), cfg.pass_at_k, u_max=u_max)
    metrics.update(round=t, verifier=OmegaConf.to_container(cfg.verifier, resolve=True),
                   weight_fn=OmegaConf.to_container(cfg.weight_fn, resolve=True))
    return metrics, weights
