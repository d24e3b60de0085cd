"""Scoring continuations of many prompts that share prefixes (MC verification).

Verification prompts repeat an instruction and a problem and differ in the solution.
`prefix_groups` finds groups of prompts with a long common prefix, `length_buckets`
splits a group into forwards of similar length, and `score_batch` prefills the group's
prefix once (the caller's trunk), every prompt's remainder once (logits only at its last
position) and the continuations of all prompts in one more small forward.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from gvgap.engines.decode_batch import TRUNK, common_prefix_len
from gvgap.engines.shared_prefix import SharedPrefixContext


def prefix_groups(prompt_ids: list[list[int]], min_shared: int, overhead: int = 64) -> list[tuple[list[int], int]]:
    """Groups of prompt indices sharing a prefix, each with the prefix length to prefill
    once for the group (0: none; always shorter than every member).

    Sorting puts prompts with common prefixes side by side; the common prefixes of
    neighbours (LCPs) form a tree (single-linkage clustering). A range of neighbours
    either stays one group, sharing its smallest LCP, or splits at its weakest links --
    whichever computes fewer tokens, counting `overhead` tokens per group for the extra
    forwards. Prefixes under `min_shared` tokens are not shared."""
    order = sorted(range(len(prompt_ids)), key=lambda i: prompt_ids[i])
    lens = [len(prompt_ids[i]) for i in order]
    links = [common_prefix_len([prompt_ids[a], prompt_ids[b]]) for a, b in zip(order, order[1:])]

    def best(lo, hi, depth):  # prompts lo..hi (inclusive) of the sorted order: (cost, parts)
        if lo == hi:
            return lens[lo] + overhead, [(lo, hi, 0)]
        t = min(links[lo:hi])
        tl = min(t, min(lens[lo: hi + 1]) - 1)
        tl = tl if tl >= min_shared else 0
        whole = tl + sum(lens[lo: hi + 1]) - (hi - lo + 1) * tl + overhead
        if depth > 200:
            return whole, [(lo, hi, tl)]
        cost, parts, start = 0, [], lo
        for j in range(lo, hi + 1):
            if j == hi or links[j] == t:
                c, p_ = best(start, j, depth + 1)
                cost += c
                parts += p_
                start = j + 1
        return (whole, [(lo, hi, tl)]) if whole <= cost else (cost, parts)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 1000))
    try:
        _, parts = best(0, len(order) - 1, 0)
    finally:
        sys.setrecursionlimit(limit)
    return [([order[j] for j in range(lo, hi + 1)], tl) for lo, hi, tl in parts]


def length_buckets(group: list[int], prompt_ids: list[list[int]], tl: int, prefill_tokens: int,
                   max_pad: float = 0.25) -> list[list[int]]:
    """Split a group into forwards of similar remainder length (at most `max_pad` of the
    padded tokens are padding) of at most `prefill_tokens` padded tokens each."""
    rem = sorted(group, key=lambda i: len(prompt_ids[i]))
    out, cur, real = [], [], 0
    for i in rem:
        L = len(prompt_ids[i]) - tl
        n = len(cur) + 1
        if cur and (n * L > prefill_tokens or n * L - (real + L) > max_pad * n * L):
            out.append(cur)
            cur, real = [], 0
        cur.append(i)
        real += L
    if cur:
        out.append(cur)
    return out


def score_batch(dec, trunk, tl: int, prompts: list[list[int]], conts: list[list[int]]) -> np.ndarray:
    """log p(c | prompt) of every prompt (whose first tl tokens are `trunk`) and
    continuation, with the model calls of `dec` (a FastDecoder): [len(prompts), len(conts)]."""
    k, C = len(prompts), len(conts)
    out = np.zeros((k, C), dtype=np.float64)
    segs, logits = dec._prefill_branches(trunk, [p[tl:] for p in prompts], tl)
    lp0 = torch.log_softmax(logits, dim=-1)  # [k, V]: the first token of every continuation
    for jj, c in enumerate(conts):
        if c:
            for ii in range(k):
                out[ii, jj] = float(lp0[ii, c[0]])
    Tc = max(len(c) - 1 for c in conts)
    if Tc <= 0:
        return out
    # one forward over every (prompt, continuation) row: tokens c[:-1] predict c[1:]
    ctx = SharedPrefixContext(dec.n_layers, k * C, Tc)
    if trunk is not None:
        ctx.add_segment(TRUNK, trunk)
    for ii, seg in enumerate(segs):
        ctx.add_segment(1 + ii, seg)
    ids = []
    for ii, p in enumerate(prompts):
        for jj, c in enumerate(conts):
            ctx.set_row(ii * C + jj, ((TRUNK,) if trunk is not None else ()) + (1 + ii,), len(p))
            feed = c[:-1]
            ids.append(feed + [dec.pad] * (Tc - len(feed)))
    lp = torch.log_softmax(dec._forward(ctx, torch.tensor(ids), keep=0).float(), dim=-1)  # [k*C, Tc, V]
    for ii in range(k):
        for jj, c in enumerate(conts):
            if len(c) > 1:
                tgt = torch.tensor(c[1:])
                out[ii, jj] += float(lp[ii * C + jj, : len(c) - 1].gather(-1, tgt[:, None]).sum())
    return out
