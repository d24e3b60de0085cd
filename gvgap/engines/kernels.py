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
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

SKINNY_MAX_ROWS = 64


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
