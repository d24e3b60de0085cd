"""The decode loop of `FastDecoder.generate_ids`: which sample occupies which row.

A `DecodeBatch` holds one call's state:
  * waiting: prompts that still have samples to start (their first token comes from
    the prompt's prefill, drawn for all n samples at once);
  * active rows: up to `rows` slots of the KV context, each decoding one sample
    (prompt p, sample j) with its tokens so far;
  * the KV budget: `rows` is max_rows, or fewer when the per-row suffix buffers
    (max_new_tokens [+ prompt with standard attention] tokens each) would exceed
    kv_budget_mb.
Each iteration `admit()` fills free slots (lowest first, so live rows stay packed at
the front), `pack()` drops trailing dead slots and compacts holes once nothing is left
to refill, and `step()` runs one forward, draws one token per live row and `retire()`s
the samples that ended (EOS, max_new_tokens or a stop string).

Row (prompt i, sample j) draws its t-th token with U_i[j, t] of a torch.Generator seeded
with seeds[i]: samples depend neither on batching nor on which slot they ran in.
"""

from __future__ import annotations

import time
from collections import deque

import torch

from gvgap.engines.base import SamplingParams
from gvgap.engines.shared_prefix import Segment, SharedPrefixContext

TRUNK = 0  # segment id of the prefix common to all prompts; prompt p's branch is 1 + p


def common_prefix_len(seqs: list[list[int]]) -> int:
    """Length of the longest common prefix of token lists (0 for none)."""
    if not seqs:
        return 0
    first = seqs[0]
    n = min(map(len, seqs))
    for s in seqs[1:]:
        i = 0
        while i < n and s[i] == first[i]:
            i += 1
        n = i
        if n == 0:
            break
    return n


def prefill_fits(k: int, longest: int, real: int, length: int, budget: int) -> bool:
    """Whether one more prompt remainder of `length` tokens joins a right-padded prefill
    forward that holds k remainders (`real` tokens, the longest `longest`): the forward
    stays within `budget` padded tokens and at least 3/4 of its tokens are real ones
    (padding costs as much compute as a real token)."""
    padded = (k + 1) * max(length, longest)
    return padded <= budget and 4 * (real + length) >= 3 * padded


class StopMatcher:
    """Does a token list end in one of the stop strings? Decodes only a short tail, and
    only when the newest token's text holds a stop string's last character."""

    def __init__(self, tokenizer, stop):
        self.tok = tokenizer
        self.stop = tuple(s for s in (stop or ()) if s)
        self.window = max((len(s.encode()) for s in self.stop), default=0) + 2  # tokens to decode
        self.last_chars = {s[-1] for s in self.stop}
        self.filter = all(ord(c) < 128 for c in self.last_chars)  # a token's text holds whole ASCII chars
        self._has_last: dict[int, bool] = {}

    def __call__(self, toks: list[int]) -> bool:
        if not self.stop:
            return False
        t = toks[-1]
        if self.filter:
            h = self._has_last.get(t)
            if h is None:
                piece = self.tok.decode([t], skip_special_tokens=True)
                h = self._has_last[t] = any(c in piece for c in self.last_chars)
            if not h:
                return False
        text = self.tok.decode(toks[-self.window:], skip_special_tokens=True)
        return any(s in text for s in self.stop)


class PromptState:
    """One prompt's samples: uniforms U [n, max_new] (float64), the next sample to
    start, how many are unfinished, its KV once prefilled, and the finished outputs."""

    __slots__ = ("ids", "U", "next", "left", "sid", "first", "full", "outs")

    def __init__(self, ids: list[int], U: torch.Tensor, n: int):
        self.ids, self.U = ids, U
        self.next = 0
        self.left = n
        self.sid = None  # branch segment id in the context (shared-prefix attention)
        self.first = None  # first tokens of all n samples [n], set at prefill
        self.full = None  # whole-prompt KV, copied into each row (standard attention)
        self.outs: list[list[int] | None] = [None] * n


def prompt_states(prompt_ids: list[list[int]], seeds: list[int], n: int, max_new: int) -> list[PromptState]:
    """Each prompt's state with its own seeded uniforms [n, max_new]: a sample's draws
    depend on its prompt's seed only, not on batching or refills."""
    out = []
    for ids, seed in zip(prompt_ids, seeds):
        g = torch.Generator().manual_seed(int(seed))
        out.append(PromptState(ids, torch.rand(n, max_new, generator=g, dtype=torch.float64), n))
    return out


class DecodeBatch:
    """Samples params.n continuations of every prompt with the model calls of `dec`
    (a FastDecoder). `run()` returns token ids [P][n] (EOS not included)."""

    def __init__(self, dec, prompt_ids: list[list[int]], params: SamplingParams, seeds: list[int]):
        self.dec, self.params = dec, params
        self.n, self.max_new = int(params.n), int(params.max_new_tokens)
        self.shared = dec.attention == "shared_prefix"
        P = len(prompt_ids)
        tl = common_prefix_len(prompt_ids) if P > 1 else 0
        tl = min(tl, min(map(len, prompt_ids)) - 1)  # every prompt keeps >= 1 token of its own
        self.tl = tl if tl >= dec.min_shared else 0
        self.trunk = dec._prefill_trunk(prompt_ids[0][: self.tl]) if self.tl else None
        self.prompts = prompt_states(prompt_ids, seeds, self.n, self.max_new)
        cap = self.max_new + 1 if self.shared else max(map(len, prompt_ids)) + self.max_new + 1
        self.rows = max(1, min(dec.max_rows, int(dec.kv_budget // (dec._token_bytes() * cap))))
        self.ctx = SharedPrefixContext(dec.n_layers, self.rows, cap)
        if self.trunk is not None and self.shared:
            self.ctx.add_segment(TRUNK, self.trunk)
        self.stops = StopMatcher(dec.tok, params.stop)
        # shortest first: a prefill forward pads its prompts to the longest one, so
        # neighbours of similar length waste little (samples do not depend on the order)
        self.waiting = deque(sorted(range(P), key=lambda p: len(prompt_ids[p])))
        self.slot: list[tuple[int, int, list[int]] | None] = [None] * self.rows  # (prompt, sample, tokens)
        self.done, self.total = 0, P * self.n

    def run(self) -> list[list[list[int]]]:
        while self.done < self.total:
            self.admit()
            if any(row is not None for row in self.slot):  # else every sample ended at its first token
                self.step(self.pack())
        return [pr.outs for pr in self.prompts]

    # -- rows in ------------------------------------------------------------------------
    def admit(self) -> None:
        """Start waiting samples in free slots, lowest slot first."""
        for s in range(self.rows):
            if self.slot[s] is None and not self._start_next(s):
                break

    def _start_next(self, s: int) -> bool:
        """Put the next waiting sample into slot s; False if none is left. A sample whose
        first token already ends it is retired without taking a row."""
        while self.waiting:
            p = self.waiting[0]
            pr = self.prompts[p]
            if pr.next >= self.n:
                self.waiting.popleft()
                continue
            if pr.first is None:
                self._prefill(p)
            j = pr.next
            pr.next += 1
            t0 = int(pr.first[j])
            if t0 in self.dec.eos:
                self.retire(p, j, [])
                continue
            seq = [t0]
            if self.max_new == 1 or self.stops(seq):
                self.retire(p, j, seq)
                continue
            self._place(s, p)
            self.slot[s] = (p, j, seq)
            return True
        return False

    def _place(self, s: int, p: int) -> None:
        """Point slot s at prompt p's prefix KV (gvgap.engines.prefix_tree overrides it)."""
        pr = self.prompts[p]
        if self.shared:
            self.ctx.set_row(s, (TRUNK, pr.sid) if self.trunk is not None else (pr.sid,), len(pr.ids))
        else:
            self.ctx.set_row(s, (), 0, init=pr.full)

    def _remainder(self, q: int) -> int:
        """Tokens of prompt q that its prefill forward computes (after the shared prefix)."""
        return len(self.prompts[q].ids) - self.tl

    def _prefill_batch(self, p: int, limit: int) -> list[int]:
        """Prompt p, then the next waiting prompts not yet prefilled, while `prefill_fits`
        and at most `limit` of them: the prompts of one right-padded prefill forward."""
        batch, longest, real = [], 0, 0
        for q in [p] + [w for w in self.waiting if w != p]:
            if self.prompts[q].first is not None:
                continue
            L = self._remainder(q)
            if batch and not prefill_fits(len(batch), longest, real, L, self.dec.prefill_tokens):
                break
            batch.append(q)
            longest, real = max(longest, L), real + L
            if len(batch) >= limit:
                break
        return batch

    def _prefill(self, p: int) -> None:
        """Prefill prompt p's remainder after the trunk, with the next waiting prompts
        in the same forward while `prefill_fits` and up to 2 * rows samples; draw the
        first token of each of their samples."""
        dec, tl = self.dec, self.tl
        batch = self._prefill_batch(p, limit=-(-2 * self.rows // self.n))
        segs, logits = dec._prefill_branches(self.trunk, [self.prompts[q].ids[tl:] for q in batch], tl)
        for q, seg, lg in zip(batch, segs, logits):
            pr = self.prompts[q]
            if self.shared:
                pr.sid = 1 + q
                self.ctx.add_segment(pr.sid, seg)
            else:
                pr.full = Segment.concat(self.trunk, seg) if self.trunk is not None else seg
            pr.first = dec._sample(lg[None].expand(self.n, -1), self.params, pr.U[:, 0])

    # -- the batch ----------------------------------------------------------------------
    def pack(self) -> list[int]:
        """Drop trailing dead slots; when nothing waits and >= 1/4 of the slots are
        holes, move live rows to the front. Returns the live slots."""
        live = [s for s in range(self.rows) if self.slot[s] is not None]
        R = live[-1] + 1
        if R < self.ctx.rows:
            self.ctx.truncate(R)
        if len(live) < R and not self.waiting and (R - len(live)) * 4 >= R:
            self.ctx.compact(live)
            self.slot = [self.slot[s] for s in live] + [None] * (self.rows - len(live))
            live = list(range(len(live)))
            self.dec.stats["compactions"] += 1
        return live

    def step(self, live: list[int]) -> None:
        """One forward over the context's rows; one new token for each live row."""
        dec, ctx, stats = self.dec, self.ctx, self.dec.stats
        t_start = time.perf_counter()
        R = ctx.rows
        sel = slice(0, R) if len(live) == R else torch.tensor(live)
        stats["attn_ctx"] += int((ctx.pos0[sel] + ctx.lens[sel]).sum()) + len(live)
        ids = torch.tensor([[self.slot[s][2][-1] if self.slot[s] is not None else 0] for s in range(R)])
        logits = dec._forward(ctx, ids)[:, -1]
        ctx.advance()
        if len(live) < R:
            logits = logits[sel]
        u = torch.tensor([float(self.prompts[p].U[j, len(seq)]) for p, j, seq in (self.slot[s] for s in live)],
                         dtype=torch.float64)
        new = dec._sample(logits, self.params, u).tolist()
        stats["decode_s"] += time.perf_counter() - t_start
        stats["steps"] += 1
        stats["rows_sum"] += len(live)
        for s, t in zip(live, new):
            p, j, seq = self.slot[s]
            if t in dec.eos:
                end = True
            else:
                seq.append(t)
                end = len(seq) >= self.max_new or self.stops(seq)
            if end:
                self.retire(p, j, seq)
                self.slot[s] = None
                ctx.clear_row(s)

    # -- rows out -----------------------------------------------------------------------
    def retire(self, p: int, j: int, seq: list[int]) -> None:
        """Record sample j of prompt p; free the prompt's KV after its last sample."""
        pr = self.prompts[p]
        pr.outs[j] = seq
        pr.left -= 1
        self.done += 1
        if self.dec.progress:
            self.dec.progress(1)
        if pr.left == 0:
            self.ctx.drop_segment(1 + p)
            pr.full = None
