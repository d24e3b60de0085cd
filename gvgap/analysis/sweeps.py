"""Aggregate a multirun into tables and the paper's figures, from its run directories alone.

`python -m gvgap.analysis.sweeps <sweep dir> [--out DIR]` finds every run below the
directory (config.yaml + metrics.jsonl or round_NN/metrics.json), writes runs.{csv,md}
with one row per run and round, and then whichever figures the runs allow:

- paper.{csv,md}: each verifier re-measured under the paper's own weight functions
  (Tables 3-4 columns), because a sweep over verifiers runs with one weight_fn;
- scaling (Fig. 1, 8, 9, 12): see gvgap.analysis.scaling;
- cross_<verifier>.{csv,md,png}: generator x verifier-model gap grid (Fig. 3);
- rounds.{csv,png}, passk.png: accuracy, gap and pass@k per round (Fig. 4, 10, 13);
- thresholds.{csv,png}, tournament.png: gap against the threshold (Fig. 5, 6, 14, 15);
- ensembles.{csv,md}, gap_distribution.png, correlation/: runs that verified the same
  generations with different verifiers (Fig. 7, 17-19, Table 7);
- variance.{csv,png}: verification variance p(1-p) when m > 1 (Fig. 11).

Re-measuring reads the stored scores and utilities; no model is loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from gvgap import artifacts as A
from gvgap.analysis.plots import _plt
from gvgap.analysis.plots import save as save_fig

SKIP_DIRS = {".hydra", ".submitit", "analysis", "wandb", "model"}


# -- finding and reading runs -----------------------------------------------------------
def find_runs(root) -> list[Path]:
    """Run directories below root (root itself included), in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    found = []
    for cfg in sorted(root.rglob("config.yaml")):
        run = cfg.parent
        rel = run.relative_to(root).parts
        if any(p in SKIP_DIRS for p in rel):
            continue
        if (run / "metrics.jsonl").exists() or any(run.glob("round_*/metrics.json")):
            found.append(run)
    return found


def read_rounds(run) -> list[dict]:
    """Metrics of every finished round: metrics.jsonl, else round_NN/metrics.json."""
    run = Path(run)
    lines = run / "metrics.jsonl"
    if lines.exists():
        rows = [json.loads(x) for x in lines.read_text().splitlines() if x.strip()]
        if rows:
            return rows
    out = []
    for p in sorted(run.glob("round_*/metrics.json")):
        m = A.read_json(p)
        m.setdefault("round", int(re.sub(r"\D", "", p.parent.name) or 0))
        out.append(m)
    return out


def read_config(run) -> dict:
    return yaml.safe_load((Path(run) / "config.yaml").read_text()) or {}


def hydra_choices(run) -> dict:
    """The config-group options Hydra chose for this job (e.g. verifier: cot_score)."""
    path = Path(run) / ".hydra" / "hydra.yaml"
    if not path.exists():
        return {}
    try:
        return (yaml.safe_load(path.read_text()) or {}).get("hydra", {}).get("runtime", {}).get("choices", {}) or {}
    except yaml.YAMLError:
        return {}


def verifier_kind(verifier: dict | None, choice: str | None = None) -> str:
    """Short name of a verifier: the Hydra option if known, else derived from _target_."""
    if choice:
        return str(choice)
    target = str((verifier or {}).get("_target_", "")).rsplit(".", 1)[-1].lower()
    for key, name in (("binary", "cot_binary"), ("score", "cot_score"), ("tournament", "tournament"),
                      ("ensemble", "ensemble"), ("oracle", "oracle"), ("mc", "mc")):
        if key in target:
            return name
    return target.replace("verifier", "") or "unknown"


def describe(node: dict | None) -> str:
    """`quantile(q=0.8)`: a weight function or updater in one short string."""
    if not node:
        return "none"
    name = str(node.get("_target_", "?")).rsplit(".", 1)[-1].lower()
    args = [f"{k}={v}" for k, v in node.items()
            if k != "_target_" and not isinstance(v, (dict, list)) and not (k == "nan_weight" and v == 0)]
    return f"{name}({', '.join(args)})" if args else name


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _int(x, default: int = 0) -> int:
    v = _num(x)
    return int(v) if math.isfinite(v) else default


def model_info(m: dict | None, prefix: str = "") -> dict:
    m = m or {}
    params, tokens = _num(m.get("params")), _num(m.get("train_tokens"))
    flops = 6.0 * params * tokens
    return {f"{prefix}model": m.get("name", "?"), f"{prefix}family": m.get("family") or m.get("name", "?"),
            f"{prefix}params": params, f"{prefix}train_tokens": tokens, f"{prefix}flops": flops,
            f"{prefix}log10_flops": math.log10(flops) if flops > 0 else math.nan}


def flatten_metrics(m: dict) -> dict:
    """Scalars of a metrics dict; one level of nesting as `a.b`; pass_at_k as `pass@k`."""
    out = {}
    for k, v in m.items():
        if k in ("verifier", "weight_fn"):
            continue
        if k == "pass_at_k" and isinstance(v, dict):
            out.update({f"pass@{kk}": _num(vv) for kk, vv in v.items()})
        elif isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items() if isinstance(vv, (int, float)) or vv is None})
        elif isinstance(v, (int, float)) or v is None:
            out[k] = math.nan if v is None else v
    return out


def run_info(run, root) -> dict:
    """What identifies a run in a sweep table: models, verifier, weights, task, settings."""
    cfg, ch = read_config(run), hydra_choices(run)
    v = cfg.get("verifier") or {}
    gen = cfg.get("generation") or {}
    info = {"run": str(Path(run).relative_to(root)) if Path(run) != Path(root) else ".",
            **model_info(cfg.get("model")),
            "verifier": verifier_kind(v, ch.get("verifier")),
            "verifier_model": v["model"].get("name", "?") if isinstance(v.get("model"), dict) else "self",
            "num_verifications": int(v.get("num_verifications", 1) or 1),
            "weight_fn": describe(cfg.get("weight_fn")),
            "updater": ch.get("updater") or describe(cfg.get("updater")).split("(")[0],
            "task": (cfg.get("task") or {}).get("name", "?"),
            "temperature": _num(gen.get("temperature")), "n_samples": gen.get("n_samples"),
            "seed": cfg.get("seed"), "iterations": cfg.get("iterations", 0)}
    if info["verifier"] == "oracle":  # ground truth: whatever verifier.model says is unused
        info["verifier_model"] = "gold"
    if info["verifier_model"] not in ("self", "gold"):
        vm = model_info(v["model"], "verifier_")
        info.update({k: vm[k] for k in ("verifier_params", "verifier_flops", "verifier_log10_flops")})
    if info["verifier"] == "tournament":
        info["tournament_rounds"] = int(v.get("rounds", 0) or 0)
    return info


# -- re-measuring under the paper's weight functions ---------------------------------------
def paper_weight_fns(kind: str, rounds: int = 5) -> list[tuple[str, object]]:
    """The paper's settings per verifier (Tables 3-4); the first is the headline one used
    in Fig. 1, 3 and 12 (MC top 0.8, CoT-Score tau 8, tournament round 5)."""
    from gvgap.weight_fn.quantile import Quantile
    from gvgap.weight_fn.threshold import Threshold

    k = max(0, min(5, rounds))  # a tournament score is the number of rounds survived
    table = {
        "mc": [("top 0.8", Quantile(q=0.8)), ("top 0.7", Quantile(q=0.7)),
               ("tau=0.7", Threshold(tau=0.7)), ("tau=0.8", Threshold(tau=0.8))],
        "cot_binary": [("bin", Threshold(tau=1.0))],
        "cot_score": [("tau=8", Threshold(tau=8.0)), ("tau=9", Threshold(tau=9.0))],
        "tournament": [(f"round {k}", Threshold(tau=float(k)))],
        "oracle": [("gold", Threshold(tau=1.0))],
        "ensemble": [("and", Threshold(tau=1.0))],
    }
    return table.get(kind, [])


def u_max_of(task: str) -> float:
    import importlib

    from gvgap.tasks import REGISTRY

    if task not in REGISTRY:
        return 1.0
    module, cls = REGISTRY[task].split(":")
    return float(getattr(importlib.import_module(module), cls).u_max)


def load_arrays(run, t: int):
    """(prompt ids, utilities [P, N], mean scores [P, N], verification rows) of round t, or
    None when the round's parquet files are not on disk."""
    from gvgap.measure import matrix, prompt_order
    from gvgap.verifiers.base import score_matrix

    rd = A.round_dir(run, t)
    if not ((rd / "generations.parquet").exists() and (rd / "verifications.parquet").exists()):
        return None
    gens, ver = A.read_parquet(rd / "generations.parquet"), A.read_parquet(rd / "verifications.parquet")
    ids = prompt_order(gens)
    n = int(gens["sample_id"].max()) + 1
    return ids, matrix(gens, "utility", ids, n), score_matrix(ver, ids, n), ver


def gap_of(utilities, weights, u_max: float = 1.0) -> dict:
    from gvgap.metrics import gap_metrics

    m = gap_metrics(utilities, weights, u_max=u_max)
    return {k: m[k] for k in ("accuracy", "weighted_accuracy", "gap", "gap_rel", "n_empty")}


def paper_rows(run, info: dict, t: int) -> list[dict]:
    arrays = load_arrays(run, t)
    if arrays is None:
        return []
    _, u, s, _ = arrays
    u_max = u_max_of(info["task"])
    rows = []
    for i, (label, wf) in enumerate(paper_weight_fns(info["verifier"], _int(info.get("tournament_rounds"), 5))):
        rows.append({"setting": label, "headline": i == 0, **gap_of(u, wf(s), u_max)})
    return rows


# -- the table of a sweep -------------------------------------------------------------------
def collect(root, paper: bool = True) -> pd.DataFrame:
    """One row per (run, round): run identity, the run's own metrics, and (paper=True,
    artifacts on disk) paper_gap / paper_gap_rel under the verifier's headline setting."""
    rows = []
    for run in find_runs(root):
        info = run_info(run, root)
        for m in read_rounds(run):
            row = {**info, "round": int(m.get("round", 0)), **flatten_metrics(m)}
            row["paper_setting"], row["paper_gap"], row["paper_gap_rel"] = "", math.nan, math.nan
            if paper:
                head = [r for r in paper_rows(run, info, row["round"]) if r["headline"]]
                if head:
                    row.update(paper_setting=head[0]["setting"], paper_gap=head[0]["gap"],
                               paper_gap_rel=head[0]["gap_rel"])
            rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        # a missing headline falls back to the run's own weight function
        own = df["paper_setting"] == ""
        df.loc[own, "paper_gap"] = df.loc[own, "gap"]
        df.loc[own, "paper_gap_rel"] = df.loc[own, "gap_rel"]
        df.loc[own, "paper_setting"] = "run: " + df.loc[own, "weight_fn"]
    return df


def paper_table(root, df: pd.DataFrame) -> pd.DataFrame:
    """Tables 3-4: every paper setting of every run's verifier, round 0."""
    rows = []
    root = Path(root)
    for _, r in df[df["round"] == 0].iterrows():
        run = root / r["run"] if r["run"] != "." else root
        for p in paper_rows(run, r.to_dict(), 0):
            rows.append({k: r[k] for k in ("family", "model", "params", "log10_flops", "task", "verifier",
                                           "verifier_model", "temperature")}
                        | {"setting": p["setting"], "accuracy": p["accuracy"], "gap": p["gap"],
                           "gap_rel": p["gap_rel"], "n_empty": p["n_empty"]})
    return pd.DataFrame(rows)


# -- writing ------------------------------------------------------------------------------
def markdown(df: pd.DataFrame, digits: int = 4) -> str:
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if math.isnan(v) else f"{v:.{digits}g}" if abs(v) >= 1e5 else f"{v:.{digits}f}"
        return str(v)

    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, out_dir, name: str, index: bool = False) -> list[Path]:
    out_dir = Path(out_dir)
    csv, md = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    A._atomic(csv, lambda tmp: df.to_csv(tmp, index=index))
    A.write_text(markdown(df.reset_index() if index else df), md)
    return [csv, md]


def label_columns(df: pd.DataFrame) -> list[str]:
    """The identity columns that vary across the sweep: they name its lines and cells."""
    keys = ["model", "verifier", "verifier_model", "weight_fn", "updater", "temperature", "task", "seed",
            "num_verifications"]
    return [k for k in keys if k in df.columns and df[k].astype(str).nunique() > 1] or ["model"]


def labels(df: pd.DataFrame, cols=None) -> pd.Series:
    cols = cols or label_columns(df)
    return df[cols].astype(str).agg(" ".join if len(cols) == 1 else lambda r: ", ".join(r), axis=1)


# -- cross-verification (Fig. 3) ------------------------------------------------------------
def _by_flops(g: pd.DataFrame, name_col: str, flops_col: str, names) -> list:
    """names sorted by their pre-training FLOPs (unknown last), then by name."""
    fl = g.groupby(name_col)[flops_col].first()
    return sorted(names, key=lambda n: (np.nan_to_num(float(fl.get(n, np.nan)), nan=np.inf), str(n)))


def cross_grids(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per (task, verifier): generator x verifier-model grid of the headline gap (%),
    both axes ordered by pre-training FLOPs. Self-verification fills the diagonal."""
    d = df[df["round"] == 0].copy()
    if d.empty:
        return {}
    d["vmodel"] = np.where(d["verifier_model"] == "self", d["model"], d["verifier_model"])
    if "verifier_flops" not in d:
        d["verifier_flops"] = math.nan
    d["vflops"] = np.where(d["verifier_model"] == "self", d["flops"], d["verifier_flops"])
    out = {}
    for (task, kind), g in d.groupby(["task", "verifier"]):
        if g["vmodel"].nunique() < 2 or (g["verifier_model"] == "self").all():
            continue
        grid = g.pivot_table(index="model", columns="vmodel", values="paper_gap", aggfunc="mean") * 100
        grid = grid.loc[_by_flops(g, "model", "flops", grid.index), _by_flops(g, "vmodel", "vflops", grid.columns)]
        grid.index.name, grid.columns.name = "generator", "verifier"
        out[f"{task}_{kind}" if d["task"].nunique() > 1 else kind] = grid
    return out


def plot_grid(grid: pd.DataFrame, title: str, path) -> Path:
    plt = _plt()
    m = grid.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.1 * m.shape[1] + 2.5, 0.8 * m.shape[0] + 1.8))
    lim = np.nanmax(np.abs(m)) if np.isfinite(m).any() else 1.0
    im = ax.imshow(m, cmap="RdBu", vmin=-lim or -1, vmax=lim or 1)
    ax.set_xticks(range(m.shape[1]), grid.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(m.shape[0]), grid.index, fontsize=8)
    for i, j in itertools.product(range(m.shape[0]), range(m.shape[1])):
        ax.text(j, i, "" if not np.isfinite(m[i, j]) else f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xlabel("verifier")
    ax.set_ylabel("generator")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="gap (%)")
    return save_fig(fig, path)


# -- iterative runs (Fig. 4, 10, 13) ----------------------------------------------------------
def plot_rounds(df: pd.DataFrame, path_curves, path_passk) -> list[Path]:
    multi = df.groupby("run")["round"].transform("max") > 0
    d = df[multi].sort_values(["run", "round"])
    d = d.assign(label=labels(d))
    plt = _plt()
    metrics = [("accuracy", "accuracy J(f_t)"), ("gap", "gap")]
    metrics += [(c, c.replace("_", " ")) for c in ("accuracy_strict", "accuracy_flexible")
                if c in d and d[c].notna().any()]  # GSM8K: the format effect of round 1
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, (col, title) in zip(axes[0], metrics):
        for lab, g in d.groupby("label", sort=False):
            ax.plot(g["round"], g[col], marker="o", label=lab)
        if col == "gap":
            ax.axhline(0.005, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("round t")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    paths = [save_fig(fig, path_curves)]
    ks = sorted((c for c in d.columns if c.startswith("pass@")), key=lambda c: int(c[5:]))
    runs = list(dict.fromkeys(d["label"]))[:12]
    if ks and runs:
        cols = min(3, len(runs))
        rows = math.ceil(len(runs) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
        for ax, lab in zip(axes.flat, runs):
            for _, r in d[d["label"] == lab].iterrows():
                ax.plot([int(k[5:]) for k in ks], [r[k] for k in ks], marker="o", label=f"round {r['round']}")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("k")
            ax.set_ylabel("pass@k")
            ax.set_title(lab, fontsize=8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(runs):]:
            ax.axis("off")
        paths.append(save_fig(fig, path_passk))
    return paths


# -- thresholds (Fig. 5, 6, 14, 15) -----------------------------------------------------------
def threshold_grid(kind: str, rounds: int = 0) -> list[tuple[str, float, object]]:
    from gvgap.weight_fn.quantile import Quantile
    from gvgap.weight_fn.threshold import Threshold

    if kind == "mc":
        qs = [round(0.1 * i, 1) for i in range(1, 10)]
        return [("quantile q", q, Quantile(q=q)) for q in qs] + [("threshold tau", q, Threshold(tau=q)) for q in qs]
    if kind == "cot_score":
        return [("threshold tau", float(t), Threshold(tau=float(t))) for t in range(1, 11)]
    if kind == "tournament":
        return [("tournament round", float(k), Threshold(tau=float(k))) for k in range(rounds + 1)]
    return []


def thresholds(root, df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    root = Path(root)
    for _, r in df[df["round"] == 0].iterrows():
        grid = threshold_grid(r["verifier"], _int(r.get("tournament_rounds")))
        arrays = load_arrays(root / r["run"], 0) if grid else None
        if arrays is None:
            continue
        _, u, s, _ = arrays
        for axis, x, wf in grid:
            rows.append({"run": r["run"], "model": r["model"], "log10_flops": r["log10_flops"],
                         "verifier": r["verifier"], "axis": axis, "x": x, **gap_of(u, wf(s), u_max_of(r["task"]))})
    return pd.DataFrame(rows)


def plot_thresholds(th: pd.DataFrame, path, path_tournament) -> list[Path]:
    plt = _plt()
    panels = list(dict.fromkeys(zip(th["verifier"], th["axis"])))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (kind, axis) in zip(axes[0], panels):
        g = th[(th["verifier"] == kind) & (th["axis"] == axis)]
        for (_, model), gg in g.groupby(["log10_flops", "model"], dropna=False, sort=True):
            ax.plot(gg["x"], gg["gap"] * 100, marker="o", label=model)
        ax.axhline(0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(axis)
        ax.set_ylabel("gap (%)")
        ax.set_title(kind)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    paths = [save_fig(fig, path)]
    t = th[th["verifier"] == "tournament"].sort_values("x")
    if len(t):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for (_, model), g in t.groupby(["log10_flops", "model"], dropna=False, sort=True):
            acc = g["weighted_accuracy"].to_numpy()
            axes[0].plot(g["x"], acc * 100, marker="o", label=model)
            axes[1].plot(g["x"].to_numpy()[1:], np.diff(acc) * 100, marker="o", label=model)
        axes[0].set_title("accuracy of the survivors")
        axes[1].set_title("gap w.r.t. the previous round")
        for ax in axes:
            ax.set_xlabel("tournament round")
            ax.set_ylabel("%")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        paths.append(save_fig(fig, path_tournament))
    return paths


# -- same generations, several verifiers (Fig. 7, 17-19, Table 7) ---------------------------
def generation_fingerprint(run, t: int = 0) -> str | None:
    p = A.round_dir(run, t) / "generations.parquet"
    if not p.exists():
        return None
    g = A.read_parquet(p).sort_values(["prompt_id", "sample_id"])
    blob = "\x00".join(g["prompt_id"].astype(str) + "\x01" + g["sample_id"].astype(str) + "\x01" + g["completion"])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def shared_generation_groups(root, df: pd.DataFrame) -> list[pd.DataFrame]:
    """Round-0 runs grouped by identical generations, keeping groups verified by >= 2
    different verifiers (oracle excluded: it is the ground truth, not a verifier)."""
    d = df[(df["round"] == 0) & (df["verifier"] != "oracle")].copy()
    if d.empty:
        return []
    d["fp"] = [generation_fingerprint(Path(root) / r) for r in d["run"]]
    return [g for _, g in d.dropna(subset=["fp"]).groupby("fp", sort=False)
            if g["verifier"].nunique() >= 2]


def ensembles(root, group: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Logical AND of the verifiers' headline filters (Section 6.3), for every subset of
    two or more; and the per-prompt gaps of each verifier alone (for Fig. 7 / 17)."""
    root = Path(root)
    keep, u, u_max = {}, None, 1.0
    for _, r in group.drop_duplicates("verifier").iterrows():
        arrays = load_arrays(root / r["run"], 0)
        fns = paper_weight_fns(r["verifier"], _int(r.get("tournament_rounds"), 5))
        if arrays is None or not fns:
            continue
        _, u, s, _ = arrays
        u_max = u_max_of(r["task"])
        keep[r["verifier"]] = fns[0][1](s) > 0
    from gvgap.metrics import prompt_means

    per_prompt = {}
    for kind, k in keep.items():
        base, rew, _ = prompt_means(u, k.astype(float))
        per_prompt[kind] = rew - base
    rows = []
    kinds = sorted(keep)
    for size in range(1, len(kinds) + 1):
        for combo in itertools.combinations(kinds, size):
            w = np.logical_and.reduce([keep[c] for c in combo]).astype(float)
            rows.append({"model": group["model"].iloc[0], "verifiers": "+".join(combo), "n": size,
                         **gap_of(u, w, u_max)})
    return pd.DataFrame(rows), per_prompt


def plot_gap_distribution(per_model: dict, path) -> Path:
    """Histograms of per-prompt gaps, bins of width 0.005 (Fig. 7 left, Fig. 17)."""
    plt = _plt()
    models = list(per_model)[:12]
    kinds = sorted({k for m in models for k in per_model[m]})
    fig, axes = plt.subplots(len(models), 1, figsize=(6, 2.4 * len(models)), squeeze=False)
    for ax, model in zip(axes[:, 0], models):
        for kind in kinds:
            g = per_model[model].get(kind)
            if g is None:
                continue
            lo, hi = min(g.min(), 0.0), max(g.max(), 0.0)
            bins = np.arange(np.floor(lo / 0.005) * 0.005, hi + 0.01, 0.005)
            ax.hist(g, bins=bins, alpha=0.5, label=f"{kind} (mu={g.mean():.3f}, sd={g.std():.3f})")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("per-prompt gap")
        ax.legend(fontsize=7)
    return save_fig(fig, path)


# -- verification variance (Fig. 11) ----------------------------------------------------------
def variance(root, df: pd.DataFrame) -> pd.DataFrame:
    """Per sample, p = mean of its m verifications and the variance p(1-p) (binary scores)."""
    rows = []
    for _, r in df[(df["round"] == 0) & (df["num_verifications"] > 1)].iterrows():
        p = A.round_dir(Path(root) / r["run"], 0) / "verifications.parquet"
        if not p.exists():
            continue
        ver = A.read_parquet(p)
        if "/" in "".join(ver["verifier"].astype(str).unique()):
            ver = ver[~ver["verifier"].astype(str).str.contains("/")]
        mean = ver.groupby(["prompt_id", "sample_id"])["score"].mean().dropna()
        for (pid, sid), v in mean.items():
            rows.append({"model": r["model"], "log10_flops": r["log10_flops"], "verifier": r["verifier"],
                         "prompt_id": pid, "sample_id": sid, "p": float(v), "variance": float(v * (1 - v))})
    return pd.DataFrame(rows)


def plot_variance(var: pd.DataFrame, path) -> Path:
    plt = _plt()
    models = list(dict.fromkeys(var.sort_values("log10_flops")["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 2.8), squeeze=False, sharey=True)
    for ax, m in zip(axes[0], models):
        ax.hist(var.loc[var["model"] == m, "variance"], bins=np.linspace(0, 0.25, 11))
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("p(1-p)")
    axes[0][0].set_ylabel("samples")
    return save_fig(fig, path)


# -- entry point -------------------------------------------------------------------------------
def analyse(root, out_dir=None) -> dict[str, list[Path]]:
    """Write every table and figure the runs below root allow; returns {name: paths}."""
    from gvgap.analysis import scaling

    root = Path(root)
    out = Path(out_dir or root / "analysis")
    df = collect(root)
    if df.empty:
        raise SystemExit(f"no gvgap runs (config.yaml + metrics) found below {root}")
    written = {"runs": write_table(df, out, "runs")}
    pt = paper_table(root, df)
    if len(pt):
        written["paper"] = write_table(pt, out, "paper")
    sc = scaling.scaling_table(df)
    if len(sc) and sc.groupby(scaling.GROUP_KEYS)["log10_flops"].nunique().max() >= 2:
        written["scaling"] = scaling.write(sc, out)
    for name, grid in cross_grids(df).items():
        written[f"cross_{name}"] = write_table(grid, out, f"cross_{name}", index=True) + [
            plot_grid(grid, f"gap (%) of generator x verifier: {name}", out / f"cross_{name}.png")]
    if (df.groupby("run")["round"].max() > 0).any():
        rd = df[df.groupby("run")["round"].transform("max") > 0]
        written["rounds"] = write_table(rd, out, "rounds") + plot_rounds(df, out / "rounds.png", out / "passk.png")
    th = thresholds(root, df)
    if len(th):
        written["thresholds"] = write_table(th, out, "thresholds") + plot_thresholds(
            th, out / "thresholds.png", out / "tournament.png")
    groups = shared_generation_groups(root, df)
    if groups:
        tables, dists = [], {}
        for g in groups:
            t, per_prompt = ensembles(root, g)
            tables.append(t)
            dists[g["model"].iloc[0]] = per_prompt
            try:
                from gvgap.analysis import correlate

                runs = [root / r for r in g.drop_duplicates("verifier")["run"]]
                correlate.write(runs, out / "correlation" / re.sub(r"[^\w.-]", "_", g["model"].iloc[0]))
            except (ValueError, KeyError, ImportError, FileNotFoundError) as e:  # extra: the tables stand alone
                print(f"[gvgap.analysis] correlation skipped for {g['model'].iloc[0]}: {e}")
        written["ensembles"] = write_table(pd.concat(tables, ignore_index=True), out, "ensembles") + [
            plot_gap_distribution(dists, out / "gap_distribution.png")]
    var = variance(root, df)
    if len(var):
        summary = var.groupby(["model", "verifier"])["variance"].agg(["mean", "median", "count"]).reset_index()
        summary["share_below_0.05"] = var.groupby(["model", "verifier"])["variance"].apply(
            lambda v: float((v < 0.05).mean())).to_numpy()
        written["variance"] = write_table(summary, out, "variance") + [plot_variance(var, out / "variance.png")]
    return written


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m gvgap.analysis.sweeps", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir", help="a multirun directory (or any folder holding gvgap run directories)")
    ap.add_argument("--out", default=None, help="output folder (default: <sweep_dir>/analysis)")
    args = ap.parse_args(argv)
    written = analyse(args.sweep_dir, args.out)
    for name, paths in written.items():
        print(f"[gvgap.analysis] {name}: " + ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
