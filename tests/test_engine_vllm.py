"""The vLLM engine on CPU, against a fake `vllm` module: the exact LLM/SamplingParams calls,
per-prompt seeds, stop handling, and the summation of prompt log-probs for scoring."""

from __future__ import annotations

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
                                              outputs=[types.SimpleNamespace(text="x")]))
        return outs


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = FakeLLM, FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", mod)
    FakeLLM.instances.clear()
    return mod


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


def test_greedy_asks_once_and_repeats(fake_vllm):
    eng = engine()
    out = eng.generate(["p"], SamplingParams(n=4, temperature=0.0, stop=()), indices=[0])
    sp = FakeLLM.instances[-1].calls[-1][1][0]
    assert sp.kwargs["n"] == 1 and sp.kwargs["temperature"] == 0.0
    assert out == [["p|" + str(prompt_seed(0, 0)) + "|0 END extra"] * 4]


def test_continuation_logprobs_sum_only_continuation_tokens(fake_vllm):
    eng = engine(score_batch_size=3)  # 2 x 2 requests: two calls, 3 + 1
    prompts, conts = ["Judge: ok?", "Q"], [" Correct", " Incorrect"]
    lp = eng.continuation_logprobs(prompts, conts)
    tok = FakeLLM.instances[-1].tok
    expected = np.zeros((2, 2))
    for i, p in enumerate(prompts):
        pid = tok(p).input_ids
        for j, c in enumerate(conts):
            cid = tok(c, add_special_tokens=False).input_ids
            ids = pid + cid
            expected[i, j] = sum(fake_logprob(k, ids[k]) for k in range(len(pid), len(ids)))
    np.testing.assert_allclose(lp, expected)
    calls = FakeLLM.instances[-1].calls
    assert [len(c[0]) for c in calls] == [3, 1]
    sp = calls[0][1]
    assert sp.kwargs["prompt_logprobs"] == 0 and sp.kwargs["max_tokens"] == 1
    assert calls[0][0][1]["prompt_token_ids"] == tok("Judge: ok?").input_ids + tok(" Incorrect").input_ids


def test_missing_vllm_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(ImportError, match=r"pip install -e \"\.\[vllm\]\""):
        engine()


def test_bad_engine_values_name_the_field(fake_vllm):
    with pytest.raises(ConfigError, match="engine.gpu_memory_utilization"):
        engine(gpu_memory_utilization=1.5)
    assert not FakeLLM.instances  # failed before any model was built
    import gvgap.engines.vllm  # noqa: F401  (registers the schema, as validate's plugin import would)

    with pytest.raises(ConfigError, match="engine.tensor_parallel_size"):
        validate(compose(["engine=vllm", "engine.tensor_parallel_size=0"]))
