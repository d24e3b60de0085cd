"""Exact nucleus (top-p) sampling without a full-vocabulary sort.

Definition used everywhere in gvgap (the *reference*):

    p = softmax(logits / temperature)                      (float32)
    K = min{k : p_(1) + ... + p_(k) >= top_p}              (p_(1) >= p_(2) >= ... sorted)
    kept = {i : p_i >= p_(K)}                              (ties at the boundary are all kept)

and a token is drawn from `kept` with probability p_i / sum(p_kept), by inverse CDF
over the kept tokens in ascending token-id order with one uniform number per row.
Keeping every token tied with p_(K) makes the set independent of how a sort orders
equal values (bf16 logits tie often); HF's TopPLogitsWarper keeps an arbitrary subset
of such ties instead. The cumulative masses are summed in float64 in descending-value
order, which is the same sequence of numbers whatever the sort does with ties.

`top_p_sample` gets the same kept set from `torch.topk` with a growing k: it stops as
soon as the top-k mass reaches top_p *and* the k-th value is strictly below the
threshold (so no tied token lies outside the k retrieved), and falls back to the full
sort when k would exceed a fraction of the vocabulary. `reference_sample` does the full
sort. Both feed the same final draw, so with the same uniforms they return the same
tokens; tests check kept-set equality on adversarial (tied) logits.
"""

from __future__ import annotations

import torch

_FULL_SORT_FRACTION = 8  # give up on top-k once k > V / 8 and sort everything


def probabilities(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / temperature) in float32, [B, V]."""
    x = logits.float()
    if temperature != 1.0:
        x = x / temperature
    return torch.softmax(x, dim=-1)


def _threshold_from_sorted(vals: torch.Tensor, top_p: float):
    """From descending-sorted probabilities [B, k]: (found [B] bool, threshold [B]).

    found: the k values reach mass top_p; threshold: p_(K) for those rows."""
    cum = vals.double().cumsum(-1)
    below = (cum < top_p).sum(-1)  # number of leading entries whose prefix mass < top_p
    found = below < vals.shape[-1]
    K = below.clamp(max=vals.shape[-1] - 1)
    thr = vals.gather(-1, K[:, None])[:, 0]
    return found, thr


def top_p_threshold_reference(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Threshold p_(K) per row with a full-vocabulary sort, [B]."""
    vals = torch.sort(probs, dim=-1, descending=True).values
    found, thr = _threshold_from_sorted(vals, top_p)
    # rounding can leave the total a hair under top_p: keep everything then
    thr = torch.where(found, thr, vals[:, -1])
    return thr


def top_p_threshold(probs: torch.Tensor, top_p: float, k0: int = 64):
    """Threshold p_(K) per row using torch.topk with a growing k. Returns (thr [B], k_used)."""
    B, V = probs.shape
    thr = torch.empty(B, dtype=probs.dtype, device=probs.device)
    todo = torch.arange(B, device=probs.device)
    k = max(1, min(k0, V))
    k_max_used = 0
    while todo.numel():
        if k * _FULL_SORT_FRACTION > V:
            thr[todo] = top_p_threshold_reference(probs[todo], top_p)
            k_max_used = V
            break
        sub = probs[todo]
        vals = torch.topk(sub, k, dim=-1, largest=True, sorted=True).values
        found, t = _threshold_from_sorted(vals, top_p)
        # every token tied with the threshold must be among the k retrieved
        complete = found & (vals[:, -1] < t)
        thr[todo[complete]] = t[complete]
        k_max_used = max(k_max_used, k)
        todo = todo[~complete]
        k *= 4
    return thr, k_max_used


def kept_mask(probs: torch.Tensor, thr: torch.Tensor) -> torch.Tensor:
    """The nucleus: p_i >= thr of its row. probs [B, m], thr [B] -> bool [B, m]."""
    return probs >= thr[:, None]


def draw_from_kept(probs: torch.Tensor, thr: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw over the kept entries (kept_mask) of each row of probs [B, m], in
    column order (ascending token id for a full vocabulary). u: [B] in [0, 1).
    Returns column indices [B] (int64), never one of zero mass."""
    q = torch.where(kept_mask(probs, thr), probs, torch.zeros((), dtype=probs.dtype))
    cdf = q.double().cumsum(-1)
    target = u.double() * cdf[:, -1]
    tok = torch.searchsorted(cdf, target[:, None], right=True)[:, 0]
    # never land on a zero-mass token (u * total rounding at the very end)
    tok = tok.clamp(max=probs.shape[-1] - 1)
    bad = q.gather(-1, tok[:, None])[:, 0] <= 0
    if bool(bad.any()):
        last_kept = probs.shape[-1] - 1 - torch.flip((q > 0).to(torch.int8), dims=[-1]).argmax(-1)
        tok = torch.where(bad, last_kept, tok)
    return tok


def _draw_candidates(vals: torch.Tensor, idx: torch.Tensor, thr: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The same draw as `draw_from_kept` over the full vocabulary, made over top-k
    candidates (vals, token ids idx) that contain every kept token."""
    idx_sorted, order = torch.sort(idx, dim=-1)  # ascending token id, as over the full vocabulary
    pos = draw_from_kept(vals.gather(-1, order), thr, u)
    return idx_sorted.gather(-1, pos[:, None])[:, 0]


class SamplerStats:
    """How often the fast path needed more than the first top-k (for the benchmark)."""

    calls = 0
    fallbacks = 0


def top_p_sample(logits: torch.Tensor, temperature: float, top_p: float, u: torch.Tensor,
                 k0: int = 64) -> torch.Tensor:
    """Fast exact sampler: tokens [B] (int64). temperature 0 -> greedy (argmax).

    Common case: one torch.topk(k0) holds the whole nucleus of every row; the draw then
    touches only those k0 candidates. Otherwise the threshold comes from a growing k
    (or the full sort) and the draw scans the vocabulary once."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = probabilities(logits, temperature)
    B, V = probs.shape
    if top_p >= 1.0:
        return draw_from_kept(probs, torch.zeros(B, dtype=probs.dtype, device=probs.device), u)
    SamplerStats.calls += 1
    k = min(k0, V)
    vals, idx = torch.topk(probs, k, dim=-1, largest=True, sorted=True)
    found, thr = _threshold_from_sorted(vals, top_p)
    if k == V:
        thr = torch.where(found, thr, vals[:, -1])
        return _draw_candidates(vals, idx, thr, u)
    if bool((found & (vals[:, -1] < thr)).all()):
        return _draw_candidates(vals, idx, thr, u)
    SamplerStats.fallbacks += 1
    thr, _ = top_p_threshold(probs, top_p, k0 * 4)
    return draw_from_kept(probs, thr, u)


def reference_sample(logits: torch.Tensor, temperature: float, top_p: float, u: torch.Tensor) -> torch.Tensor:
    """Full-sort reference with the same definition and the same draw."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = probabilities(logits, temperature)
    if top_p >= 1.0:
        thr = torch.zeros(probs.shape[0], dtype=probs.dtype, device=probs.device)
    else:
        thr = top_p_threshold_reference(probs, top_p)
    return draw_from_kept(probs, thr, u)
