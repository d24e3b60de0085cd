"""The fast top-p sampler against the full-sort reference: same kept set (ties
included), same tokens for the same uniforms, right frequencies."""

from __future__ import annotations

import math

import pytest
import torch

from gvgap.engines.sampling import (
    SamplerStats,
    draw_from_kept,
    kept_mask,
    probabilities,
    reference_sample,
    top_p_sample,
    top_p_threshold,
    top_p_threshold_reference,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread is fastest and immune to a busy second core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



def _logits(kind: str, B: int, V: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "normal":
        return torch.randn(B, V, generator=g) * 3
    if kind == "peaked":  # nucleus of a few tokens
        x = torch.randn(B, V, generator=g)
        x[:, :5] += 12
        return x
    if kind == "flat":  # nucleus of most of the vocabulary: forces the full-sort fallback
        return torch.randn(B, V, generator=g) * 0.05
    if kind == "ties":  # few distinct values: ties at the nucleus boundary are common
        return torch.randint(0, 6, (B, V), generator=g).float()
    if kind == "bf16":  # what a bf16 model emits: many exactly equal logits
        return (torch.randn(B, V, generator=g) * 4).to(torch.bfloat16)
    if kind == "onehot":
        x = torch.full((B, V), -30.0)
        x[:, 7] = 0
        return x
    raise ValueError(kind)


KINDS = ["normal", "peaked", "flat", "ties", "bf16", "onehot"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("top_p", [0.1, 0.9, 0.999])
@pytest.mark.parametrize("temperature", [0.5, 1.3])
def test_kept_set_equals_full_sort(kind, top_p, temperature):
    V = 3000
    logits = _logits(kind, 16, V, seed=hash((kind, top_p, temperature)) % 1000)
    probs = probabilities(logits, temperature)
    ref = kept_mask(probs, top_p_threshold_reference(probs, top_p))
    fast_thr, _ = top_p_threshold(probs, top_p, k0=8)
    assert torch.equal(kept_mask(probs, fast_thr), ref)
    # the reference definition: smallest descending prefix reaching top_p, plus ties
    for b in range(4):
        p = probs[b].double()
        vals = torch.sort(p, descending=True).values
        K = int((vals.cumsum(0) < top_p).sum()) + 1
        K = min(K, V)
        expect = p >= vals[K - 1]
        assert torch.equal(ref[b], expect)
        assert p[expect].sum() >= top_p - 1e-6 or K == V
    # same uniforms -> same tokens
    u = torch.rand(16, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    a = top_p_sample(logits, temperature, top_p, u, k0=8)
    b = reference_sample(logits, temperature, top_p, u)
    assert torch.equal(a, b)
    assert ref.gather(-1, a[:, None]).all()


def test_ties_are_kept_whole():
    # probabilities .4 .2 .2 .2: top_p = .5 needs the 2nd token; all three tied ones stay
    logits = torch.log(torch.tensor([[0.4, 0.2, 0.2, 0.2, 1e-9]]))
    probs = probabilities(logits, 1.0)
    ref = kept_mask(probs, top_p_threshold_reference(probs, 0.5))
    assert ref.tolist() == [[True, True, True, True, False]]
    thr, _ = top_p_threshold(probs, 0.5, k0=2)  # k=2 cuts the tie: must grow
    assert torch.equal(kept_mask(probs, thr), ref)


def test_matches_hf_warper_without_ties():
    from transformers.generation.logits_process import TopPLogitsWarper

    logits = _logits("normal", 32, 5000, seed=3).double().float()
    for top_p in (0.3, 0.8, 0.95):
        probs = probabilities(logits, 1.0)
        ours = kept_mask(probs, top_p_threshold(probs, top_p)[0])
        hf = torch.isfinite(TopPLogitsWarper(top_p)(None, logits.clone()))
        # a token exactly at the boundary can differ by float rounding of the two sums
        assert (ours != hf).sum() <= 2


def test_frequencies_match_probabilities():
    """Chi-square goodness of fit of 20k fast draws against the renormalised nucleus."""
    logits = torch.tensor([[2.0, 1.5, 1.5, 1.0, 0.2, -1.0, -3.0, -5.0]])
    T, top_p, n = 0.8, 0.9, 20000
    probs = probabilities(logits, T)[0].double()
    keep = kept_mask(probs[None].float(), top_p_threshold_reference(probs[None].float(), top_p))[0]
    expect = torch.where(keep, probs, torch.zeros(())) / probs[keep].sum()
    u = torch.rand(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    toks = top_p_sample(logits.expand(n, -1), T, top_p, u, k0=2)
    counts = torch.bincount(toks, minlength=8).double()
    assert counts[~keep].sum() == 0
    e = expect[keep] * n
    chi2 = float(((counts[keep] - e) ** 2 / e).sum())
    dof = int(keep.sum()) - 1
    # 99.9% quantile of chi-square with dof <= 6 is < 23
    assert chi2 < 23, (chi2, dof, counts, e)


def test_greedy_and_top_p_one():
    logits = _logits("normal", 8, 100, seed=1)
    u = torch.rand(8, dtype=torch.float64)
    assert torch.equal(top_p_sample(logits, 0.0, 0.9, u), logits.argmax(-1))
    a = top_p_sample(logits, 1.0, 1.0, u)
    b = reference_sample(logits, 1.0, 1.0, u)
    assert torch.equal(a, b)
    # u near 1 never returns a token outside the support
    onehot = _logits("onehot", 4, 50, 0)
    t = top_p_sample(onehot, 1.0, 0.9, torch.full((4,), 1 - 1e-16, dtype=torch.float64))
    assert t.tolist() == [7] * 4


def test_draw_inverse_cdf_order():
    probs = torch.tensor([[0.1, 0.0, 0.5, 0.4]])
    thr = torch.tensor([0.1])
    # ascending token id order: [0, .1) -> 0, [.1, .6) -> 2, [.6, 1) -> 3
    for u, tok in ((0.05, 0), (0.15, 2), (0.59, 2), (0.61, 3), (0.999, 3)):
        assert int(draw_from_kept(probs, thr, torch.tensor([u], dtype=torch.float64))[0]) == tok


def test_fast_path_is_usually_taken():
    SamplerStats.calls = SamplerStats.fallbacks = 0
    logits = _logits("peaked", 32, 49152 // 8, seed=2)
    u = torch.rand(32, dtype=torch.float64)
    top_p_sample(logits, 0.7, 0.9, u, k0=64)
    assert SamplerStats.calls == 1 and SamplerStats.fallbacks == 0
    assert math.isfinite(float(u.sum()))
