"""Shared-prefix ("cascade", Hydragen-style) attention for any transformers decoder.

Many rows (samples of one prompt, prompts sharing a few-shot prefix) attend to the same
prefix keys/values. Instead of replicating that KV per row, it is stored once as a
`Segment`; each forward runs, per layer,

* one attention of *all* rows' queries that see a segment against that segment (the
  queries are stacked into one [kv_heads, rows * group * T, head_dim] matrix, so it is
  a matrix-matrix product whose keys are read once), and
* an attention of each row's queries against its own, private *suffix* KV (what was
  generated or appended after the prefix), with a per-row length/causal mask,

and merges the partial results exactly by log-sum-exp:
    out = sum_s exp(lse_s - LSE) * out_s,   LSE = logsumexp_s(lse_s).

It plugs into transformers through the attention-function interface: `register()`
adds the implementation `gvgap_shared_prefix`; a model loaded with it (or switched
with `model.set_attn_implementation`) behaves exactly like `sdpa` unless a
`SharedPrefixContext` is passed to its forward as the keyword `gvgap_ctx` (model
forwards hand extra keywords down to the attention function). The caller passes
`use_cache=False` and explicit `position_ids`: the context *is* the KV cache.

Works with grouped-query attention, per-layer sliding windows (`sliding_window`,
Qwen2/Gemma style: key visible iff key_pos > query_pos - window), logit soft-capping
(`softcap`, Gemma2) and attention sinks (`s_aux`).

One module (~370 lines) on purpose: the transformers hook and the KV context it reads
are one mechanism; the attention arithmetic itself is in gvgap.engines.kernels.
"""

from __future__ import annotations

import math

import torch

from gvgap.engines.kernels import attend, merge

ATTN_NAME = "gvgap_shared_prefix"
_NEG_INF = float("-inf")
_registered = False


def register() -> str:
    """Register the attention (and mask) functions with transformers; idempotent."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(ATTN_NAME, shared_prefix_attention)
        # Same masks as sdpa, so the model keeps working as plain sdpa without a context.
        AttentionMaskInterface.register(ATTN_NAME, sdpa_mask)
        _registered = True
    return ATTN_NAME


def shared_prefix_attention(module, query, key, value, attention_mask, **kwargs):
    """transformers attention function: (attn_output [B, T, H, D], None)."""
    ctx = kwargs.pop("gvgap_ctx", None)
    if ctx is None:
        from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

        if kwargs.get("softcap") is None:
            return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
        # sdpa cannot soft-cap: same semantics (sdpa-style masks) with the explicit kernel
        rep = query.shape[1] // key.shape[1]
        mask = attention_mask
        if mask is not None and mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape, dtype=torch.float32).masked_fill(~mask, _NEG_INF)
        causal = mask is None and query.shape[2] > 1
        scale = kwargs.get("scaling") or 1.0 / math.sqrt(query.shape[-1])
        o, _ = attend(query, repeat_kv(key, rep), repeat_kv(value, rep), mask, scale,
                      kwargs["softcap"], is_causal=causal, exact=True)
        return o.transpose(1, 2).contiguous(), None
    if kwargs.get("position_bias") is not None:
        raise NotImplementedError("shared-prefix attention: position_bias is not supported")
    return ctx.attend(
        module.layer_idx, query, key, value,
        scaling=kwargs.get("scaling"),
        sliding_window=kwargs.get("sliding_window"),
        softcap=kwargs.get("softcap"),
        sinks=kwargs.get("s_aux"),
    ), None


class Segment:
    """Keys/values of a token span, stored once and shared by many rows.

    keys[l], values[l]: [kv_heads, length, head_dim] for layer l (None for layers that
    have no attention). `start` is the absolute position of its first token."""

    __slots__ = ("keys", "values", "start", "length")

    def __init__(self, keys, values, start: int):
        self.keys, self.values, self.start = keys, values, int(start)
        first = next(k for k in keys if k is not None)
        self.length = int(first.shape[-2])

    @staticmethod
    def concat(a: "Segment", b: "Segment") -> "Segment":
        assert a.start + a.length == b.start
        ks = [None if x is None else torch.cat([x, y], dim=-2) for x, y in zip(a.keys, b.keys)]
        vs = [None if x is None else torch.cat([x, y], dim=-2) for x, y in zip(a.values, b.values)]
        return Segment(ks, vs, a.start)


class SharedPrefixContext:
    """The KV state of a batch of rows: shared segments plus a private suffix per row.

    Row r (a slot in preallocated buffers) has
      * `segs[r]`: ids of the segments it attends to (all positioned before its suffix),
      * `pos0[r]`: absolute position of its suffix's first token,
      * `lens[r]`: number of suffix tokens already stored.
    A forward over T new tokens per row writes their K/V at suffix positions
    lens[r] .. lens[r]+T-1; `advance` then commits how many of them were real (rows
    can be right-padded: padding sits after every real token, so causality hides it,
    and the next write overwrites it).
    """

    def __init__(self, n_layers: int, max_rows: int, max_tokens: int):
        self.n_layers = n_layers
        self.max_rows = int(max_rows)
        self.max_tokens = int(max_tokens)
        self.k: list[torch.Tensor | None] = [None] * n_layers
        self.v: list[torch.Tensor | None] = [None] * n_layers
        self.rows = 0  # slots in use (0..rows-1); dead slots are allowed (masked, recycled)
        self.lens = torch.zeros(self.max_rows, dtype=torch.long)
        self.pos0 = torch.zeros(self.max_rows, dtype=torch.long)
        self._lens_py = [0] * self.max_rows
        self.segs: list[tuple[int, ...]] = [()] * self.max_rows
        self.alive = [False] * self.max_rows
        self.segments: dict[int, Segment] = {}
        self._groups = None  # [(segment, rows)] cache
        self._T = None
        self._mask_cache: dict = {}

    # -- rows --------------------------------------------------------------------------
    def add_segment(self, sid: int, seg: Segment):
        self.segments[sid] = seg
        self._groups = None

    def drop_segment(self, sid: int):
        self.segments.pop(sid, None)
        self._groups = None

    def set_row(self, slot: int, segs: tuple[int, ...], pos0: int, init: Segment | None = None):
        """(Re)use `slot` for a new row attending to `segs`; optionally pre-fill its
        suffix with the K/V of `init` (the replicated, 'standard' layout)."""
        if slot >= self.max_rows:
            raise IndexError("no free row slot")
        self.rows = max(self.rows, slot + 1)
        self.segs[slot] = tuple(segs)
        self.alive[slot] = True
        n = 0
        if init is not None:
            n = init.length
            for layer in range(self.n_layers):
                if init.keys[layer] is None:
                    continue
                self._ensure(layer, init.keys[layer][None])
                self.k[layer][slot, :, :n] = init.keys[layer]
                self.v[layer][slot, :, :n] = init.values[layer]
        self.pos0[slot] = pos0
        self.lens[slot] = n
        self._lens_py[slot] = n
        self._groups = None

    def truncate(self, rows: int):
        """Drop the slots from `rows` on (all dead): later forwards run `rows` rows."""
        for s in range(rows, self.rows):
            self.clear_row(s)
        self.rows = rows
        self._groups = None

    def clear_row(self, slot: int):
        """Mark a slot dead: it keeps computing garbage until reused or compacted."""
        self.segs[slot] = ()
        self.alive[slot] = False
        self._groups = None

    def compact(self, keep: list[int]):
        """Move the rows `keep` (in that order) to slots 0..len(keep)-1."""
        idx = torch.tensor(keep, dtype=torch.long)
        S = max([self._lens_py[i] for i in keep], default=0)
        for layer in range(self.n_layers):
            for buf in (self.k, self.v):
                if buf[layer] is not None and len(keep):
                    buf[layer][: len(keep), :, :S] = buf[layer].index_select(0, idx)[:, :, :S]
        self.lens[: len(keep)] = self.lens.index_select(0, idx)
        self.pos0[: len(keep)] = self.pos0.index_select(0, idx)
        self._lens_py[: len(keep)] = [self._lens_py[i] for i in keep]
        self.segs[: len(keep)] = [self.segs[i] for i in keep]
        self.alive[: len(keep)] = [self.alive[i] for i in keep]
        for i in range(len(keep), self.rows):
            self.segs[i] = ()
            self.alive[i] = False
        self.rows = len(keep)
        self._groups = None

    def to_segment(self, slot: int, length: int, start: int | None = None) -> Segment:
        """Copy the first `length` suffix tokens of a row out as a shared Segment."""
        ks = [None if k is None else k[slot, :, :length].clone() for k in self.k]
        vs = [None if v is None else v[slot, :, :length].clone() for v in self.v]
        return Segment(ks, vs, int(self.pos0[slot]) if start is None else start)

    def position_ids(self, T: int) -> torch.Tensor:
        return (self.pos0[: self.rows] + self.lens[: self.rows])[:, None] + torch.arange(T)[None]

    def begin(self, T: int):
        """Call before a forward over T tokens per row (all `rows` slots)."""
        if max(self._lens_py[: self.rows], default=0) + T > self.max_tokens:
            raise RuntimeError("SharedPrefixContext: suffix buffer full (raise max_tokens)")
        self._T = T
        self._mask_cache = {}

    def advance(self, counts=None):
        """Commit the last forward: every row gained T tokens (or counts[r] of them)."""
        if counts is None:
            counts = [self._T] * self.rows
        for r, c in enumerate(counts):
            if self.alive[r]:  # a dead slot keeps overwriting the same position
                self._lens_py[r] += int(c)
        self.lens[: self.rows] = torch.tensor(self._lens_py[: self.rows], dtype=torch.long)
        self._T = None

    # -- attention ---------------------------------------------------------------------
    def _ensure(self, layer: int, key: torch.Tensor):
        if self.k[layer] is None:
            _, hkv, _, d = key.shape
            shape = (self.max_rows, hkv, self.max_tokens, d)
            self.k[layer] = torch.zeros(shape, dtype=key.dtype, device=key.device)
            self.v[layer] = torch.zeros(shape, dtype=key.dtype, device=key.device)

    def groups(self):
        """[(segment, rows)] where rows is None (all slots), a slice, or a LongTensor."""
        if self._groups is None:
            out = []
            R = self.rows
            for sid, seg in self.segments.items():
                rows = [r for r in range(R) if sid in self.segs[r]]
                if not rows:
                    continue
                if len(rows) == R:
                    sel = None
                elif rows[-1] - rows[0] + 1 == len(rows):
                    sel = slice(rows[0], rows[-1] + 1)
                else:
                    sel = torch.tensor(rows, dtype=torch.long)
                out.append((seg, sel))
            self._groups = out
        return self._groups

    def _suffix_mask(self, T: int, S: int, window, dtype, pack: int):
        """Additive mask [R, 1, pack*T, S] for the suffix (None when nothing is hidden)."""
        key = ("suffix", window, pack, dtype)
        if key in self._mask_cache:
            return self._mask_cache[key]
        R = self.rows
        lens = self._lens_py[:R]
        need = any(n + T != S for n in lens) or T > 1
        if window is not None:
            need = need or S > window
        mask = None
        if need:
            j = torch.arange(S)
            qi = self.lens[:R, None] + torch.arange(T)[None]  # [R, T] suffix index of each query
            ok = j[None, None, :] <= qi[:, :, None]  # [R, T, S]
            if window is not None:
                ok &= j[None, None, :] > qi[:, :, None] - window
            mask = torch.zeros(ok.shape, dtype=dtype).masked_fill(~ok, _NEG_INF)
            mask = mask[:, None].expand(R, pack, T, S).reshape(R, 1, pack * T, S)
        self._mask_cache[key] = mask
        return mask

    def _segment_mask(self, seg: Segment, sel, T: int, window, dtype, pack: int):
        """Additive mask [1, 1, rows*pack*T, L] for a sliding window (None if not cut)."""
        if window is None:
            return None
        key = ("seg", id(seg), window, pack, dtype)
        if key in self._mask_cache:
            return self._mask_cache[key]
        R = self.rows
        qpos = self.pos0[:R] + self.lens[:R]  # absolute position of each row's first query
        if sel is not None:
            qpos = qpos[sel]
        mask = None
        if int(qpos.max()) + T - window >= seg.start:  # the last query's window cuts the segment
            qp = qpos[:, None] + torch.arange(T)[None]  # [b, T]
            kp = seg.start + torch.arange(seg.length)
            ok = kp[None, None, :] > qp[:, :, None] - window  # [b, T, L]
            b = ok.shape[0]
            ok = ok[:, None].expand(b, pack, T, seg.length).reshape(1, 1, b * pack * T, seg.length)
            mask = torch.zeros(ok.shape, dtype=dtype).masked_fill(~ok, _NEG_INF)
        self._mask_cache[key] = mask
        return mask

    def attend(self, layer, query, key, value, scaling=None, sliding_window=None, softcap=None, sinks=None):
        R, H, T, D = query.shape
        hkv = key.shape[1]
        rep = H // hkv
        if R != self.rows:
            raise RuntimeError(f"SharedPrefixContext: forward has {R} rows, context {self.rows}")
        scale = scaling if scaling is not None else 1.0 / math.sqrt(D)
        window = sliding_window if sliding_window else None
        self._ensure(layer, key)
        kb, vb = self.k[layer], self.v[layer]
        lens = self._lens_py[:R]
        L0 = lens[0]
        uniform = all(n == L0 for n in lens)
        if uniform:
            kb[:R, :, L0: L0 + T] = key
            vb[:R, :, L0: L0 + T] = value
            S = L0 + T
        else:
            pos = self.lens[:R, None] + torch.arange(T)[None]  # [R, T]
            rows = torch.arange(R)[:, None].expand(R, T)
            kb[rows, :, pos] = key.transpose(1, 2)
            vb[rows, :, pos] = value.transpose(1, 2)
            S = max(lens) + T
        ks, vs = kb[:R, :, :S], vb[:R, :, :S]

        # own suffix: GQA-packed queries [R, hkv, rep*T, D]
        qp = query.reshape(R, hkv, rep * T, D)
        if T == 1 or rep == 1:
            mask = self._suffix_mask(T, S, window, query.dtype, rep)
            causal = False
            if mask is not None and uniform and L0 == 0 and window is None and rep == 1:
                mask, causal = None, True  # plain causal square block
            o, lse = attend(qp, ks, vs, mask, scale, softcap, is_causal=causal, check_dead=False)
        else:  # T > 1 with groups: expand the (short) suffix KV to all heads
            mask = self._suffix_mask(T, S, window, query.dtype, 1)
            causal = False
            if uniform and L0 == 0 and window is None:
                mask, causal = None, True
            from transformers.integrations.sdpa_attention import repeat_kv

            o, lse = attend(query, repeat_kv(ks, rep), repeat_kv(vs, rep), mask, scale, softcap, is_causal=causal,
                            check_dead=False)
            o, lse = o.reshape(R, hkv, rep * T, D), lse.reshape(R, hkv, rep * T)
        o = o.float()

        # shared segments: one matrix-matrix attention per segment for all its rows
        for seg, sel in self.groups():
            sk, sv = seg.keys[layer], seg.values[layer]
            if sk is None:
                continue
            qs = qp if sel is None else qp[sel]
            b = qs.shape[0]
            qq = qs.transpose(0, 1).reshape(1, hkv, b * rep * T, D)
            smask = self._segment_mask(seg, sel, T, window, query.dtype, rep)
            so, sl = attend(qq, sk[None], sv[None], smask, scale, softcap)
            so = so.reshape(hkv, b, rep * T, D).transpose(0, 1).float()
            sl = sl.reshape(hkv, b, rep * T).transpose(0, 1)
            if sel is None:
                o, lse = merge(o, lse, so, sl)
            else:
                mo, ml = merge(o[sel], lse[sel], so, sl)
                if isinstance(sel, slice):
                    o[sel], lse[sel] = mo, ml
                else:
                    o.index_copy_(0, sel, mo)
                    lse.index_copy_(0, sel, ml)

        if sinks is not None:  # an extra logit per head with a zero value vector
            sk = sinks.float().reshape(1, hkv, rep, 1).expand(R, hkv, rep, T).reshape(R, hkv, rep * T)
            tot = torch.logaddexp(lse, sk)
            o = o * torch.exp(lse - tot)[..., None]

        out = o.reshape(R, H, T, D).transpose(1, 2)  # [R, T, H, D] as transformers expects
        return out.to(query.dtype)
