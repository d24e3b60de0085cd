"""The model's final norm and output head in float32, for log-probabilities you can trust.

A bf16 model rounds its logits to bf16: 8 significant bits, so a logit near 20 is off by
up to 0.06 and a two-token continuation's log-probability by ~0.1 nat (measured: the
fast MC path and the one-forward-per-sample path, both bf16, differed by up to 0.14 nat
on SmolLM2-135M). Most of that error is in the last two modules: the final RMSNorm
returns bf16, and the LM head multiplies bf16 by bf16 into bf16. `Float32Head` keeps the
transformer body in the model's dtype and runs only these two in float32 (a float32 copy
of the norm and of the head weight, made once), so the residual stream's own bf16 error
is what is left. Costs one float32 head matmul per scored position and ~4 bytes x vocab x
hidden of memory (113 MB for SmolLM2's 49152 x 576 head).

Used as a context manager around scoring forwards (`FastDecoder.score_ids`); a float32
model is left alone. Generation keeps the bf16 head (sampling does not need it and the
head is a large share of a decode step).
"""

from __future__ import annotations

import copy
import types

import torch
import torch.nn.functional as F

_NORM_NAMES = ("norm", "final_layernorm", "ln_f", "final_layer_norm")


def final_norm(model):
    """(owner module, attribute name) of the decoder's final norm, or None."""
    dec = model.get_decoder() if hasattr(model, "get_decoder") else None
    for owner in (dec, getattr(model, "model", None), getattr(model, "transformer", None)):
        if owner is None:
            continue
        for name in _NORM_NAMES:
            if isinstance(getattr(owner, name, None), torch.nn.Module):
                return owner, name
    return None


class Float32Head:
    """`with Float32Head(model):` forwards compute final norm + LM head in float32 and
    return float32 logits. Re-entrant use is not supported; the float32 copies are kept
    for the next `with` (call `release()` to free them)."""

    def __init__(self, model):
        self.model = model
        self.active = model.dtype != torch.float32
        self._norm32 = self._w32 = self._b32 = None
        self._saved = []

    def _build(self):
        head = self.model.get_output_embeddings()
        if self._w32 is None:
            self._w32 = head.weight.detach().float()
            self._b32 = None if getattr(head, "bias", None) is None else head.bias.detach().float()
            loc = final_norm(self.model)
            if loc is not None:
                self._norm32 = copy.deepcopy(getattr(*loc)).float()
        return head, final_norm(self.model)

    def __enter__(self):
        if not self.active:
            return self
        head, loc = self._build()
        w, b = self._w32, self._b32
        self._saved = [(head, head.__dict__.get("forward"))]
        head.forward = types.MethodType(lambda mod, x: F.linear(x.float(), w, b), head)
        if loc is not None and self._norm32 is not None:
            norm, n32 = getattr(*loc), self._norm32
            self._saved.append((norm, norm.__dict__.get("forward")))
            norm.forward = types.MethodType(lambda mod, x, *a, **k: n32(x.float(), *a, **k), norm)
        return self

    def __exit__(self, *exc):
        for mod, fwd in self._saved:
            if fwd is None:
                del mod.forward  # back to the class's forward
            else:
                mod.forward = fwd
        self._saved = []
        return False

    def release(self):
        self._norm32 = self._w32 = self._b32 = None
