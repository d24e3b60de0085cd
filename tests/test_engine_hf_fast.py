"""The fast HF engine (shared-prefix decode loop, fast top-p, prefix-shared scoring)
against the plain path (`model.generate`, one padded forward per scoring batch).

Tiny random models, fp32: greedy outputs and log-probabilities must equal the plain
path's; seeded samples must equal our loop with replicated KV exactly, must not depend
on batching, and must follow the model's nucleus distribution like `generate` does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gvgap.engines.base import SamplingParams
from gvgap.engines.hf import HFEngine
from gvgap.model.sources import build_tiny_random

PREFIX = "Question: 12 + 30 = ?\nAnswer: 42\n\nQuestion: 7 + 8 = ?\nAnswer: 15\n\n"
PROMPTS = [PREFIX + "Question: 3 + 4 = ?\nAnswer:", PREFIX + "Question: 10 + 25 = ?\nAnswer:",
           PREFIX + "Question: 1 + 1 = ?\nAnswer:"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread is fastest and immune to a busy second core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



@pytest.fixture(scope="module", params=["llama", "qwen2"])
def path(request, tmp_path_factory):
    return build_tiny_random(request.param, seed=0)


def _engine(path, **kw):
    kw.setdefault("dtype", "float32")
    return HFEngine(path, progress=False, **kw)


@pytest.fixture(scope="module")
def engines(path):
    return {
        "fast": _engine(path, batch_size=8, max_rows=8),
        "standard": _engine(path, batch_size=8, max_rows=8, attention="standard"),
        "plain": _engine(path, batch_size=8, fast=False),
    }


def test_greedy_equals_generate(engines):
    sp = SamplingParams(n=2, temperature=0.0, max_new_tokens=20, stop=("\n",), seed=1)
    a = engines["fast"].generate(PROMPTS, sp)
    assert a == engines["plain"].generate(PROMPTS, sp)
    assert a == engines["standard"].generate(PROMPTS, sp)
    assert all(len(t) > 0 for row in a for t in row)


def test_sampling_identical_to_replicated_kv_and_batching(engines, path):
    sp = SamplingParams(n=5, temperature=0.9, top_p=0.9, max_new_tokens=16, stop=("\n",), seed=7)
    a = engines["fast"].generate(PROMPTS, sp, indices=[4, 5, 6])
    assert a == engines["standard"].generate(PROMPTS, sp, indices=[4, 5, 6])
    # tiny batches (rows refilled constantly) and per-prompt calls give the same samples
    small = _engine(path, batch_size=2, max_rows=2)
    assert small.generate(PROMPTS, sp, indices=[4, 5, 6]) == a
    assert [engines["fast"].generate([p], sp, indices=[i])[0] for p, i in zip(PROMPTS, [4, 5, 6])] == a
    # the reference (full-sort) sampler draws the same tokens from the same uniforms
    ref = _engine(path, batch_size=8, max_rows=8, sampler="reference")
    assert ref.generate(PROMPTS, sp, indices=[4, 5, 6]) == a
    # same seed twice: identical; another seed: different
    assert engines["fast"].generate(PROMPTS, sp, indices=[4, 5, 6]) == a
    other = engines["fast"].generate(PROMPTS, SamplingParams(**{**sp.__dict__, "seed": 8}), indices=[4, 5, 6])
    assert other != a
    assert len({t for row in a for t in row}) > 3  # samples differ from each other


def test_memory_budget_limits_rows(path):
    sp = SamplingParams(n=6, temperature=1.0, top_p=0.95, max_new_tokens=12, seed=3)
    big = _engine(path, max_rows=64)
    tiny = _engine(path, max_rows=64, kv_budget_mb=0.02)  # room for ~2 rows
    a, b = big.generate(PROMPTS, sp), tiny.generate(PROMPTS, sp)
    assert a == b
    assert big.decoder.stats["rows_sum"] / big.decoder.stats["steps"] > 8
    assert tiny.decoder.stats["rows_sum"] / tiny.decoder.stats["steps"] <= 3


def test_stop_strings_and_lengths(engines):
    # greedy tiny-model text is arbitrary bytes; stop at a character that appears in it
    sp = SamplingParams(n=1, temperature=0.0, max_new_tokens=30, seed=0)
    full = engines["fast"].generate(PROMPTS[:1], sp)[0][0]
    assert len(full) > 5
    stop = full[5:7]
    sp2 = SamplingParams(n=3, temperature=0.0, max_new_tokens=30, stop=(stop,), seed=0)
    got = engines["fast"].generate(PROMPTS[:1], sp2)[0]
    assert got == engines["plain"].generate(PROMPTS[:1], sp2)[0]
    assert all(stop not in t and full.startswith(t) for t in got)
    one = engines["fast"].generate(PROMPTS, SamplingParams(n=2, temperature=0.8, max_new_tokens=1, seed=0))
    assert all(len(t) <= 1 for r in one for t in r)  # one byte-level token: at most one character
    assert engines["fast"].generate([], SamplingParams(n=2)) == []


def _nucleus(probs: np.ndarray, top_p: float) -> np.ndarray:
    order = np.argsort(-probs, kind="stable")
    cum = np.cumsum(probs[order])
    k = int((cum < top_p).sum()) + 1
    keep = probs >= probs[order[k - 1]]
    q = np.where(keep, probs, 0)
    return q / q.sum()


def test_first_two_tokens_follow_the_nucleus_distribution(path):
    """Samples of the fast path and of plain generate both fit the exact nucleus
    distribution of the first two tokens (chi-square, 1e-3 level). A peaked model
    (scaled LM head) keeps the support small enough to test."""
    fast = _engine(path, max_rows=64)
    plain = _engine(path, fast=False, batch_size=64)
    for e in (fast, plain):
        with torch.no_grad():
            e.model.get_output_embeddings().weight.mul_(25.0)
    T, top_p, n = 0.8, 0.8, 1000
    prompt = PROMPTS[0]
    tok = fast.tokenizer
    ids = tok(prompt).input_ids
    with torch.inference_mode():
        lp = fast.model(torch.tensor([ids])).logits[0, -1].double()
    p1 = _nucleus(torch.softmax(lp / T, -1).numpy(), top_p)
    support1 = np.nonzero(p1)[0]
    assert 2 <= len(support1) <= 12, len(support1)
    eos = tok.eos_token_id
    joint = {}
    with torch.inference_mode():
        for t1 in support1:
            if t1 == eos:  # the sample ends after one token
                joint[(eos, None)] = p1[t1]
                continue
            l2 = fast.model(torch.tensor([ids + [int(t1)]])).logits[0, -1].double()
            p2 = _nucleus(torch.softmax(l2 / T, -1).numpy(), top_p)
            for t2 in np.nonzero(p2)[0]:
                joint[(int(t1), int(t2))] = p1[t1] * p2[t2]
    sp = SamplingParams(n=n, temperature=T, top_p=top_p, max_new_tokens=2, seed=11)
    fast_ids = fast.decoder.generate_ids([ids], sp, [123])[0]
    torch.manual_seed(11)
    with torch.inference_mode():
        out = plain.model.generate(torch.tensor([ids] * n), attention_mask=torch.ones(n, len(ids), dtype=torch.long),
                                   do_sample=True, temperature=T, top_p=top_p, top_k=0, max_new_tokens=2,
                                   pad_token_id=tok.pad_token_id)
    plain_ids = [t[:1] if t[0] == eos else t for t in out[:, len(ids):].tolist()]

    def cell(t):  # ours drops EOS, generate keeps it
        t = [x for x in t if x != eos] if t[:1] != [eos] else t
        return (eos, None) if t == [eos] or not t else (t[0], eos) if len(t) == 1 else tuple(t[:2])

    for name, samples in (("fast", fast_ids), ("generate", plain_ids)):
        counts = {}
        for t in samples:
            pair = cell(t)
            counts[pair] = counts.get(pair, 0) + 1
        assert set(counts) <= set(joint), set(counts) - set(joint)
        # pool rare cells so every expected count is >= 5
        cells = sorted(joint, key=lambda c: -joint[c])
        obs, exp, pool_o, pool_e = [], [], 0, 0.0
        for c in cells:
            if joint[c] * n >= 5:
                obs.append(counts.get(c, 0))
                exp.append(joint[c] * n)
            else:
                pool_o += counts.get(c, 0)
                pool_e += joint[c] * n
        if pool_e > 0:
            obs.append(pool_o)
            exp.append(pool_e)
        obs, exp = np.array(obs, float), np.array(exp, float)
        chi2 = float(((obs - exp) ** 2 / exp).sum())
        dof = len(obs) - 1
        # Wilson-Hilferty approximation of the 99.9% chi-square quantile
        crit = dof * (1 - 2 / (9 * dof) + 3.09 * math.sqrt(2 / (9 * dof))) ** 3
        assert chi2 < crit, (name, chi2, crit, dof)


def test_scoring_equals_plain(engines):
    # verification-shaped prompts: shared instruction + problem, different solutions
    inst = "Decide whether the solution is right.\n"
    heads = [inst + "Problem: what is 17 + 25?\nSolution: ", inst + "Problem: how many legs do 3 cats have?\nSolution: "]
    sols = ("42", "it is 41", "42 because 17 + 25 = 42 and that is the final answer to it", "43", "42")
    prompts = [h + s + "\nVerdict:" for h in heads for s in sols]
    prompts += ["Another problem entirely.\nSolution: 7\nVerdict:", "x"]
    conts = [" Correct", " Incorrect", "!", " a longer continuation"]
    a = engines["fast"].continuation_logprobs(prompts, conts)
    b = engines["plain"].continuation_logprobs(prompts, conts)
    assert a.shape == (12, 4)
    np.testing.assert_allclose(a, b, atol=2e-4, rtol=1e-5)
    assert np.all(a < 0)
    one = engines["fast"].continuation_logprobs(prompts[:1], conts[:1])
    np.testing.assert_allclose(one, b[:1, :1], atol=2e-4, rtol=1e-5)
    assert engines["fast"].continuation_logprobs([], conts).shape == (0, 4)


def test_auto_dtype_resolves(path):
    from gvgap.engines.cpu import native_bf16, resolve_dtype

    e = HFEngine(path, dtype="auto", progress=False)
    assert e.dtype == resolve_dtype("auto") == ("bfloat16" if native_bf16() else "float32")
    assert str(e.model.dtype) == f"torch.{e.dtype}"
    assert resolve_dtype("float32") == "float32"


def test_prefix_groups_partition(engines):
    """The grouping used for scoring covers every prompt once, with a trunk that is a
    common prefix shorter than every member."""
    dec = engines["fast"].decoder
    g = torch.Generator().manual_seed(0)
    inst = torch.randint(3, 200, (30,), generator=g).tolist()
    prompts = []
    for _ in range(3):
        prob = torch.randint(3, 200, (20,), generator=g).tolist()
        for _ in range(6):
            prompts.append(inst + prob + torch.randint(3, 200, (int(torch.randint(2, 40, (1,), generator=g)),),
                                                       generator=g).tolist())
    prompts.append(inst[:5])
    prompts += [prompts[0]]  # a duplicate
    groups = dec._prefix_groups(prompts)
    seen = sorted(i for grp, _ in groups for i in grp)
    assert seen == list(range(len(prompts)))
    for grp, tl in groups:
        assert tl == 0 or all(prompts[i][:tl] == prompts[grp[0]][:tl] and len(prompts[i]) > tl for i in grp)
    # the three problems end up in groups that share instruction + problem (50 tokens)
    assert sum(len(grp) for grp, tl in groups if tl >= 50) >= 18
    for grp, tl in groups:
        for sub in dec._length_buckets(grp, prompts, tl):
            assert set(sub) <= set(grp)
