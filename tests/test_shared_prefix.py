"""Shared-prefix attention equals standard attention (fp32, tight tolerance).

For several tiny decoder families (Llama / Qwen2, with and without grouped-query
attention, Qwen2 and Gemma2 with sliding windows, Gemma2 with logit soft-capping) the
logits computed through a SharedPrefixContext -- shared trunk segment, per-prompt branch
segments, right-padded multi-token extends, single-token decode steps with rows of
different lengths, dead and recycled slots -- must equal one plain sdpa forward over
each full sequence.
"""

from __future__ import annotations

import pytest
import torch

from gvgap.engines.shared_prefix import (
    ATTN_NAME,
    Segment,
    SharedPrefixContext,
    attend,
    merge,
    register,
)

TOL = 2e-5


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread is fastest and immune to a busy second core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



def _model(family: str, kv_heads: int, **extra):
    import transformers

    torch.manual_seed(0)
    common = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=256)
    common.update(extra)
    if family == "llama":
        m = transformers.LlamaForCausalLM(transformers.LlamaConfig(**common))
    elif family == "qwen2":
        m = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**common))
    elif family == "gemma2":
        common.setdefault("head_dim", 16)
        m = transformers.Gemma2ForCausalLM(transformers.Gemma2Config(**common))
    else:
        raise ValueError(family)
    m.eval()
    # larger weights make attention patterns far from uniform, so mistakes show
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "q_proj.weight" in name or "k_proj.weight" in name:
                p.mul_(4.0)
    register()
    m.set_attn_implementation(ATTN_NAME)
    return m


CASES = {
    "llama-gqa": ("llama", 2, {}),
    "llama-mha": ("llama", 4, {}),
    "llama-mqa": ("llama", 1, {}),
    "qwen2-gqa": ("qwen2", 2, {}),
    "qwen2-mha": ("qwen2", 4, {}),
    # window 7 cuts into the trunk, the branches and the generated suffix
    "qwen2-sliding": ("qwen2", 2, dict(use_sliding_window=True, sliding_window=7, max_window_layers=1)),
    "gemma2-softcap-sliding": ("gemma2", 2, dict(sliding_window=9, attn_logit_softcapping=5.0)),
}


def _reference(model, seqs):
    """Logits of each full sequence from one plain (sdpa, no context) forward each."""
    with torch.inference_mode():
        return [model(torch.tensor([s])).logits[0] for s in seqs]


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_standard_attention(case):
    family, kv, extra = CASES[case]
    model = _model(family, kv, **extra)
    L = model.config.num_hidden_layers
    g = torch.Generator().manual_seed(1)
    rnd = lambda n: torch.randint(3, 97, (n,), generator=g).tolist()  # noqa: E731
    trunk = rnd(11)
    branches = [rnd(5), rnd(3), rnd(7)]  # three prompts sharing the trunk
    # rows: (prompt, generated tokens); rows of one prompt share its branch
    gens = {r: rnd(8) for r in range(5)}
    row_prompt = {0: 0, 1: 0, 2: 1, 3: 2, 4: 2}
    full = {r: trunk + branches[row_prompt[r]] + gens[r] for r in gens}
    ref = dict(zip(full, _reference(model, list(full.values()))))

    with torch.inference_mode():
        # trunk: batch 1, in two chunks (the second chunk sees the first as suffix)
        ctx = SharedPrefixContext(L, 1, len(trunk))
        ctx.set_row(0, (), 0)
        for a, b in ((0, 6), (6, 11)):
            ctx.begin(b - a)
            model(torch.tensor([trunk[a:b]]), position_ids=ctx.position_ids(b - a),
                        use_cache=False, gvgap_ctx=ctx, logits_to_keep=0).logits
            ctx.advance()
        tseg = ctx.to_segment(0, len(trunk), 0)
        # branches: right-padded batch attending to the trunk segment
        T = max(map(len, branches))
        bctx = SharedPrefixContext(L, 3, T)
        bctx.add_segment(0, tseg)
        for i in range(3):
            bctx.set_row(i, (0,), len(trunk))
        ids = torch.tensor([b + [0] * (T - len(b)) for b in branches])
        bctx.begin(T)
        blog = model(ids, position_ids=bctx.position_ids(T), use_cache=False, gvgap_ctx=bctx,
                     logits_to_keep=0).logits
        bctx.advance([len(b) for b in branches])
        for r, p in row_prompt.items():
            n = len(branches[p])
            torch.testing.assert_close(blog[p, :n], ref[r][len(trunk): len(trunk) + n], atol=TOL, rtol=0)
        bsegs = [bctx.to_segment(i, len(b), len(trunk)) for i, b in enumerate(branches)]

        # decode: slot 2 starts dead and is recycled later; rows start at different times
        dctx = SharedPrefixContext(L, 6, 8)
        dctx.add_segment(0, tseg)
        for i, s in enumerate(bsegs):
            dctx.add_segment(1 + i, s)
        slot = {0: 0, 1: 1, 3: 3, 4: 4, 2: 5}
        for r in (0, 1, 3, 4, 2):
            p = row_prompt[r]
            dctx.set_row(slot[r], (0, 1 + p), len(trunk) + len(branches[p]))
        dctx.set_row(2, (0, 1), 99)
        dctx.clear_row(2)  # dead slot in the middle
        fed = {r: 0 for r in gens}
        owner = {s: r for r, s in slot.items()}
        # a 2-token extend (row 4 joins late: it feeds nothing), then single-token steps
        for width, override in ((2, {4: 0}), (1, {}), (1, {}), (1, {})):
            active = {r: override.get(r, width) for r in gens}
            rows, counts = [], []
            for s in range(dctx.rows):
                r = owner.get(s)
                take = [] if r is None else gens[r][fed[r]: fed[r] + active[r]]
                rows.append(take + [0] * (width - len(take)))
                counts.append(len(take))
            dctx.begin(width)
            logits = model(torch.tensor(rows), position_ids=dctx.position_ids(width), use_cache=False,
                           gvgap_ctx=dctx, logits_to_keep=0).logits
            dctx.advance(counts)
            for r, s in slot.items():
                n = active[r]
                if n == 0:
                    continue
                start = len(trunk) + len(branches[row_prompt[r]]) + fed[r]
                torch.testing.assert_close(logits[s, :n], ref[r][start: start + n], atol=TOL, rtol=0)
                fed[r] += n
        assert fed == {0: 5, 1: 5, 2: 5, 3: 5, 4: 3}

        # recycle the dead slot for a new row of prompt 1, and compact away slot 0
        dctx.set_row(2, (0, 2), len(trunk) + len(branches[1]))
        new_gen = gens[2][:3]
        dctx.compact([1, 2, 3, 4, 5])
        slot = {1: 0, 3: 2, 4: 3, 2: 4}
        new_slot = 1
        dctx.begin(1)
        rows = [[gens[1][fed[1]]], [new_gen[0]], [gens[3][fed[3]]], [gens[4][fed[4]]], [gens[2][fed[2]]]]
        logits = model(torch.tensor(rows), position_ids=dctx.position_ids(1), use_cache=False,
                       gvgap_ctx=dctx, logits_to_keep=0).logits
        dctx.advance()
        for r, s in slot.items():
            start = len(trunk) + len(branches[row_prompt[r]]) + fed[r]
            torch.testing.assert_close(logits[s, 0], ref[r][start], atol=TOL, rtol=0)
        start = len(trunk) + len(branches[1])
        torch.testing.assert_close(logits[new_slot, 0], ref[2][start], atol=TOL, rtol=0)


@pytest.mark.parametrize("case", ["llama-gqa", "qwen2-mha"])
def test_standard_layout_and_concat(case):
    """Replicating the prompt KV into each row's suffix (the 'standard' layout) and a
    concatenated single segment give the same logits as the trunk+branch layout."""
    family, kv, extra = CASES[case]
    model = _model(family, kv, **extra)
    L = model.config.num_hidden_layers
    g = torch.Generator().manual_seed(2)
    prompt = torch.randint(3, 97, (14,), generator=g).tolist()
    gen = torch.randint(3, 97, (3, 4), generator=g).tolist()
    with torch.inference_mode():
        ctx = SharedPrefixContext(L, 1, 14)
        ctx.set_row(0, (), 0)
        ctx.begin(14)
        model(torch.tensor([prompt]), position_ids=ctx.position_ids(14), use_cache=False, gvgap_ctx=ctx)
        ctx.advance()
        a = ctx.to_segment(0, 9, 0)
        b = ctx.to_segment(0, 14, 0)
        b = Segment([k[:, 9:] for k in b.keys], [v[:, 9:] for v in b.values], 9)
        whole = Segment.concat(a, b)
        outs = []
        for layout in ("split", "concat", "replicated"):
            d = SharedPrefixContext(L, 3, 14 + 4)
            if layout == "split":
                d.add_segment(0, a)
                d.add_segment(1, b)
                for r in range(3):
                    d.set_row(r, (0, 1), 14)
            elif layout == "concat":
                d.add_segment(0, whole)
                for r in range(3):
                    d.set_row(r, (0,), 14)
            else:
                for r in range(3):
                    d.set_row(r, (), 0, init=whole)
            d.begin(4)
            outs.append(model(torch.tensor(gen), position_ids=d.position_ids(4), use_cache=False,
                              gvgap_ctx=d, logits_to_keep=0).logits)
        ref = torch.stack(_reference(model, [prompt + g_ for g_ in gen]))[:, 14:]
        for o in outs:
            torch.testing.assert_close(o, ref, atol=TOL, rtol=0)


def test_attend_merge_exact():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 5, 8, generator=g)
    k = torch.randn(2, 3, 9, 8, generator=g) * 3
    v = torch.randn(2, 3, 9, 8, generator=g)
    full, lse = attend(q, k, v, scale=0.4, exact=True)
    o1, l1 = attend(q, k[:, :, :4], v[:, :, :4], scale=0.4)
    o2, l2 = attend(q, k[:, :, 4:], v[:, :, 4:], scale=0.4)
    o, l_ = merge(o1.float(), l1, o2.float(), l2)
    torch.testing.assert_close(o, full, atol=1e-5, rtol=0)
    # lse reaches ~12 here, where one float32 step is ~1e-6: allow a few steps, relative
    torch.testing.assert_close(l_, lse, atol=1e-6, rtol=1e-6)
    ref = torch.softmax(q @ k.transpose(-1, -2) * 0.4, -1) @ v
    torch.testing.assert_close(full, ref, atol=1e-6, rtol=0)
    # a fully masked block contributes nothing (lse = -inf), whichever kernel is used
    mask = torch.full((1, 1, 5, 4), float("-inf"))
    for exact in (False, True):
        om, lm = attend(q, k[:, :, :4], v[:, :, :4], mask, 0.4, exact=exact)
        assert torch.isneginf(lm).all() and (om == 0).all()
        o, _ = merge(om.float(), lm, o2.float(), l2)
        torch.testing.assert_close(o, o2.float(), atol=1e-6, rtol=0)


def test_no_context_is_plain_sdpa():
    """Without a context the registered implementation is sdpa: padded batches agree."""
    model = _model("llama", 2)
    ids = torch.randint(3, 97, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    with torch.inference_mode():
        a = model(ids, attention_mask=mask).logits
        model.set_attn_implementation("sdpa")
        b = model(ids, attention_mask=mask).logits
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
