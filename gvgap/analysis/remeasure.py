"""Re-measure stored scores: reproduce a run's metrics.json, or sweep weight functions
and thresholds (Fig. 5, 6, 14, 15) with no model loaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gvgap import artifacts as A
from gvgap.analysis import plots
from gvgap.analysis.runs import load_config, load_round, rounds, task_u_max
from gvgap.analysis.tables import markdown
from gvgap.measure import measure, measure_round


# metrics.json keys added after runs were stored: missing from an old run is not a difference
NEWER_KEYS = {"verifier_name", "gap_rel_pooled", "gap_rel_all", "verifier_auroc", "kept_precision", "kept_recall"}


def normalise(metrics: dict):
    """What metrics.json holds for these metrics (NaN -> null, tuples -> lists)."""
    return json.loads(json.dumps(A.clean(metrics), sort_keys=True))


def reproduce(run_dir, out_dir=None) -> list[dict]:
    """Re-measure every round with the run's own config; compare with its metrics.json.

    Writes <out_dir>/remeasured_round_NN.json; returns [{round, equal, differing keys}].
    """
    cfg = load_config(run_dir)
    u_max = task_u_max(cfg)
    out_dir = Path(out_dir or Path(run_dir) / "analysis")
    results = []
    for t in rounds(run_dir):
        r = load_round(run_dir, t)
        new = normalise(measure_round(cfg, r.gens, r.ver, t, u_max=u_max)[0])
        train = A.round_dir(run_dir, t) / "train"  # task.train_split: the train prompts, under `train`
        if (train / "verifications.parquet").exists():
            g, v = A.read_parquet(train / "generations.parquet"), A.read_parquet(train / "verifications.parquet")
            new["train"] = normalise(measure_round(cfg, g, v, t, u_max=u_max)[0])
        A.write_json(new, out_dir / f"remeasured_round_{t:02d}.json")
        path = A.round_dir(run_dir, t) / "metrics.json"
        old = A.read_json(path) if path.exists() else None
        added = NEWER_KEYS - set(old or {})  # a run older than these keys is not "different"
        diff = sorted(k for k in set(new) | set(old or {})
                      if old is None or (k not in added and new.get(k) != old.get(k)))
        results.append({"round": t, "equal": old is not None and not diff, "differs": diff,
                        "has_metrics": old is not None})
    return results


def _kept(weights: np.ndarray) -> float:
    return float((weights > 0).mean())


def sweep(run_dir, combos, only_rounds=None, n_boot: int = 1000) -> pd.DataFrame:
    """One row per (round, weight function): accuracy, weighted accuracy, gap, gap_rel
    and their bootstrap CIs, the share of samples kept and the prompts left empty."""
    from hydra.utils import instantiate

    from gvgap.config import check_option

    cfg0 = load_config(run_dir)
    u_max = task_u_max(cfg0)
    rows = []
    for t in rounds(run_dir):
        if only_rounds is not None and t not in only_rounds:
            continue
        r = load_round(run_dir, t)
        for swept, cfg in combos:
            target = cfg.weight_fn.get("_target_")
            check_option("weight_fn", cfg.weight_fn)
            m, w = measure(r.gens, r.ver, instantiate(cfg.weight_fn), cfg.pass_at_k, u_max=u_max, n_boot=n_boot,
                           diversity=False)
            rows.append({"round": t, "weight_fn": str(target).rsplit(".", 1)[-1], **swept,
                         "accuracy": m["accuracy"], "weighted_accuracy": m["weighted_accuracy"],
                         "gap": m["gap"], "gap_low": m["gap_ci"]["low"], "gap_high": m["gap_ci"]["high"],
                         "gap_rel": m["gap_rel"], "gap_rel_low": m["gap_rel_ci"]["low"],
                         "gap_rel_high": m["gap_rel_ci"]["high"], "kept": _kept(w), "n_empty": m["n_empty"],
                         "n_prompts": m["n_prompts"],
                         **({"alpha": m["alpha"], "n_holdout": m["n_holdout"]} if "alpha" in m else {})})
    df = pd.DataFrame(rows)
    if "weight_fn.round" in df.columns:  # Fig. 6 right: each tournament round against the one before
        df = df.sort_values(["round", "weight_fn.round"], kind="stable").reset_index(drop=True)
        prev = df.groupby("round")["weighted_accuracy"].shift(1)
        df["gap_vs_previous_round"] = df["weighted_accuracy"] - prev.fillna(df["accuracy"])
    return df


def write_sweep(df: pd.DataFrame, out_dir, name: str = "gap_vs_threshold") -> dict:
    """CSV + markdown table, and a PNG of gap and relative gap against the swept value
    (the first swept key; one line per round and setting of the other keys)."""
    out_dir = Path(out_dir)
    paths = {"csv": out_dir / f"{name}.csv", "md": out_dir / f"{name}.md", "png": out_dir / f"{name}.png"}
    A.write_csv(df, paths["csv"])
    A.write_text(markdown(df), paths["md"])
    fixed = {"round", "weight_fn", "accuracy", "weighted_accuracy", "gap", "gap_low", "gap_high", "gap_rel",
             "gap_rel_low", "gap_rel_high", "kept", "n_empty", "n_prompts", "gap_vs_previous_round", "alpha", "n_holdout"}
    swept = [c for c in df.columns if c not in fixed]
    x = swept[0] if swept else None
    series, bands, rel = {}, {}, {}
    groups = df.groupby(["round", *swept[1:]], sort=True) if len(df) else []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        label = f"round {key[0]}" + "".join(f", {k}={v}" for k, v in zip(swept[1:], key[1:]))
        g = g.sort_values(x) if x else g
        xs = g[x].to_numpy() if x else np.arange(len(g))
        series[label] = (xs, g["gap"].to_numpy())
        bands[label] = (g["gap_low"].to_numpy(), g["gap_high"].to_numpy())
        rel[label] = (xs, g["gap_rel"].to_numpy())
    plt = plots._plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, data, ylabel, bnd in ((axes[0], series, "gap", bands), (axes[1], rel, "relative gap", None)):
        for label, (xs, ys) in data.items():
            ax.plot(xs, ys, marker="o", label=label)
            if bnd:
                ax.fill_between(xs, *bnd[label], alpha=0.2)
        ax.axhline(0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(x or "setting")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].set_title("gap (95% bootstrap CI)")
    axes[1].set_title("relative gap")
    if len(series) > 1:
        axes[1].legend(fontsize=8)
    plots.save(fig, paths["png"])
    return paths
