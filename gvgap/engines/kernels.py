"""Small-batch linear layers for CPU decoding.

During decoding every nn.Linear multiplies a few rows (the batch) by a large weight.
On the MKL builds of torch measured here, `F.linear(x, W)` (= x @ W^T) runs such
skinny products slower than the same product computed as (W @ x^T)^T, which streams
the weight once in its storage order (AVX2 EPYC, float32, 2 threads, the 120 layer
matrices of SmolLM2-135M: 3 rows 68 -> 42 ms, 8 rows 51 -> 41 ms, 32 rows 83 -> 77 ms;
even at 48-96 rows, slower from ~128). `use_skinny_linear(model)` swaps the forward of
the model's float32 CPU nn.Linear modules for one that takes the transposed form up to
SKINNY_MAX_ROWS rows. Results equal F.linear up to float rounding (another summation
order). The tail of a sampling run, when a few long samples are left, is where it pays.

`attend` / `merge`: attention that also returns its log-sum-exp, and the exact merge of
two such partial results over disjoint keys -- the arithmetic of shared-prefix attention
(gvgap.engines.shared_prefix).
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

SKINNY_MAX_ROWS = 64
_NEG_INF = float("-inf")


def _skinny_forward(self, x):
    k = x.shape[-1]
    x2 = x.reshape(-1, k)
    if x2.shape[0] > SKINNY_MAX_ROWS:
        return F.linear(x, self.weight, self.bias)
    out = torch.mm(self.weight, x2.t()).t()
    if self.bias is not None:
        out = out + self.bias  # keeps the transposed strides of `out`
    # downstream kernels (and .view calls in model code) expect row-major activations
    return out.contiguous().reshape(*x.shape[:-1], out.shape[-1])


def use_skinny_linear(model) -> int:
    """Patch float32 CPU nn.Linear modules of `model` in place; returns how many."""
    n = 0
    for mod in model.modules():
        if type(mod) is torch.nn.Linear and mod.weight.device.type == "cpu" and mod.weight.dtype == torch.float32:
            mod.forward = types.MethodType(_skinny_forward, mod)
            n += 1
    return n


_flash = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def attend(q, k, v, mask=None, scale=1.0, softcap=None, is_causal=False, exact=False, check_dead=True):
    """Softmax attention with its log-sum-exp. q [B, H, M, D], k/v [B, H, L, D],
    mask additive [B or 1, 1, M, L] (or None). Returns (out [B, H, M, D] in q's dtype,
    lse [B, H, M] float32). Rows whose keys are all masked get lse = -inf, out = 0."""
    if softcap is None and not exact and _flash is not None and q.device.type == "cpu":
        if mask is not None and mask.dtype != q.dtype:
            mask = mask.to(q.dtype)
        o, lse = _flash(q, k, v, 0.0, is_causal, attn_mask=mask, scale=scale)
    else:
        s = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
        if softcap is not None:
            s = softcap * torch.tanh(s / softcap)
        if is_causal:
            M, L = s.shape[-2:]
            s = s.masked_fill(torch.ones(M, L, dtype=torch.bool, device=s.device).triu(1), _NEG_INF)
        if mask is not None:
            s = s + mask.float()
        lse = torch.logsumexp(s, dim=-1)
        p = torch.exp(s - torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))[..., None])
        o = torch.matmul(p, v.float()).to(q.dtype)
    if mask is not None and check_dead:
        dead = ~torch.isfinite(mask.float()).any(-1)  # [B or 1, 1, M]
        if bool(dead.any()):
            lse = lse.masked_fill(dead, _NEG_INF)
            o = o.masked_fill(dead[..., None], 0)
    return o, lse.float()


def merge(o1, l1, o2, l2):
    """Merge two partial attentions over disjoint key sets (float32 in, float32 out).
    Not both -inf (the private suffix always holds the query's own key)."""
    lse = torch.logaddexp(l1, l2)
    out = o1 * torch.exp(l1 - lse)[..., None]
    out.addcmul_(o2, torch.exp(l2 - lse)[..., None])
    return out, lse
