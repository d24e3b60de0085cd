"""bf16 scoring in float32 except the matmuls, for log-probabilities you can trust.

A bf16 model rounds its logits to bf16: 8 significant bits, so a logit near 20 is off by
up to 0.06 and a two-token continuation's log-probability by ~0.1 nat (measured: the
fast MC path and the one-forward-per-sample path, both bf16, differed by up to 0.14 nat
on SmolLM2-135M). Most of that error is in the last two modules: the final RMSNorm
returns bf16, and the LM head multiplies bf16 by bf16 into bf16. `Float32Head` keeps the
transformer body in the model's dtype and runs only these two in float32 (a float32 copy
of the norm and of the head weight, made once), so the residual stream's own bf16 error
is what is left. Costs one float32 head matmul per scored position and ~4 bytes x vocab x
hidden of memory (113 MB for SmolLM2's 49152 x 576 head).

Measured on SmolLM2-135M (24 MC prompts vs the float32 model): the head alone takes the
max |error| only from 0.208 to 0.200 nat; the rest is the bf16 residual stream, norms,
attention and KV. So `Float32Head(model, body=True)` (what scoring uses) also keeps
every activation in float32: each body nn.Linear gets its input rounded to bf16 (the
weights stay bf16, the matmul runs on the bf16 units) and returns float32, and the input
embeddings come out in float32, so residual adds, norms, rotary, attention (with its
log-sum-exp merge) and the KV of the scoring forward are float32: max 0.080, mean 0.029
nat (plain bf16 forward: 0.175 / 0.049).

Used as a context manager around scoring forwards (`FastDecoder.score_ids`); a float32
model is left alone. Generation keeps bf16 throughout (sampling does not need it, and
float32 activations double the KV bytes a decode step reads).
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


def _linear_to_float32(self, x):
    """bf16 matmul (input rounded to the weight's dtype), float32 result."""
    return F.linear(x.to(self.weight.dtype), self.weight, self.bias).float()


class Float32Head:
    """`with Float32Head(model):` forwards compute final norm + LM head in float32 and
    return float32 logits; with body=True all activations are float32 too. Re-entrant use is not supported; the float32 copies are kept
    for the next `with` (call `release()` to free them)."""

    def __init__(self, model, body: bool = False):
        self.model = model
        self.body = body
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
        if self.body:
            for mod in self.model.modules():
                if type(mod) is torch.nn.Linear and mod is not head:
                    self._saved.append((mod, mod.__dict__.get("forward")))
                    mod.forward = types.MethodType(_linear_to_float32, mod)
            emb = self.model.get_input_embeddings()
            self._hooks = [emb.register_forward_hook(lambda mod, args, out: out.float())]
        return self

    def __exit__(self, *exc):
        for h in getattr(self, "_hooks", []):
            h.remove()
        self._hooks = []
        for mod, fwd in self._saved:
            if fwd is None:
                del mod.forward  # back to the class's forward
            else:
                mod.forward = fwd
        self._saved = []
        return False

    def release(self):
        self._norm32 = self._w32 = self._b32 = None
