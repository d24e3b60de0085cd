"""A per-run markdown report (report.md + report/*.png) from the run's metrics files,
so a finished run can be read without W&B: the measurements of every round, pass@k
curves, score histograms, and verifier diagnostics when present."""

from __future__ import annotations

from pathlib import Path

from gvgap import artifacts as A


def _f(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _ci(m: dict, key: str) -> str:
    ci = m.get(f"{key}_ci") or {}
    return f"{_f(m.get(key))} [{_f(ci.get('low'))}, {_f(ci.get('high'))}]"


def _name(node) -> str:
    if not isinstance(node, dict):
        return str(node)
    target = str(node.get("_target_", "?")).rsplit(".", 1)[-1]
    args = ", ".join(f"{k}={v}" for k, v in node.items()
                     if k not in ("_target_", "members", "stop", "template", "model") and not isinstance(v, dict))
    return f"{target}({args})"


def _config_lines(run_dir: Path) -> list[str]:
    path = run_dir / "config.yaml"
    if not path.exists():
        return []
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    vmodel = (cfg.get("verifier") or {}).get("model")
    return [
        f"- model: {cfg.get('model', {}).get('name')}; verifier model: "
        f"{vmodel.get('name') if isinstance(vmodel, dict) else 'the generator (self-verification)'}",
        f"- task: {cfg.get('task', {}).get('name')} (limit {cfg.get('task', {}).get('limit')})",
        f"- generation: {cfg.get('generation')}",
        f"- verifier: {_name(cfg.get('verifier'))}",
        f"- weight_fn: {_name(cfg.get('weight_fn'))}",
        f"- seed: {cfg.get('seed')}, iterations: {cfg.get('iterations')}",
    ]


def _plots(run_dir: Path, rounds: list[dict]) -> list[str]:
    from gvgap.analysis import plots

    out_dir = run_dir / "report"
    lines = []
    curves = {f"round {m.get('round')}": ([int(k) for k in m["pass_at_k"]], list(m["pass_at_k"].values()))
              for m in rounds if m.get("pass_at_k")}
    if curves:
        plots.lines(curves, "k", "pass@k", "pass@k per round", out_dir / "pass_at_k.png", xlog=True)
        lines.append("![pass@k](report/pass_at_k.png)")
    if len(rounds) > 1:
        ts = [m.get("round") for m in rounds]
        series = {"accuracy": (ts, [m["accuracy"] for m in rounds]),
                  "weighted accuracy": (ts, [m["weighted_accuracy"] for m in rounds])}
        plots.lines(series, "round", "accuracy", "accuracy per round", out_dir / "accuracy.png")
        lines.append("![accuracy](report/accuracy.png)")
    for m in rounds:
        h = m.get("score_histogram") or {}
        t = m.get("round")
        if h.get("values"):
            labels, counts = [_f(v, 2).rstrip("0").rstrip(".") for v in h["values"]], h["counts"]
        elif h.get("edges"):
            e = h["edges"]
            labels, counts = [f"{e[i]:.2f}" for i in range(len(e) - 1)], h["counts"]
        else:
            continue
        if h.get("n_nan"):
            labels, counts = labels + ["unparseable"], counts + [h["n_nan"]]
        plots.bars(labels, counts, "verifier score", f"scores, round {t}", out_dir / f"scores_round_{t:02d}.png")
        lines.append(f"![scores round {t}](report/scores_round_{t:02d}.png)")
    return lines


def write_report(run_dir) -> Path:
    """Write <run_dir>/report.md (and its plots under <run_dir>/report/); return its path."""
    run_dir = Path(run_dir)
    from gvgap.analysis.runs import read_rounds

    rounds = read_rounds(run_dir)
    md = [f"# gvgap run report: {run_dir.name}", ""]
    md += _config_lines(run_dir) + [""]
    if not rounds:
        md.append("No finished round yet (no round_NN/metrics.json).")
    else:
        md += ["## Gap per round", "",
               "gap and gap_rel with 95% bootstrap confidence intervals over prompts.", "",
               "| round | accuracy | weighted acc. | gap [95% CI] | gap_rel [95% CI] | majority vote | "
               "weighted maj. vote | prompts | empty | saturated | unparseable |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        for m in rounds:
            md.append(f"| {m.get('round')} | {_f(m['accuracy'])} | {_f(m['weighted_accuracy'])} | {_ci(m, 'gap')} | "
                      f"{_ci(m, 'gap_rel')} | {_f(m.get('majority_vote_accuracy'))} | "
                      f"{_f(m.get('weighted_majority_vote_accuracy'))} | {m.get('n_prompts')} | {m.get('n_empty')} | "
                      f"{m.get('n_saturated')} | {m.get('n_unparseable')}/{m.get('n_verifications')} |")
        ks = list((rounds[0].get("pass_at_k") or {}).keys())
        if ks:
            md += ["", "## pass@k (effective diversity)", "",
                   "| round | " + " | ".join(f"pass@{k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
            md += [f"| {m.get('round')} | " + " | ".join(_f((m.get('pass_at_k') or {}).get(k)) for k in ks) + " |"
                   for m in rounds]
        if any(m.get("train") for m in rounds):  # task.train_split: D_t's own prompts, measured apart
            md += ["", "## Train prompts (task.train_split)", "",
                   "The update trains on these prompts only; the tables above measure the held-out test prompts.", "",
                   "| round | accuracy | weighted acc. | gap [95% CI] | prompts | " + " | ".join(f"pass@{k}" for k in ks) + " |",
                   "|---|---|---|---|---|" + "---|" * len(ks)]
            for m in rounds:
                tr = m.get("train") or {}
                md.append(f"| {m.get('round')} | {_f(tr.get('accuracy'))} | {_f(tr.get('weighted_accuracy'))} | "
                          f"{_ci(tr, 'gap')} | {tr.get('n_prompts')} | "
                          + " | ".join(_f((tr.get("pass_at_k") or {}).get(k)) for k in ks) + " |")
        if any(m.get("diversity") for m in rounds):
            md += ["", "## Diversity", "", "| round | distinct answers | answer entropy (bits) | distinct-1 | distinct-2 |",
                   "|---|---|---|---|---|"]
            for m in rounds:
                d = m.get("diversity") or {}
                md.append(f"| {m.get('round')} | {_f(d.get('distinct_answers'), 2)} | {_f(d.get('answer_entropy'), 3)} | "
                          f"{_f(d.get('distinct_1'), 3)} | {_f(d.get('distinct_2'), 3)} |")
        extra = []
        for m in rounds:
            t = m.get("round")
            if m.get("verification_variance"):
                v = m["verification_variance"]
                extra.append(f"- round {t}: verification variance p(1-p) over {v['n_samples']} samples: mean "
                             f"{_f(v['mean'])}, median {_f(v['median'])} (m = {m.get('num_verifications')})")
            if m.get("tournament"):
                tr = m["tournament"]
                extra.append(f"- round {t}: tournament first-position win rate {_f(tr['first_position_win_rate'], 3)} "
                             f"over {tr['judged_matches']} judged matches; {tr['coin_flip_matches']} settled by coin")
            if m.get("n_holdout") is not None:
                extra.append(f"- round {t}: calibrated weight alpha = {_f(m.get('alpha'))}, fitted on "
                             f"{m['n_holdout']} hold-out prompts (excluded above; their weighted accuracy "
                             f"{_f(m.get('holdout_weighted_accuracy'))})")
            for name, info in (m.get("members") or {}).items():
                extra.append(f"- round {t}: member {name}: gap {_f(info.get('gap'))}, kept "
                             f"{_f(info.get('kept_fraction'), 3)}, unparseable {info.get('n_unparseable')}/"
                             f"{info.get('n_verifications')}")
            corr = (m.get("correlation") or {}).get("scores") or {}
            pairs = sorted({tuple(sorted((a, b))) for a in corr for b in corr[a]})
            if pairs:
                extra.append(f"- round {t}: score correlation " + "; ".join(
                    f"{a} ~ {b}: {_f(corr[a][b], 3)}" for a, b in pairs))
        if extra:
            md += ["", "## Verifier diagnostics", ""] + extra
        md += ["", "## Plots", ""] + _plots(run_dir, rounds)
    path = run_dir / "report.md"
    A.write_text("\n".join(md) + "\n", path)
    return path
