"""One round's samples as rows a person reads: what was generated, what the verifier
said, and what weight it got. The W&B logger shows them as a table per round.

Columns: round, prompt_id, sample_id, completion, answer (extracted), utility (true),
one `score:<verifier>` per verifier (the mean over its m verifications; NaN when it could
not be parsed; composite verifiers add their members), weight.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FIXED = ["round", "prompt_id", "sample_id", "completion", "answer", "utility"]


def samples_frame(gens: pd.DataFrame, ver: pd.DataFrame, t: int, max_rows: int) -> pd.DataFrame:
    """At most max_rows samples of round t, spread evenly over the prompts (rows in
    generation order; every k-th row when there are more), with their scores joined."""
    if max_rows <= 0 or gens.empty:
        return pd.DataFrame(columns=FIXED + ["weight"])
    gens = gens.reset_index(drop=True)
    if len(gens) > max_rows:
        gens = gens.iloc[np.linspace(0, len(gens) - 1, max_rows).round().astype(int)]
    out = gens[["prompt_id", "sample_id", "completion", "answer", "utility"]].copy()
    out.insert(0, "round", t)
    means = (ver.groupby(["prompt_id", "sample_id", "verifier"], sort=False)["score"].mean()
             .unstack("verifier"))
    seen = list(dict.fromkeys(ver["verifier"].astype(str)))
    names = [n for n in seen if "/" not in n] + [n for n in seen if "/" in n]  # top level, then members
    means.columns = means.columns.astype(str)
    keys = pd.MultiIndex.from_frame(out[["prompt_id", "sample_id"]].astype({"prompt_id": str, "sample_id": int}))
    for name in names:
        out[f"score:{name}"] = means[name].reindex(keys).to_numpy()
    out["weight"] = gens["weight"].to_numpy() if "weight" in gens.columns else np.nan
    return out.reset_index(drop=True)


def read_samples(round_dir, t: int, max_rows: int) -> pd.DataFrame | None:
    """samples_frame from a round folder; None when its files are missing."""
    from gvgap import artifacts as A

    rd = Path(round_dir)
    if not (rd / "generations.parquet").exists() or not (rd / "verifications.parquet").exists():
        return None
    return samples_frame(A.read_parquet(rd / "generations.parquet"), A.read_parquet(rd / "verifications.parquet"),
                         t, max_rows)
