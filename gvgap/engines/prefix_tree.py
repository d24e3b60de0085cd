"""Decoding prompts whose prefixes form a two-level tree: instruction -> problem -> solution.

The N verification prompts of a problem (CoT verifiers, tournament matches) repeat one
instruction, then one problem text, then differ in the solution. `prefix_tree` finds
the levels from token ids alone (so however the tokenizer merges text at a boundary,
only identical tokens are shared):
  * the trunk: the longest common token prefix of all prompts;
  * groups: prompts sharing a longer prefix after the trunk (sorted neighbours, split
    by the token-count cost model of gvgap.engines.prefix_scoring.prefix_groups, a
    group charged min_shared tokens), each with its group prefix length.
Callers need not group or order their prompts; the verifiers pass them grouped by
problem anyway.

`TreeDecodeBatch` is DecodeBatch (same rows, refills, seeds, stop handling) with KV at
three levels, merged per layer by log-sum-exp (SharedPrefixContext.attend):
  * trunk segment: prefilled once, one attention call for all rows;
  * group segment: the group's prefix after the trunk, prefilled once (when the group's
    first prompt is), one attention call for the group's rows;
  * the prompt's own remainder: with n == 1 (one judgement per prompt) it is prefilled
    and then copied into the row's private suffix, so every row's private attention is
    one batched call (as a one-row segment it would cost one call per row and layer);
    with n > 1 it is a segment shared by the prompt's n rows.
Samples equal DecodeBatch's up to float rounding (tests: same greedy tokens in float32).
"""

from __future__ import annotations

from collections import deque

import torch

from gvgap.engines.decode_batch import (
    TRUNK,
    DecodeBatch,
    prompt_states,
    StopMatcher,
    common_prefix_len,
)
from gvgap.engines.prefix_scoring import prefix_groups
from gvgap.engines.shared_prefix import SharedPrefixContext


def prefix_tree(prompt_ids: list[list[int]], min_shared: int) -> tuple[int, list[tuple[list[int], int]]]:
    """(trunk length, [(member prompt indices ascending, group prefix length)]).

    Lengths are absolute token counts; every prompt keeps >= 1 token after its trunk and
    group prefix (its last token's logits start the samples). A group prefix equal to the
    trunk length means "no group level"; shared spans under `min_shared` tokens are not
    shared. Groups are ordered by their first member."""
    P = len(prompt_ids)
    if P == 0:
        return 0, []
    shortest = min(map(len, prompt_ids))
    tl = min(common_prefix_len(prompt_ids) if P > 1 else 0, shortest - 1)
    tl = tl if tl >= min_shared else 0
    groups = []
    # a group costs one more attention call per layer and step, not the extra forwards of
    # scoring: charge it min_shared tokens
    for members, extra in prefix_groups([p[tl:] for p in prompt_ids], min_shared, overhead=min_shared):
        members = sorted(members)
        groups.append((members, tl + (extra if len(members) > 1 else 0)))
    groups.sort(key=lambda g: g[0][0])
    return tl, groups


def prefill_rows(dec, segments: dict, row_segs: list[tuple], starts: list[int], branches: list[list[int]]):
    """Prefill token lists branches[i] at absolute positions starts[i]..., row i attending
    to the segments row_segs[i] (ids of `segments`). Returns (their K/V as Segments, the
    logits at each branch's last token [k, V] float32)."""
    k, T = len(branches), max(map(len, branches))
    ctx = SharedPrefixContext(dec.n_layers, k, T)
    for sid, seg in segments.items():
        ctx.add_segment(sid, seg)
    for i in range(k):
        ctx.set_row(i, row_segs[i], starts[i])
    if k == 1 and T > dec.prefill_tokens:  # one long prompt: chunk it
        for s in range(0, T, dec.prefill_tokens):
            logits = dec._forward(ctx, torch.tensor([branches[0][s: s + dec.prefill_tokens]]))
            ctx.advance()
        logits = logits[:, -1].float()
    else:  # right-padded, one forward
        ids = torch.tensor([b + [dec.pad] * (T - len(b)) for b in branches])
        logits = dec._forward(ctx, ids, keep=torch.tensor([len(b) - 1 for b in branches]))[:, 0].float()
        ctx.advance([len(b) for b in branches])
    dec.stats["prefill_tokens"] += sum(map(len, branches))
    return [ctx.to_segment(i, len(b)) for i, b in enumerate(branches)], logits


class TreeDecodeBatch(DecodeBatch):
    """DecodeBatch over a two-level prefix tree (shared-prefix attention only).
    Segment ids: TRUNK, 1 + p for prompt p's remainder (n > 1), 1 + P + g for group g."""

    def __init__(self, dec, prompt_ids: list[list[int]], params, seeds: list[int]):
        self.dec, self.params = dec, params
        self.n, self.max_new = int(params.n), int(params.max_new_tokens)
        self.shared = True
        P = len(prompt_ids)
        self.tl, groups = prefix_tree(prompt_ids, dec.min_shared)
        self.trunk = dec._prefill_trunk(prompt_ids[0][: self.tl]) if self.tl else None
        self.prompts = prompt_states(prompt_ids, seeds, self.n, self.max_new)
        self.group_of = [0] * P
        self.glen = [gl for _, gl in groups]  # group prefix end (absolute position)
        self.gleft = [len(m) * self.n for m, _ in groups]  # samples not yet retired
        self.gseg: dict[int, object] = {}  # group -> its prefix Segment, once prefilled
        for g, (members, _) in enumerate(groups):
            for p in members:
                self.group_of[p] = g
        self.own = self.n == 1  # the remainder goes into the row's own suffix
        rem = max(len(ids) - self.glen[self.group_of[p]] for p, ids in enumerate(prompt_ids)) if self.own else 0
        cap = rem + self.max_new + 1
        self.rows = max(1, min(dec.max_rows, int(dec.kv_budget // (dec._token_bytes() * cap))))
        self.ctx = SharedPrefixContext(dec.n_layers, self.rows, cap)
        if self.trunk is not None:
            self.ctx.add_segment(TRUNK, self.trunk)
        self.stops = StopMatcher(dec.tok, params.stop)
        # group by group (a group's prefix is freed after its last sample), by remainder
        # length inside a group, alternately rising and falling so that neighbours across
        # a group boundary are alike too: a prefill forward pads little
        self.waiting = deque(p for g, (members, _) in enumerate(groups)
                             for p in sorted(members, key=lambda q: len(prompt_ids[q]), reverse=g % 2 == 1))
        self.slot = [None] * self.rows
        self.done, self.total = 0, P * self.n

    def _gsid(self, g: int) -> int:
        return 1 + len(self.prompts) + g

    def _segs(self, g: int) -> tuple[int, ...]:
        """Segment ids a row of group g attends to (before its prompt's own remainder)."""
        return ((TRUNK,) if self.trunk is not None else ()) + ((self._gsid(g),) if self.glen[g] > self.tl else ())

    def _remainder(self, q: int) -> int:
        return len(self.prompts[q].ids) - self.glen[self.group_of[q]]

    def _place(self, s: int, p: int) -> None:
        pr, g = self.prompts[p], self.group_of[p]
        if self.own:
            self.ctx.set_row(s, self._segs(g), self.glen[g], init=pr.full)
            pr.full = None  # n == 1: its only row holds it now
        else:
            self.ctx.set_row(s, self._segs(g) + (pr.sid,), len(pr.ids))

    def _prefill(self, p: int) -> None:
        """Prefill prompt p's remainder with the next waiting prompts (while
        `prefill_fits`; in own-suffix mode at most max(free slots, 8) prompts, so prefilled
        remainders waiting for a slot stay few), after prefilling any group prefix they
        need; draw the first token of each of their samples."""
        dec, tl = self.dec, self.tl
        limit = max(8, sum(s is None for s in self.slot)) if self.own else max(1, 2 * self.rows // self.n)
        batch = self._prefill_batch(p, limit)
        trunk = {TRUNK: self.trunk} if self.trunk is not None else {}
        need = sorted({self.group_of[q] for q in batch} - set(self.gseg))
        need = [g for g in need if self.glen[g] > tl]
        if need:  # group prefixes, each once, all in one forward
            heads = [self.prompts[next(q for q in batch if self.group_of[q] == g)].ids[tl: self.glen[g]] for g in need]
            segs, _ = prefill_rows(dec, trunk, [tuple(trunk)] * len(need), [tl] * len(need), heads)
            for g, seg in zip(need, segs):
                self.gseg[g] = seg
                self.ctx.add_segment(self._gsid(g), seg)
        segments = {**trunk, **{self._gsid(g): self.gseg[g] for g in {self.group_of[q] for q in batch}
                                if g in self.gseg}}
        groups = [self.group_of[q] for q in batch]
        segs, logits = prefill_rows(dec, segments, [self._segs(g) for g in groups], [self.glen[g] for g in groups],
                                    [self.prompts[q].ids[self.glen[g]:] for q, g in zip(batch, groups)])
        for q, seg, lg in zip(batch, segs, logits):
            pr = self.prompts[q]
            if self.own:
                pr.full = seg
            else:
                pr.sid = 1 + q
                self.ctx.add_segment(pr.sid, seg)
            pr.first = dec._sample(lg[None].expand(self.n, -1), self.params, pr.U[:, 0])

    def retire(self, p: int, j: int, seq: list[int]) -> None:
        """DecodeBatch.retire, and free the group's prefix after its last sample."""
        super().retire(p, j, seq)
        g = self.group_of[p]
        self.gleft[g] -= 1
        if self.gleft[g] == 0:
            self.ctx.drop_segment(self._gsid(g))
            self.gseg.pop(g, None)
