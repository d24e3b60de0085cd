"""Batched sampling and scoring on top of shared-prefix attention.

`FastDecoder.generate_ids` — the paper's sampling workload (N samples of long k-shot
prompts):
  1. the longest common token prefix of all prompts (the few-shot exemplars, the
     "trunk") is prefilled once, batch 1;
  2. each prompt's remainder (the "branch") is prefilled once, several prompts per
     forward, attending to the trunk segment; its last logits give the first token of
     every sample;
  3. decode runs up to `max_rows` rows at a time (fewer if the KV memory budget says
     so); each row attends to trunk + its branch (shared, un-replicated segments) and
     to its own suffix. Finished rows leave the batch at once and their slot is refilled
     with the next waiting sample (of the same or the next prompt), so the batch stays
     full; when nothing is left to refill, trailing/dead slots are compacted away.
  Row (prompt i, sample j) draws its t-th token with the uniform number U_i[j, t] of a
  torch.Generator seeded with prompt_seed(seed, index_i): samples do not depend on how
  prompts were batched, and the same config and seed give the same tokens.

`FastDecoder.score_ids` — MC verification (log p(continuation | prompt)): prompts are
sorted so that those sharing a prefix (instruction + problem) are neighbours; per batch
the common prefix is prefilled once, every prompt's remainder once (logits only at its
last position), and the continuations of all prompts in one more small forward.

`attention="standard"` keeps the same loop but copies the prompt's KV into every row
(what `generate` + `DynamicCache.batch_repeat_interleave` does): a reference for tests
and the benchmark's middle row.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import torch

from gvgap.engines.base import SamplingParams
from gvgap.engines.sampling import reference_sample, top_p_sample
from gvgap.engines.shared_prefix import Segment, SharedPrefixContext, register

TRUNK = 0


def common_prefix_len(seqs: list[list[int]]) -> int:
    if not seqs:
        return 0
    first = seqs[0]
    n = min(map(len, seqs))
    for s in seqs[1:]:
        i = 0
        lim = min(n, len(s))
        while i < lim and s[i] == first[i]:
            i += 1
        n = i
        if n == 0:
            break
    return n


class _Prompt:
    __slots__ = ("ids", "trunk", "U", "next", "left", "sid", "first", "outs", "full")

    def __init__(self, ids, trunk, U, n):
        self.ids, self.trunk, self.U = ids, trunk, U
        self.next = 0  # next sample to launch
        self.left = n  # samples not finished
        self.sid = None  # branch segment id once prefilled
        self.first = None  # first tokens of all samples [n]
        self.full = None  # whole-prompt segment (standard attention)
        self.outs = [None] * n


class FastDecoder:
    def __init__(self, model, tokenizer, *, max_rows: int = 32, kv_budget_mb: float = 2048,
                 attention: str = "shared_prefix", sampler: str = "fast", prefill_tokens: int = 4096,
                 min_shared: int = 16, share_trunk: bool = True, topk: int = 64, skinny_linear: bool = True,
                 progress=None):
        if attention not in ("shared_prefix", "standard"):
            raise ValueError(f"engine.attention: {attention!r} is not shared_prefix or standard")
        if sampler not in ("fast", "reference"):
            raise ValueError(f"engine.sampler: {sampler!r} is not fast or reference")
        self.model = model
        self.tok = tokenizer
        self.max_rows = int(max_rows)
        self.kv_budget = float(kv_budget_mb) * 2**20
        self.attention = attention
        self.sampler = sampler
        self.prefill_tokens = int(prefill_tokens)
        self.min_shared = int(min_shared)
        self.share_trunk = bool(share_trunk)
        self.topk = int(topk)
        self.progress = progress  # callable(n_done) or None
        name = register()
        if model.config._attn_implementation != name:
            model.set_attn_implementation(name)
        if skinny_linear:
            from gvgap.engines.kernels import use_skinny_linear

            use_skinny_linear(model)
        cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        self.n_layers = int(cfg.num_hidden_layers)
        heads = int(cfg.num_attention_heads)
        self.kv_heads = int(getattr(cfg, "num_key_value_heads", None) or heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
        self.elem = torch.finfo(model.dtype).bits // 8
        eos = set()
        for src in (getattr(model, "generation_config", None), tokenizer):
            e = getattr(src, "eos_token_id", None)
            if e is None:
                continue
            eos.update(e if isinstance(e, (list, tuple)) else [e])
        self.eos = eos
        self.stats = {"steps": 0, "rows_sum": 0, "prefill_tokens": 0, "compactions": 0, "decode_s": 0.0,
                      "attn_ctx": 0}

    # -- model calls --------------------------------------------------------------------
    def _forward(self, ctx: SharedPrefixContext, ids: torch.Tensor, keep=None):
        T = ids.shape[1]
        ctx.begin(T)
        hook = None
        if isinstance(keep, torch.Tensor):
            # keep[r] = the one position of row r whose logits are wanted: select it
            # before the output head, so only [rows, 1, V] logits are ever computed
            rows = torch.arange(ids.shape[0])
            idx = keep.reshape(-1)
            hook = self.model.get_output_embeddings().register_forward_pre_hook(
                lambda mod, args: (args[0][rows, idx][:, None],) + tuple(args[1:]))
            keep = 0
        try:
            out = self.model(
                input_ids=ids, position_ids=ctx.position_ids(T), use_cache=False, gvgap_ctx=ctx,
                logits_to_keep=keep if keep is not None else 1,
            )
        finally:
            if hook is not None:
                hook.remove()
        return out.logits

    def _token_bytes(self) -> int:
        return 2 * self.n_layers * self.kv_heads * self.head_dim * self.elem

    def _prefill_trunk(self, ids: list[int]) -> Segment:
        """K/V of `ids` (absolute positions from 0) as a Segment, in chunks."""
        ctx = SharedPrefixContext(self.n_layers, 1, len(ids))
        ctx.set_row(0, (), 0)
        step = max(1, self.prefill_tokens)
        for s in range(0, len(ids), step):
            chunk = torch.tensor([ids[s: s + step]])
            self._forward(ctx, chunk)
            ctx.advance()
        self.stats["prefill_tokens"] += len(ids)
        return ctx.to_segment(0, len(ids), 0)

    def _prefill_branches(self, trunk: Segment | None, branches: list[list[int]], start: int):
        """Prefill several remainders after a shared trunk. Returns (segments, last logits [k, V])."""
        k = len(branches)
        T = max(map(len, branches))
        if k == 1 and T > self.prefill_tokens:  # one long prompt: chunk it
            ctx = SharedPrefixContext(self.n_layers, 1, T)
            if trunk is not None:
                ctx.add_segment(TRUNK, trunk)
            ctx.set_row(0, (TRUNK,) if trunk is not None else (), start)
            ids = branches[0]
            logits = None
            for s in range(0, T, self.prefill_tokens):
                logits = self._forward(ctx, torch.tensor([ids[s: s + self.prefill_tokens]]))
                ctx.advance()
            self.stats["prefill_tokens"] += T
            return [ctx.to_segment(0, T, start)], logits[:, -1].float()
        ctx = SharedPrefixContext(self.n_layers, k, T)
        if trunk is not None:
            ctx.add_segment(TRUNK, trunk)
        for i in range(k):
            ctx.set_row(i, (TRUNK,) if trunk is not None else (), start)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        ids = torch.tensor([b + [pad] * (T - len(b)) for b in branches])
        last = torch.tensor([[len(b) - 1] for b in branches])
        logits = self._forward(ctx, ids, keep=last)[:, 0].float()
        ctx.advance([len(b) for b in branches])
        self.stats["prefill_tokens"] += sum(map(len, branches))
        return [ctx.to_segment(i, len(b), start) for i, b in enumerate(branches)], logits

    def _sample(self, logits, params: SamplingParams, u):
        if self.sampler == "fast":
            return top_p_sample(logits, params.temperature, params.top_p, u, self.topk)
        return reference_sample(logits, params.temperature, params.top_p, u)

    # -- generation ---------------------------------------------------------------------
    def generate_ids(self, prompt_ids: list[list[int]], params: SamplingParams, seeds: list[int]):
        """Token ids of params.n samples per prompt: [P][n] lists (EOS not included)."""
        n, max_new = int(params.n), int(params.max_new_tokens)
        P = len(prompt_ids)
        if P == 0:
            return []
        if n <= 0 or max_new <= 0:
            return [[[] for _ in range(n)] for _ in range(P)]
        if any(len(p) == 0 for p in prompt_ids):
            raise ValueError("generate: empty prompt (no tokens)")
        with torch.inference_mode():
            return self._generate(prompt_ids, params, seeds, n, max_new)

    def _generate(self, prompt_ids, params, seeds, n, max_new):
        shared = self.attention == "shared_prefix"
        P = len(prompt_ids)
        tl = common_prefix_len(prompt_ids) if P > 1 else 0
        tl = min(tl, min(map(len, prompt_ids)) - 1)
        if tl < self.min_shared:
            tl = 0
        trunk = self._prefill_trunk(prompt_ids[0][:tl]) if tl else None

        prompts = []
        for ids, seed in zip(prompt_ids, seeds):
            g = torch.Generator().manual_seed(int(seed))
            U = torch.rand(n, max_new, generator=g, dtype=torch.float64)
            prompts.append(_Prompt(ids, tl, U, n))

        cap = max_new + 1 if shared else max(map(len, prompt_ids)) + max_new + 1
        per_row = self._token_bytes() * cap
        rows = max(1, min(self.max_rows, int(self.kv_budget // per_row)))
        ctx = SharedPrefixContext(self.n_layers, rows, cap)
        if trunk is not None and shared and self.share_trunk:
            ctx.add_segment(TRUNK, trunk)

        stop = tuple(s for s in (params.stop or ()) if s)
        window = max((len(s.encode()) for s in stop), default=0) + 2
        last_chars = {s[-1] for s in stop}
        filt = all(ord(c) < 128 for c in last_chars)
        hit_cache: dict[int, bool] = {}

        def maybe_stop(toks) -> bool:
            if not stop:
                return False
            t = toks[-1]
            if filt:
                h = hit_cache.get(t)
                if h is None:
                    piece = self.tok.decode([t], skip_special_tokens=True)
                    h = hit_cache[t] = any(c in piece for c in last_chars)
                if not h:
                    return False
            text = self.tok.decode(toks[-window:], skip_special_tokens=True)
            return any(s in text for s in stop)

        waiting = deque(range(P))  # prompts with samples not yet launched
        slot_of: list[tuple[int, int] | None] = [None] * rows  # slot -> (prompt, sample)
        toks: list[list[int] | None] = [None] * rows
        done = 0

        def finish(p, j, seq):
            nonlocal done
            pr = prompts[p]
            pr.outs[j] = seq
            pr.left -= 1
            done += 1
            if self.progress:
                self.progress(1)
            if pr.left == 0:
                ctx.drop_segment(1 + p)
                pr.full = None

        def ensure_prefilled(p):
            if prompts[p].first is not None:
                return
            # prefill this prompt and the next few waiting ones in one forward
            batch, tokens = [], 0
            for q in [p] + [w for w in waiting if w != p]:
                pr = prompts[q]
                if pr.first is not None:
                    continue
                L = len(pr.ids) - tl
                if batch and (len(batch) + 1) * max(L, tokens) > self.prefill_tokens:
                    break
                batch.append(q)
                tokens = max(tokens, L)
                if len(batch) * n >= 2 * rows:
                    break
            segs, logits = self._prefill_branches(trunk, [prompts[q].ids[tl:] for q in batch], tl)
            for q, seg, lg in zip(batch, segs, logits):
                pr = prompts[q]
                if shared:
                    if trunk is not None and not self.share_trunk:
                        seg = Segment.concat(trunk, seg)
                    pr.sid = 1 + q
                    ctx.add_segment(pr.sid, seg)
                else:
                    pr.full = Segment.concat(trunk, seg) if trunk is not None else seg
                pr.first = self._sample(lg[None].expand(n, -1), params, pr.U[:, 0])

        def launch(slot) -> bool:
            """Put the next waiting sample into `slot`; False if none is left."""
            while waiting:
                p = waiting[0]
                pr = prompts[p]
                if pr.next >= n:
                    waiting.popleft()
                    continue
                ensure_prefilled(p)
                j = pr.next
                pr.next += 1
                t0 = int(pr.first[j])
                if t0 in self.eos:
                    finish(p, j, [])
                    continue
                seq = [t0]
                if max_new == 1 or maybe_stop(seq):
                    finish(p, j, seq)
                    continue
                if shared:
                    segs = ((TRUNK, pr.sid) if (trunk is not None and self.share_trunk) else (pr.sid,))
                    ctx.set_row(slot, segs, len(pr.ids))
                else:
                    ctx.set_row(slot, (), 0, init=pr.full)
                slot_of[slot] = (p, j)
                toks[slot] = seq
                return True
            return False

        import time

        total = P * n
        while done < total:
            # fill free slots (lowest first, so live rows stay packed at the front)
            for s in range(rows):
                if slot_of[s] is None and not launch(s):
                    break
            live = [s for s in range(rows) if slot_of[s] is not None]
            if not live:
                continue
            # shrink: drop trailing dead slots; compact when many holes and no refill
            R = live[-1] + 1
            if R < ctx.rows:
                for s in range(R, ctx.rows):
                    ctx.clear_row(s)
                ctx.rows = R
                ctx._groups = None
            if len(live) < R and not waiting and (R - len(live)) * 4 >= R:
                ctx.compact(live)
                for new, old in enumerate(live):
                    slot_of[new], toks[new] = slot_of[old], toks[old]
                for s in range(len(live), rows):
                    slot_of[s], toks[s] = None, None
                live = list(range(len(live)))
                R = len(live)
                self.stats["compactions"] += 1

            t_start = time.perf_counter()
            if len(live) == R:
                ctx_tokens = int((ctx.pos0[:R] + ctx.lens[:R]).sum()) + R
            else:
                li = torch.tensor(live)
                ctx_tokens = int((ctx.pos0[li] + ctx.lens[li]).sum()) + len(live)
            self.stats["attn_ctx"] += ctx_tokens
            ids = torch.tensor([[toks[s][-1] if slot_of[s] is not None else 0] for s in range(R)])
            logits = self._forward(ctx, ids)[:, -1]
            ctx.advance()
            if len(live) < R:
                logits = logits[torch.tensor(live)]
            u = torch.tensor([float(prompts[slot_of[s][0]].U[slot_of[s][1], len(toks[s])]) for s in live],
                             dtype=torch.float64)
            new = self._sample(logits, params, u).tolist()
            self.stats["decode_s"] += time.perf_counter() - t_start
            self.stats["steps"] += 1
            self.stats["rows_sum"] += len(live)
            for s, t in zip(live, new):
                p, j = slot_of[s]
                seq = toks[s]
                if t in self.eos:
                    end = True
                else:
                    seq.append(t)
                    end = len(seq) >= max_new or maybe_stop(seq)
                if end:
                    finish(p, j, seq)
                    slot_of[s], toks[s] = None, None
                    ctx.clear_row(s)
        return [pr.outs for pr in prompts]

    # -- scoring ------------------------------------------------------------------------
    def score_ids(self, prompt_ids: list[list[int]], cont_ids: list[list[int]]) -> np.ndarray:
        P, C = len(prompt_ids), len(cont_ids)
        out = np.zeros((P, C), dtype=np.float64)
        if P == 0 or C == 0:
            return out
        if any(len(p) == 0 for p in prompt_ids):
            raise ValueError("continuation_logprobs: empty prompt (no tokens)")
        with torch.inference_mode():
            for group, tl in self._prefix_groups(prompt_ids):
                trunk = self._prefill_trunk(prompt_ids[group[0]][:tl]) if tl else None
                for sub in self._length_buckets(group, prompt_ids, tl):
                    self._score_batch(trunk, tl, [prompt_ids[i] for i in sub], cont_ids, out, sub)
                    if self.progress:
                        self.progress(len(sub) * C)
        return out

    def _prefix_groups(self, prompt_ids, overhead: int = 64):
        """Groups of prompts sharing a prefix (e.g. instruction + problem), each with the
        prefix length to prefill once for the group.

        Sorting puts prompts with common prefixes side by side; the common prefixes of
        neighbours (LCPs) form a tree (single-linkage clustering). A range of neighbours
        either stays one group, sharing its smallest LCP, or splits at its weakest links
        -- whichever computes fewer tokens, counting `overhead` tokens per group for the
        extra forwards."""
        order = sorted(range(len(prompt_ids)), key=lambda i: prompt_ids[i])
        lens = [len(prompt_ids[i]) for i in order]
        links = [common_prefix_len([prompt_ids[a], prompt_ids[b]]) for a, b in zip(order, order[1:])]

        def best(lo, hi, depth):  # prompts lo..hi (inclusive) of the sorted order
            if lo == hi:
                return lens[lo] + overhead, [(lo, hi, 0)]
            t = min(links[lo:hi])
            tl = min(t, min(lens[lo: hi + 1]) - 1)
            tl = tl if tl >= self.min_shared else 0
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

        import sys

        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 1000))
        try:
            _, parts = best(0, len(order) - 1, 0)
        finally:
            sys.setrecursionlimit(limit)
        return [([order[j] for j in range(lo, hi + 1)], tl) for lo, hi, tl in parts]

    def _length_buckets(self, group, prompt_ids, tl, max_pad: float = 0.25):
        """Split a group into forwards of similar remainder length (little padding) of at
        most `prefill_tokens` padded tokens each."""
        rem = sorted(group, key=lambda i: len(prompt_ids[i]))
        out, cur, real = [], [], 0
        for i in rem:
            L = len(prompt_ids[i]) - tl
            n = len(cur) + 1
            if cur and (n * L > self.prefill_tokens or n * L - (real + L) > max_pad * n * L):
                out.append(cur)
                cur, real = [], 0
            cur.append(i)
            real += L
        if cur:
            out.append(cur)
        return out

    def _score_batch(self, trunk, tl, prompts, conts, out, rows_idx):
        k = len(prompts)
        segs, logits = self._prefill_branches(trunk, [p[tl:] for p in prompts], tl)
        lp0 = torch.log_softmax(logits, dim=-1)  # [k, V]
        firsts = [c[0] if c else None for c in conts]
        for jj, f in enumerate(firsts):
            if f is not None:
                for ii, i in enumerate(rows_idx):
                    out[i, jj] = float(lp0[ii, f])
        rest = [c[1:] for c in conts]
        Tc = max(map(len, rest))
        if Tc == 0:
            return
        # one forward over every (prompt, continuation) row: tokens c[:-1] predict c[1:]
        C = len(conts)
        R = k * C
        ctx = SharedPrefixContext(self.n_layers, R, Tc)
        if trunk is not None:
            ctx.add_segment(TRUNK, trunk)
        for ii, seg in enumerate(segs):
            ctx.add_segment(1 + ii, seg)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        ids = []
        for ii, p in enumerate(prompts):
            for jj, c in enumerate(conts):
                r = ii * C + jj
                segs_r = ((TRUNK,) if trunk is not None else ()) + (1 + ii,)
                ctx.set_row(r, segs_r, len(p))
                feed = c[:-1] if c else []
                ids.append(feed + [pad] * (Tc - len(feed)))
        logits = self._forward(ctx, torch.tensor(ids), keep=0)  # [R, Tc, V]
        lp = torch.log_softmax(logits.float(), dim=-1)
        for ii, i in enumerate(rows_idx):
            for jj, c in enumerate(conts):
                if len(c) > 1:
                    r = ii * C + jj
                    tgt = torch.tensor(c[1:])
                    out[i, jj] += float(lp[r, : len(c) - 1].gather(-1, tgt[:, None]).sum())
