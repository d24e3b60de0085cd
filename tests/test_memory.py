"""The update's memory estimate (hand-computed values) and the refusal of a run that cannot
fit its declared GPUs, before any model loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from gvgap.config import ConfigError, validate
from gvgap.updaters.memory import USABLE, activations_gb, estimate, for_config, lora_params
from gvgap.updaters.recipes import derive
from tests.conftest import REPO, compose

DIMS_7B = dict(hidden=4096, layers=32, vocab=32000, seq=2048, micro_batch=1)


def test_full_finetune_7b_is_16_bytes_per_parameter():
    e = estimate(7e9, gpus=1, strategy="ddp", checkpointing=True, **DIMS_7B)
    # float32 weights 4 B + float32 gradients 4 B + AdamW moments 8 B = 16 B/param = 112 GB
    assert (e.weights, e.gradients, e.optimizer) == pytest.approx((28.0, 28.0, 56.0))
    assert not e.fits(80)  # refused on one 80 GB GPU
    ddp8 = estimate(7e9, gpus=8, strategy="ddp", checkpointing=True, **DIMS_7B)
    assert ddp8.weights + ddp8.gradients + ddp8.optimizer == pytest.approx(112.0)  # DDP replicates
    f8 = estimate(7e9, gpus=8, strategy="fsdp", checkpointing=True, **DIMS_7B)
    assert f8.weights + f8.gradients + f8.optimizer == pytest.approx(14.0)  # 112 / 8
    assert f8.fits(80) and f8.total <= USABLE * 80
    off = estimate(7e9, gpus=8, strategy="deepspeed_zero3_offload", checkpointing=True, **DIMS_7B)
    assert off.weights + off.gradients + off.optimizer == 0.0 and off.activations == f8.activations


def test_activations_hand_computed():
    # per layer 34 * s * h bytes (16-bit): 34 * 2048 * 4096 = 285,212,672 B; 32 layers
    # logits 8 * s * V = 8 * 2048 * 32000 = 524,288,000 B
    no_ckpt = activations_gb(2048, 1, 4096, 32, 32000, checkpointing=False, bf16=True)
    assert no_ckpt == pytest.approx((32 * 285_212_672 + 524_288_000) / 1e9)  # 9.651 GB
    # checkpointing: each layer's 16-bit input (2 * s * h) + one layer recomputed + logits
    ckpt = activations_gb(2048, 1, 4096, 32, 32000, checkpointing=True, bf16=True)
    assert ckpt == pytest.approx((32 * 2 * 2048 * 4096 + 285_212_672 + 524_288_000) / 1e9)  # 1.346 GB
    assert activations_gb(2048, 4, 4096, 32, 32000, False, True) == pytest.approx(4 * no_ckpt)
    assert activations_gb(2048, 1, 4096, 32, 0, False, False) == pytest.approx(2 * 32 * 285_212_672 / 1e9)


def test_lora_and_rpo_reference():
    assert lora_params(16, 4096, 32) == 20 * 16 * 4096 * 32  # 41.9M adapter parameters
    e = estimate(7e9, gpus=1, strategy="ddp", checkpointing=True, weight_bytes=2, lora_r=16, **DIMS_7B)
    n = 41_943_040
    assert e.weights == pytest.approx((7e9 * 2 + n * 2) / 1e9)  # bf16 frozen base + adapters
    assert (e.gradients, e.optimizer) == pytest.approx((4 * n / 1e9, 8 * n / 1e9))
    r = estimate(7e9, gpus=1, strategy="ddp", checkpointing=True, reference=True, sequences_per_example=2, **DIMS_7B)
    s = estimate(7e9, gpus=1, strategy="ddp", checkpointing=True, **DIMS_7B)
    assert r.weights == pytest.approx(2 * s.weights) and r.activations == pytest.approx(
        activations_gb(2048, 2, 4096, 32, 32000, True, True))


def _refusal(overrides):
    with pytest.raises(ConfigError) as e:
        validate(compose(overrides))
    assert "\n" not in str(e.value)
    return str(e.value)


def test_recipe_that_cannot_fit_is_refused_and_the_declared_one_fits(capsys):
    base = ["model=qwen15_7b", "updater=sft_paper", "iterations=1", "logger=none", "updater.device=cuda"]
    validate(compose(base))  # the model's recipe: FSDP over its declared GPUs
    assert "update memory estimate" in capsys.readouterr().err
    msg = _refusal(base + ["updater.num_processes=1", "updater.strategy=ddp"])
    assert "updater.num_processes" in msg and "model.train.gpus" in msg and "updater.strategy" in msg
    _refusal(base + ["updater.gpu_memory_gb=24"])  # the recipe's GPUs, but smaller ones
    # CPU training and runs without declared GPUs are never refused
    validate(compose(base + ["updater.num_processes=1", "updater.strategy=ddp", "updater.device=cpu"]))
    assert for_config(compose(base + ["updater.gpu_memory_gb=null"])) is None
    assert for_config(compose(base + ["iterations=0"])) is None


def test_device_auto_is_checked_only_where_a_gpu_shows(monkeypatch):
    cfg = compose(["model=qwen15_7b", "iterations=1", "logger=none"])  # the default updater, device auto
    monkeypatch.setattr("gvgap.devices.gpu_visible", lambda: False)
    assert for_config(cfg) is None  # a laptop: CPU training, nothing to check
    monkeypatch.setattr("gvgap.devices.gpu_visible", lambda: True)
    est = for_config(cfg)  # the default updater takes the model's recipe: FSDP over its 4 GPUs
    assert est is not None and est.fits(80) and (cfg.updater.num_processes, cfg.updater.strategy) == (4, "fsdp")


def test_every_model_recipe_fits_sft_and_rpo_full_and_lora():
    models = sorted(p.stem for p in (REPO / "conf" / "model").glob("*.yaml"))
    assert len(models) >= 48
    for model in models:
        for updater in ("rpo_paper", "rpo_paper_lora", "sft_paper"):
            cfg = compose([f"model={model}", f"updater={updater}", "iterations=1", "updater.device=cuda"])
            est = for_config(cfg)
            if model != "tiny_random":
                assert est is not None and est.fits(80), (model, updater, est and est.line())
            u = cfg.updater
            assert u.batch_size * u.gradient_accumulation_steps == 64, (model, updater)


def test_declared_recipes_are_the_derived_ones():
    """conf/model/*.yaml `train:` blocks are what recipes.derive gives (not hand-edited drift)."""
    for f in sorted((REPO / "conf" / "model").glob("*.yaml")):
        m = yaml.safe_load(f.read_text())
        if m.get("params") is None:
            continue
        t = m["train"]
        dims = (float(m["params"]), t["hidden_size"], t["num_layers"], t["vocab_size"])
        for declared, got in ((t, derive(*dims)), (t["lora"], derive(*dims, lora=True))):
            keys = ("gpus", "nodes", "strategy", "gradient_checkpointing", "batch_size", "gradient_accumulation_steps")
            assert {k: declared[k] for k in keys} == {k: got[k] for k in keys}, f.name
    big = derive(72.3e9, 8192, 80, 152064)
    assert big["gpus"] > 8 and big["nodes"] == big["gpus"] // 8 and big["strategy"] == "fsdp"


def test_cli_refuses_before_any_model_loads(tmp_path):
    """72B full fine-tuning on 8 GPUs of one node: exit 2, one line, torch never imported."""
    args = ["gvgap", "model=qwen15_72b", "updater=sft_paper", "iterations=1", "updater.num_processes=8",
            "updater.num_machines=1", "updater.device=cuda", "logger=none", f"run_dir={tmp_path / 'run'}", f"hydra.run.dir={tmp_path / 'h'}"]
    code = (f"import sys, runpy; sys.argv={args!r}\n"
            "try:\n    runpy.run_module('gvgap', run_name='__main__')\n"
            "except SystemExit as e:\n    print('EXIT', e.code, 'torch' in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), GVGAP_CACHE=str(tmp_path / "cache"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert "EXIT 2 False" in p.stdout, p.stderr[-2000:]
    errors = [line for line in p.stderr.splitlines() if line.startswith("gvgap: config error")]
    assert len(errors) == 1 and "updater.num_processes" in errors[0] and "model.train.gpus" in errors[0]
    assert "gvgap: update memory estimate: " in p.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()
