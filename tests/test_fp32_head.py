"""bf16 scoring with the final norm + LM head in float32 (gvgap.engines.fp32_head).

A tiny random Llama in bf16 whose head is scaled so that logits reach ~+-20, as a real
model's do (there bf16 rounds a logit by up to 0.06). The float32 reference is the same
bf16-rounded weights run in float32, so the only difference is the arithmetic. Given
the body's bf16 output, the float32 head must give the float64 logits to ~1e-5 where the
bf16 head is off by > 0.02; scoring (float32 activations too) must be clearly closer to
the reference than bf16 scoring; and the model must be left as it was found.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gvgap.engines.fp32_head import Float32Head, final_norm
from gvgap.engines.hf import HFEngine
from gvgap.model.sources import build_tiny_random

INST = "Decide whether the solution is right.\nProblem: what is 17 + 25?\nSolution: "
PROMPTS = [INST + s + "\nVerdict:" for s in ("42", "it is 41", "42 because 17 + 25 = 42", "43", "forty-two")]
CONTS = [" Correct", " Incorrect", "!"]


@pytest.fixture(scope="module")
def pair():
    torch.set_num_threads(1)
    path = build_tiny_random("llama", seed=0)
    bf = HFEngine(path, dtype="bfloat16", progress=False, max_rows=8)
    with torch.no_grad():
        head = bf.model.get_output_embeddings().weight
        head.mul_(1.5 / head.float().std())  # logits of a trained model's size (std ~12 here)
    ref = HFEngine(path, dtype="float32", progress=False, max_rows=8)
    ref.model.load_state_dict({k: v.float() for k, v in bf.model.state_dict().items()})
    return bf, ref


def _float64_logits(model, ids):
    """The logits the model's own bf16 body implies, with norm and head in float64."""
    owner, name = final_norm(model)
    norm = getattr(owner, name)
    seen = []
    hook = norm.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
    try:
        out = model(ids).logits
    finally:
        hook.remove()
    x = seen[-1].double()
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon) * norm.weight.double()
    return out, y @ model.get_output_embeddings().weight.double().T


def test_float32_head_matches_float64(pair):
    bf, _ = pair
    ids = torch.tensor([list(range(3, 40))])
    with torch.inference_mode():
        plain, want = _float64_logits(bf.model, ids)
        with Float32Head(bf.model):
            got, want2 = _float64_logits(bf.model, ids)
    assert torch.equal(want, want2)  # same body in both forwards
    assert want.abs().max() > 16  # logits of a trained model's size
    err_bf16 = (plain.double() - want).abs().max().item()
    err_fp32 = (got.double() - want).abs().max().item()
    assert err_bf16 > 0.02  # bf16 rounds a logit near 16-32 by up to 0.06 ...
    assert err_fp32 < 1e-3, err_fp32  # ... float32 by ~1e-5


def test_scoring_uses_the_float32_head(pair):
    bf, ref = pair
    want = ref.continuation_logprobs(PROMPTS, CONTS)
    bf.decoder.fp32_scores = False
    old = bf.continuation_logprobs(PROMPTS, CONTS)
    bf.decoder.fp32_scores = True
    new = bf.continuation_logprobs(PROMPTS, CONTS)
    # float32 activations, bf16 matmuls: what is left is the bf16 rounding of matmul
    # inputs and outputs (benchmarks/precision.py measures SmolLM2: 0.200 -> 0.080 nat)
    err_old, err_new = np.abs(old - want).max(), np.abs(new - want).max()
    assert err_new < 0.75 * err_old, (err_new, err_old)  # this random model: 0.31 -> 0.19
    assert bf.model.get_output_embeddings()(torch.zeros(1, 64, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_context_restores_the_model(pair):
    bf, _ = pair
    ids = torch.tensor([[5, 6, 7, 8]])
    model = bf.model
    with torch.inference_mode():
        before = model(ids).logits
        h = Float32Head(model)
        with h:
            inside = model(ids).logits
        after = model(ids).logits
    assert before.dtype == after.dtype == torch.bfloat16 and inside.dtype == torch.float32
    assert torch.equal(before, after)
    assert "forward" not in model.get_output_embeddings().__dict__
    assert final_norm(model) is not None and "forward" not in getattr(*final_norm(model)).__dict__
    # float32 logits round to the bf16 ones up to one bf16 step of the logit size
    assert (inside - before.float()).abs().max() <= 2 * before.float().abs().max() * 2**-8
