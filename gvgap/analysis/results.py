"""docs/results.md from the run folders of the three CPU studies (issue 10), with no model
loaded: `python -m gvgap.analyze results outputs/results out=docs/results.md`.

Layout read under the root (docs/results/run.sh writes it):
  iterative/<verifier>/        self-improvement runs (iterations > 0, task.train_split=train:
                               trained-on prompts in round_NN/train/, held-out test prompts)
  cross/...                    generator x verifier-model runs (a Hydra multirun)
  verifiers/<verifier>/        one generation set judged by each verifier
  <any run>.cmd/.time/.load    the command, /usr/bin/time -v output, load averages before/after

Intervals are 95% percentile bootstraps over prompts (the unit whose samples are not
independent), drawn as gvgap.metrics.bootstrap_gap_ci draws them, so the gap interval
here equals metrics.json's `gap_ci`. A round's change against round 0 is a paired
bootstrap over the same prompts. "Within noise" means the interval contains 0.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from gvgap import artifacts as A
from gvgap import metrics as M
from gvgap.analysis import figures, plots, tables
from gvgap.analysis.runs import find_runs, load_round, read_config, read_rounds

N_BOOT, LEVEL, SEED = 1000, 0.95, 0


# -- intervals ---------------------------------------------------------------------------------
def bootstrap_ci(per_prompt, n_boot: int = N_BOOT, level: float = LEVEL, seed: int = SEED) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of per-prompt values [P] (resampling prompts),
    with the draws of metrics.bootstrap_gap_ci for the same P, n_boot and seed."""
    x = np.asarray(per_prompt, dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, x.size, size=(n_boot, x.size))
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(x[idx].mean(axis=1), [tail, 100 - tail])
    return float(lo), float(hi)


def per_prompt(u: np.ndarray, k: int | None = None, u_max: float = 1.0) -> np.ndarray:
    """Per-prompt accuracy (k None) or unbiased pass@k of utilities [P, N]."""
    if k is None:
        return np.asarray(u, dtype=np.float64).mean(axis=1)
    correct = np.asarray(u) >= u_max
    return np.array([M.pass_at_k(correct.shape[1], int(c), k) for c in correct.sum(axis=1)])


def fmt(v, lo=None, hi=None, d: int = 3) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.{d}f}" if lo is None else f"{v:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


def noise(lo, hi) -> str:
    return "within noise" if lo <= 0 <= hi else ("above 0" if lo > 0 else "below 0")


# -- timing ------------------------------------------------------------------------------------
def timing(path: Path) -> dict:
    """CPU (user + system) and wall seconds from a /usr/bin/time -v file, load averages from .load."""
    text = path.read_text() if path.exists() else ""

    def grab(label):
        m = re.search(rf"{re.escape(label)}:\s*(\S+)", text)
        return m.group(1) if m else None

    wall = grab("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":")))) if wall else np.nan
    cpu = float(grab("User time (seconds)") or "nan") + float(grab("System time (seconds)") or "nan")
    load = path.with_suffix(".load")
    avgs = re.findall(r"load average: ([\d.]+)", load.read_text()) if load.exists() else []
    killed = re.search(r"Command terminated by signal (\d+)", text)
    status = f"stopped (signal {killed.group(1)})" if killed else ("finished" if wall else "running")
    return {"status": status, "cpu_s": cpu, "wall_s": secs,
            "load (1 min) before -> after": f"{avgs[0] if avgs else '?'} -> {avgs[1] if len(avgs) > 1 else '?'}"}


def timings(root: Path) -> pd.DataFrame:
    rows = [{"study": p.relative_to(root).parts[0], "run": str(p.relative_to(root).with_suffix("")), **timing(p)}
            for p in sorted(root.rglob("*.time")) if "analysis" not in p.parts]
    return pd.DataFrame(rows, columns=["study", "run", "status", "cpu_s", "wall_s", "load (1 min) before -> after"])


def commands(root: Path) -> list[str]:
    """The recorded commands, with the interpreter's path shown as `python`."""
    return [re.sub(r"^\S*python\d*(?=\s)", "python", p.read_text().strip()) for p in sorted(root.rglob("*.cmd"))]


def setup(folder: Path) -> list[str]:
    """One line per run below folder: the settings a reader needs to judge the scale."""
    out = []
    for run in find_runs(folder) if folder.is_dir() else []:
        c = read_config(run)
        task, gen, upd, ver = (c.get(k) or {} for k in ("task", "generation", "updater", "verifier"))
        line = (f"- `{run.relative_to(folder)}`: {(c.get('model') or {}).get('name')}, {task.get('name')} "
                f"{task.get('limit')} test prompts x {gen.get('n_samples')} samples, <= {gen.get('max_new_tokens')} "
                f"new tokens, {gen.get('num_shots')}-shot, t={gen.get('temperature')}, seed {c.get('seed')}")
        if task.get("train_split"):
            line += f"; D_t from {task.get('train_limit')} `{task['train_split']}` prompts"
        if c.get("iterations"):
            line += (f"; {c['iterations']} updates of {upd.get('max_steps')} steps x batch {upd.get('batch_size')}, "
                     f"lr {upd.get('learning_rate')}, LoRA {'on' if (upd.get('lora') or {}).get('enabled') else 'off'}")
        if "max_new_tokens" in ver:
            line += f"; verifier judgements <= {ver['max_new_tokens']} tokens"
        out.append(line)
    return out


# -- study 1: iterative self-improvement -------------------------------------------------------
def train_arrays(run: Path, t: int):
    """The train prompts' arrays of round t (round_NN/train/, written when task.train_split is set)."""
    from gvgap.arrays import RoundArrays
    from gvgap.pipeline import TRAIN_DIR

    rd = A.round_dir(run, t) / TRAIN_DIR
    if not (rd / "generations.parquet").exists():
        return None
    return RoundArrays(A.read_parquet(rd / "generations.parquet"), A.read_parquet(rd / "verifications.parquet"))


def iterative_rows(root: Path) -> pd.DataFrame:
    """One row per (verifier, prompts, round): accuracy, gap, pass@N with 95% CIs, and the
    change of accuracy and of pass@N against round 0 (paired over the same prompts).
    prompts: "held-out" = the test prompts (metrics.json's top level; never trained on when
    task.train_split is set), "trained-on" = the train prompts D_t is built from (`train`)."""
    rows, base = [], {}
    runs = find_runs(root / "iterative") if (root / "iterative").is_dir() else []
    for run in runs:
        split = bool((read_config(run).get("task") or {}).get("train_split"))
        for t, m in enumerate(read_rounds(run)):
            sides = [("held-out" if split else "trained-on (no split)", m, load_round(run, t))]
            if split and m.get("train"):
                sides.append(("trained-on", m["train"], train_arrays(run, t)))
            for side, mm, arrays in sides:
                u = arrays.utilities
                n = u.shape[1]
                acc, pk = per_prompt(u), per_prompt(u, n)
                if t == 0:
                    base[(run.name, side)] = (acc, pk)
                row = {"verifier": run.name, "prompts": side, "round": t, "n_prompts": u.shape[0], "k": n,
                       "accuracy": mm["accuracy"], "accuracy_ci": bootstrap_ci(acc), "gap": mm["gap"],
                       "gap_ci": (mm["gap_ci"]["low"], mm["gap_ci"]["high"]), "pass@1": mm["pass_at_k"]["1"],
                       f"pass@{n}": mm["pass_at_k"][str(n)], "passN_ci": bootstrap_ci(pk)}
                b = base.get((run.name, side))
                if t > 0 and b is not None and len(b[0]) == len(acc):
                    row["d_accuracy"], row["d_accuracy_ci"] = float(np.mean(acc - b[0])), bootstrap_ci(acc - b[0])
                    row["d_passN"], row["d_passN_ci"] = float(np.mean(pk - b[1])), bootstrap_ci(pk - b[1])
                rows.append(row)
    df = pd.DataFrame(rows)
    return df.sort_values(["verifier", "prompts", "round"], kind="stable").reset_index(drop=True) if len(df) else df


def iterative_table(df: pd.DataFrame) -> str:
    lines = ["| verifier | prompts | round | accuracy [95% CI] | Δ accuracy vs round 0 | gap [95% CI] | pass@1 | "
             "pass@N [95% CI] | Δ pass@N vs round 0 |", "|---|---|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        da = fmt(r["d_accuracy"], *r["d_accuracy_ci"]) + f" ({noise(*r['d_accuracy_ci'])})" \
            if isinstance(r.get("d_accuracy_ci"), tuple) else "—"
        dp = fmt(r["d_passN"], *r["d_passN_ci"]) + f" ({noise(*r['d_passN_ci'])})" \
            if isinstance(r.get("d_passN_ci"), tuple) else "—"
        lines.append(f"| {r['verifier']} | {r['prompts']} | {r['round']} | {fmt(r['accuracy'], *r['accuracy_ci'])} | "
                     f"{da} | {fmt(r['gap'], *r['gap_ci'])} | {fmt(r['pass@1'])} | "
                     f"{fmt(r[f'pass@{r.k}'], *r['passN_ci'])} (N={r.k}) | {dp} |")
    return "\n".join(lines) + "\n"


def iterative_figure(df: pd.DataFrame, path: Path) -> Path:
    """Accuracy and pass@N per round, one line per (verifier, prompts), 95% CI bands."""
    plt = plots._plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (col, ci, title) in zip(axes, [("accuracy", "accuracy_ci", "accuracy (mean over samples)"),
                                           ("passN", "passN_ci", "pass@N (N samples per prompt)")]):
        for (v, split), g in df.groupby(["verifier", "prompts"], sort=False):
            ys = g[f"pass@{g['k'].iloc[0]}"] if col == "passN" else g[col]
            ax.plot(g["round"], ys, marker="o", ls="-" if split == "trained-on" else "--", label=f"{v}, {split}")
            ax.fill_between(g["round"], [c[0] for c in g[ci]], [c[1] for c in g[ci]], alpha=0.15)
        ax.set_xlabel("round t (updates so far)")
        ax.set_xticks(sorted(df["round"].unique()))
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("SmolLM2-135M, arithmetic: bands are 95% bootstrap intervals over prompts", fontsize=9)
    return plots.save(fig, path)


# -- studies 2 and 3: round-0 runs -------------------------------------------------------------
def round0_rows(root: Path) -> pd.DataFrame:
    """collect()'s rows of round 0 with the run's gap interval."""
    df = tables.collect(root)
    d = df[df["round"] == 0].copy()
    d["gap_low"] = [read_rounds(root / r)[0]["gap_ci"]["low"] if r != "." else np.nan for r in d["run"]]
    d["gap_high"] = [read_rounds(root / r)[0]["gap_ci"]["high"] if r != "." else np.nan for r in d["run"]]
    return d.reset_index(drop=True)


def verifier_table(d: pd.DataFrame) -> str:
    lines = ["| generator | verifier | verifier model | weights | accuracy | weighted accuracy | gap [95% CI] | "
             "gap noise | unparseable rate | AUROC |", "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in d.iterrows():
        auroc = r.get("verifier_auroc")
        lines.append(f"| {r['model']} | {r['verifier']} | {r['verifier_model']} | {r['weight_fn']} | "
                     f"{fmt(r['accuracy'])} | {fmt(r['weighted_accuracy'])} | {fmt(r['gap'], r['gap_low'], r['gap_high'])} | "
                     f"{noise(r['gap_low'], r['gap_high'])} | {fmt(r.get('unparseable_rate'))} | {fmt(auroc)} |")
    return "\n".join(lines) + "\n"


def gap_bars(d: pd.DataFrame, names: list[str], title: str, path: Path) -> Path:
    plt = plots._plt()
    fig, ax = plt.subplots(figsize=(1.2 * len(d) + 2.5, 3.4))
    x = np.arange(len(d))
    err = np.vstack([d["gap"] - d["gap_low"], d["gap_high"] - d["gap"]]) * 100
    ax.bar(x, d["gap"] * 100, yerr=err, capsize=4, color="tab:blue", alpha=0.7)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("gap (percentage points)")
    ax.set_title(title, fontsize=9)
    return plots.save(fig, path)


# -- the document ------------------------------------------------------------------------------
def write(root, out, notes=None) -> list[Path]:
    """Write `out` (markdown) and its figures in <out without .md>/; returns the paths."""
    root, out = Path(root), Path(out)
    fig_dir = out.with_suffix("")
    rel = fig_dir.name
    written, md = [], [
        "# Results on CPU: SmolLM2-135M-Instruct and Gemma-3 270M", "",
        f"Generated by `python -m gvgap.analyze results {root} out={out}` from the run folders "
        "(do not edit by hand; the observations come from "
        f"`{notes}`)." if notes else f"Generated by `python -m gvgap.analyze results {root} out={out}`.", "",
        "Intervals: 95% percentile bootstrap over prompts (1000 resamples); a change against round 0 is "
        "bootstrapped over the same prompts (paired). *within noise* = the interval contains 0.", ""]
    if notes and Path(notes).exists():
        md += ["## Observations", "", Path(notes).read_text().strip(), ""]

    it = iterative_rows(root)
    if len(it):
        md += ["## 1. Iterative self-improvement (arithmetic, SFT, 3 updates)", "", *setup(root / "iterative"), "",
               "held-out = the test prompts, never trained on; trained-on = the train prompts D_t is drawn from "
               "(`task.train_split`). N = samples per prompt.", "", iterative_table(it)]
        written.append(iterative_figure(it, fig_dir / "iterative_ci.png"))
        md += [f"![accuracy and pass@N per round]({rel}/iterative_ci.png)", ""]
        df = tables.collect(root / "iterative")
        paths = figures.plot_rounds(df, fig_dir / "iterative_rounds.png", fig_dir / "iterative_passk.png")
        written += paths
        md += [f"![{p.stem}]({rel}/{p.name})" for p in paths] + [""]
    if (root / "cross").is_dir():
        d = round0_rows(root / "cross")
        md += ["## 2. Cross-verification: generator x verifier model (arithmetic, MC, top 0.8)", "",
               *setup(root / "cross"), "", verifier_table(d)]
        grids = tables.cross_grids(tables.collect(root / "cross"))
        for name, grid in [(k, g) for k, g in grids.items() if not k.endswith("oracle")]:
            written.append(figures.plot_grid(grid, f"gap (%) of generator x verifier: {name}", fig_dir / f"cross_{name}.png"))
            md += [tables.markdown(grid.reset_index(), 2), f"![cross {name}]({rel}/cross_{name}.png)", ""]
    if (root / "verifiers").is_dir():
        d = round0_rows(root / "verifiers")
        md += ["## 3. Verifier comparison on one generation set (SmolLM2-135M, arithmetic)", "",
               *setup(root / "verifiers"), "", verifier_table(d)]
        written.append(gap_bars(d, list(d["verifier"]), "gap per verifier, 95% CI", fig_dir / "verifiers_gap.png"))
        md += [f"![gap per verifier]({rel}/verifiers_gap.png)", ""]
    tm = timings(root)
    if len(tm):
        md += ["## CPU time", "", "CPU = user + system seconds of the run's processes (/usr/bin/time -v); wall "
               "= elapsed; load = the machine's 1-minute load average before and after (2 cores shared "
               "with other jobs, so wall time is not a speed measurement).", "",
               tables.markdown(tm, 0),
               tables.markdown(tm.groupby("study", as_index=False)[["cpu_s", "wall_s"]].sum(min_count=1), 0)]
    cmds = commands(root)
    if cmds:
        md += ["## Commands", "", "`bash docs/results/run.sh all` runs them all (with `OMP_NUM_THREADS=1` here); "
               "each, as recorded:", "", "```bash", *cmds, f"python -m gvgap.analyze results {root} out={out}", "```", ""]
    A.write_text("\n".join(md), out)
    return [out, *written]
