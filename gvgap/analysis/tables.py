"""The tables of a sweep, from its run directories alone (no model is loaded):

- runs: one row per (run, round): identity and the run's own metrics, plus paper_gap /
  paper_gap_rel, the gap under the verifier's headline setting of the paper;
- paper: every verifier re-measured under the paper's own weight functions (Tables 3-4);
- cross grids: generator x verifier-model gap (Fig. 3);
- thresholds: gap against the threshold / quantile / tournament round (Fig. 5, 6, 14, 15);
- ensembles: logical AND of verifiers that judged the same generations (Table 7);
- variance: p(1-p) per sample when m > 1 verifications (Fig. 11).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from gvgap import artifacts as A
from gvgap.analysis.runs import find_runs, flatten_metrics, read_rounds, run_info, u_max
from gvgap.arrays import RoundArrays


# -- writing ---------------------------------------------------------------------------------
def markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub markdown table (pandas' to_markdown): empty cells for NaN, fixed decimals,
    and significant digits for large numbers such as FLOPs."""
    fmts = [f".{digits}g" if pd.api.types.is_float_dtype(df[c]) and (df[c].abs() >= 1e5).any() else f".{digits}f"
            for c in df.columns]
    shown = df.astype(object).where(df.notna(), None)
    return shown.to_markdown(index=False, floatfmt=fmts, missingval="") + "\n"


def write_table(df: pd.DataFrame, out_dir, name: str, index: bool = False) -> list[Path]:
    """<name>.csv and <name>.md in out_dir, each written atomically."""
    out_dir = Path(out_dir)
    csv = A.write_csv(df, out_dir / f"{name}.csv", index=index)
    md = out_dir / f"{name}.md"
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


def _int(x, default: int = 0) -> int:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return int(v) if math.isfinite(v) else default


def _arrays(root, run: str, t: int = 0) -> RoundArrays | None:
    """The round's arrays, or None when its parquet files are not on disk. Several tables
    read the same round: it is loaded once (until its files change)."""
    path = Path(root) / run if run != "." else Path(root)
    if not RoundArrays.exists(path, t):
        return None
    rd = A.round_dir(path, t)
    stamp = tuple((rd / f).stat().st_mtime_ns for f in ("generations.parquet", "verifications.parquet"))
    return _load(str(path.resolve()), t, stamp)


@lru_cache(maxsize=16)
def _load(path: str, t: int, stamp: tuple) -> RoundArrays:
    return RoundArrays.load(path, t)


# -- re-measuring under the paper's weight functions ---------------------------------------------
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


def headline_weights(scores, kind: str, rounds: int = 5) -> tuple[str, np.ndarray] | None:
    """(label, weights [P, N]) of the verifier's headline paper setting on its scores, or
    None for a verifier without one. The analyses that compare verifiers (ensembles,
    correlations, gap distributions) all filter this way, whatever weight_fn the run used."""
    fns = paper_weight_fns(kind, rounds)
    if not fns:
        return None
    label, wf = fns[0]
    return label, np.nan_to_num(wf(scores), nan=0.0)


def gap_of(utilities, weights, u_max: float = 1.0) -> dict:
    from gvgap.metrics import gap_metrics

    m = gap_metrics(utilities, weights, u_max=u_max)
    return {k: m[k] for k in ("accuracy", "weighted_accuracy", "gap", "gap_rel", "n_empty")}


def paper_rows(arrays: RoundArrays | None, info: dict) -> list[dict]:
    """The round's gap under each paper setting of its verifier (first = headline)."""
    if arrays is None:
        return []
    fns = paper_weight_fns(info["verifier"], _int(info.get("tournament_rounds"), 5))
    return [{"setting": label, "headline": i == 0, **gap_of(arrays.utilities, wf(arrays.scores), u_max(info["task"]))}
            for i, (label, wf) in enumerate(fns)]


def collect(root, paper: bool = True) -> pd.DataFrame:
    """One row per (run, round): run identity, the run's own metrics, and paper_gap /
    paper_gap_rel under the verifier's headline setting (else under the run's own weights)."""
    rows = []
    for run in find_runs(root):
        metrics = read_rounds(run)
        info = run_info(run, root, metrics)
        for m in metrics:
            row = {**info, "round": int(m.get("round", 0)), **flatten_metrics(m)}
            head = [r for r in paper_rows(_arrays(run, ".", row["round"]), info) if r["headline"]] if paper else []
            if head:
                row.update(paper_setting=head[0]["setting"], paper_gap=head[0]["gap"], paper_gap_rel=head[0]["gap_rel"])
            else:  # no stored scores or no paper setting: the run's own weight function
                row.update(paper_setting="run: " + info["weight_fn"], paper_gap=row.get("gap", math.nan),
                           paper_gap_rel=row.get("gap_rel", math.nan))
            rows.append(row)
    return pd.DataFrame(rows)


def paper_table(root, df: pd.DataFrame) -> pd.DataFrame:
    """Tables 3-4: every paper setting of every run's verifier, round 0."""
    rows = []
    for _, r in df[df["round"] == 0].iterrows():
        for p in paper_rows(_arrays(root, r["run"]), r.to_dict()):
            rows.append({k: r[k] for k in ("family", "model", "params", "log10_flops", "task", "verifier",
                                           "verifier_model", "temperature")}
                        | {"setting": p["setting"], "accuracy": p["accuracy"], "gap": p["gap"],
                           "gap_rel": p["gap_rel"], "n_empty": p["n_empty"]})
    return pd.DataFrame(rows)


# -- cross-verification (Fig. 3) -----------------------------------------------------------------
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
        if (g["verifier_model"] == "self").all():  # no separate verifier model: not a cross sweep
            continue
        grid = g.pivot_table(index="model", columns="vmodel", values="paper_gap", aggfunc="mean") * 100
        grid = grid.loc[_by_flops(g, "model", "flops", grid.index), _by_flops(g, "vmodel", "vflops", grid.columns)]
        grid.index.name, grid.columns.name = "generator", "verifier"
        out[f"{task}_{kind}" if d["task"].nunique() > 1 else kind] = grid
    return out


# -- thresholds (Fig. 5, 6, 14, 15) -------------------------------------------------------------
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
    for _, r in df[df["round"] == 0].iterrows():
        grid = threshold_grid(r["verifier"], _int(r.get("tournament_rounds")))
        arrays = _arrays(root, r["run"]) if grid else None
        if arrays is None:
            continue
        for axis, x, wf in grid:
            rows.append({"run": r["run"], "model": r["model"], "log10_flops": r["log10_flops"],
                         "verifier": r["verifier"], "axis": axis, "x": x,
                         **gap_of(arrays.utilities, wf(arrays.scores), u_max(r["task"]))})
    return pd.DataFrame(rows)


# -- same generations, several verifiers (Fig. 7, 17-19, Table 7) -----------------------------
def generation_fingerprint(run, t: int = 0) -> str | None:
    p = A.round_dir(run, t) / "generations.parquet"
    if not p.exists():
        return None
    g = A.read_parquet(p, columns=["prompt_id", "sample_id", "completion"]).sort_values(["prompt_id", "sample_id"])
    blob = "\x00".join(g["prompt_id"].astype(str) + "\x01" + g["sample_id"].astype(str) + "\x01" + g["completion"])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def shared_generation_groups(root, df: pd.DataFrame) -> list[pd.DataFrame]:
    """Round-0 runs grouped by identical generations, keeping groups verified by >= 2
    different verifiers (oracle excluded: it is the ground truth, not a verifier)."""
    d = df[(df["round"] == 0) & (df["verifier"] != "oracle")].copy()
    if d.empty:
        return []
    d["fp"] = [generation_fingerprint(Path(root) / r) for r in d["run"]]
    return [g for _, g in d.dropna(subset=["fp"]).groupby("fp", sort=False) if g["verifier"].nunique() >= 2]


def ensembles(root, group: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Logical AND of the verifiers' headline filters (Section 6.3), for every subset of
    verifiers; and the per-prompt gaps of each verifier alone (for Fig. 7 / 17)."""
    from gvgap.metrics import prompt_means

    keep, u, umax = {}, None, 1.0
    for _, r in group.drop_duplicates("verifier").iterrows():
        arrays = _arrays(root, r["run"])
        head = headline_weights(arrays.scores, r["verifier"], _int(r.get("tournament_rounds"), 5)) if arrays else None
        if head is None:
            continue
        u, umax = arrays.utilities, u_max(r["task"])
        keep[r["verifier"]] = head[1] > 0
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
                         **gap_of(u, w, umax)})
    return pd.DataFrame(rows), per_prompt


# -- verification variance (Fig. 11) -------------------------------------------------------------
def variance(root, df: pd.DataFrame) -> pd.DataFrame:
    """Per sample, p = mean of its m verifications and the variance p(1-p) (binary scores).
    A run none of whose verdicts could be read keeps one row with p = NaN, so the summary
    reports it with count 0 rather than leaving it out."""
    frames = []
    for _, r in df[(df["round"] == 0) & (df["num_verifications"] > 1)].iterrows():
        arrays = _arrays(root, r["run"])
        if arrays is None:
            continue
        p = arrays.scores  # [P, N]: the mean over m verifications
        pid, sid = np.nonzero(np.isfinite(p))
        if not len(pid):
            p, pid, sid = np.full((1, 1), np.nan), np.zeros(1, dtype=int), np.zeros(1, dtype=int)
        frames.append(pd.DataFrame({"model": r["model"], "log10_flops": r["log10_flops"], "verifier": r["verifier"],
                                    "prompt_id": np.asarray(arrays.prompt_ids)[pid], "sample_id": sid,
                                    "p": p[pid, sid], "variance": p[pid, sid] * (1 - p[pid, sid])}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def variance_summary(var: pd.DataFrame) -> pd.DataFrame:
    """Per (model, verifier): mean, median and count of p(1-p) over readable samples, and
    the share of them below 0.05."""
    g = var.groupby(["model", "verifier"])["variance"]
    out = g.agg(["mean", "median", "count"]).reset_index()
    out["share_below_0.05"] = g.apply(lambda v: float((v.dropna() < 0.05).mean()) if v.notna().any()
                                      else float("nan")).to_numpy()
    return out
