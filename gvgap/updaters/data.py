"""Training data from one round's records: the kept set D_t for SFT, preference pairs for
RPO, and token ids with the prompt masked out. Plain pandas/numpy: no torch here."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger("gvgap")

REQUIRED = ("prompt_id", "sample_id", "prompt", "completion", "weight")
IGNORE = -100  # label of a token that is not trained on (prompt tokens, padding)


def check_records(records: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in records.columns]
    if missing:
        raise ValueError(f"updater: records lack column(s) {missing}; got {list(records.columns)}")


def clean_weights(records: pd.DataFrame) -> np.ndarray:
    """Weights as floats; a missing, NaN, infinite or negative weight counts as 0 (not kept)."""
    w = pd.to_numeric(records["weight"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        log.warning("updater: %d sample(s) with a missing or invalid weight are not trained on", int(bad.sum()))
    return np.where(bad, 0.0, w)


def kept_examples(records: pd.DataFrame, example_weighting: str = "global") -> pd.DataFrame:
    """D_t = samples with weight > 0, each with `share`: its probability of being drawn
    when the trainer samples examples (shares sum to 1).

    global: share ∝ w (0/1 weights: uniform over D_t, Algorithm 1).
    prompt: share ∝ w / sum of w over the prompt (every prompt with a kept sample counts
            equally: the N-sample estimate of f_t[w](.|x), uniform over x).
    """
    check_records(records)
    w = clean_weights(records)
    kept = records.loc[w > 0, ["prompt_id", "sample_id", "prompt", "completion"]].copy()
    kept["weight"] = w[w > 0]
    if kept.empty:
        kept["share"] = pd.Series(dtype=np.float64)
        return kept.reset_index(drop=True)
    if example_weighting == "prompt":
        raw = kept["weight"] / kept.groupby("prompt_id")["weight"].transform("sum")
    elif example_weighting == "global":
        raw = kept["weight"]
    else:
        raise ValueError(f"updater.example_weighting must be global or prompt (got {example_weighting!r})")
    kept["share"] = raw / raw.sum()
    return kept.reset_index(drop=True)


def is_uniform(shares) -> bool:
    shares = np.asarray(shares, dtype=np.float64)
    return shares.size == 0 or bool(np.allclose(shares, shares[0], rtol=1e-9, atol=0))


def preference_pairs(records: pd.DataFrame, max_pairs_per_prompt: int, seed: int) -> pd.DataFrame:
    """RPO pairs per prompt: chosen has weight > 0, rejected has weight == 0.

    Of a prompt's |chosen| x |rejected| possible pairs, up to `max_pairs_per_prompt` are
    drawn without replacement by a generator seeded with `seed` (prompts in order of first
    appearance, so the draw does not depend on row order within a prompt). A prompt whose
    samples are all kept or all rejected gives no pair.
    """
    check_records(records)
    df = records.assign(_w=clean_weights(records))
    rng = np.random.default_rng(seed)
    rows = []
    for pid, grp in df.groupby("prompt_id", sort=False):
        grp = grp.sort_values("sample_id")
        chosen, rejected = grp[grp["_w"] > 0], grp[grp["_w"] == 0]
        n = len(chosen) * len(rejected)
        if n == 0:
            continue
        k = min(max_pairs_per_prompt, n)
        picks = np.sort(rng.choice(n, size=k, replace=False))
        prompt = grp["prompt"].iloc[0]
        for p in picks:
            c, r = chosen.iloc[p // len(rejected)], rejected.iloc[p % len(rejected)]
            rows.append({"prompt_id": pid, "prompt": prompt,
                         "chosen_id": int(c["sample_id"]), "rejected_id": int(r["sample_id"]),
                         "chosen": c["completion"], "rejected": r["completion"]})
    cols = ["prompt_id", "prompt", "chosen_id", "rejected_id", "chosen", "rejected"]
    return pd.DataFrame(rows, columns=cols)


def encode(tokenizer, prompt: str, completion: str, add_eos: bool) -> tuple[list[int], list[int]]:
    """(prompt ids, completion ids). The prompt is tokenized alone, exactly as the engines
    tokenize it for sampling, so training sees the context the sample was drawn from; the
    completion is tokenized without special tokens and appended."""
    p = tokenizer(prompt).input_ids
    c = tokenizer(completion, add_special_tokens=False).input_ids
    if add_eos and tokenizer.eos_token_id is not None:
        c = c + [tokenizer.eos_token_id]
    return list(p), list(c)


def sft_features(tokenizer, kept: pd.DataFrame, max_length: int, add_eos: bool) -> tuple[dict, int]:
    """Token ids and labels (prompt tokens = IGNORE) for each kept example; examples longer
    than max_length are dropped (never truncated: a cut prompt is a context the model was
    not sampled from, a cut completion loses the answer). Returns (columns, n_dropped)."""
    cols = {"input_ids": [], "labels": [], "share": [], "prompt_id": []}
    dropped = 0
    for prompt, completion, share, pid in zip(kept["prompt"], kept["completion"], kept["share"], kept["prompt_id"]):
        p, c = encode(tokenizer, prompt, completion, add_eos)
        if len(p) + len(c) > max_length or not c:
            dropped += 1
            continue
        cols["input_ids"].append(p + c)
        cols["labels"].append([IGNORE] * len(p) + c)
        cols["share"].append(float(share))
        cols["prompt_id"].append(str(pid))
    if dropped:
        log.warning("updater: %d example(s) longer than max_length=%d (or empty) are not trained on",
                    dropped, max_length)
    return cols, dropped


def fits(tokenizer, pairs: pd.DataFrame, max_length: int, add_eos: bool) -> np.ndarray:
    """Mask of pairs whose prompt + longer completion fits in max_length tokens."""
    ok = []
    for prompt, chosen, rejected in zip(pairs["prompt"], pairs["chosen"], pairs["rejected"]):
        p, c = encode(tokenizer, prompt, chosen, add_eos)
        _, r = encode(tokenizer, prompt, rejected, add_eos)
        ok.append(len(p) + max(len(c), len(r)) <= max_length)
    return np.asarray(ok, dtype=bool)
