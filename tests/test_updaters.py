"""Updaters distil f_t[w] into f_{t+1}: SFT trains on weight > 0 samples only with the prompt
masked, RPO on hand-checkable pairs, both publish a loadable folder and leave the input alone."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gvgap.config import ConfigError, validate
from gvgap.updaters import data as D
from gvgap.updaters.base import read_record
from tests.conftest import compose

GOOD = " The answer is 4."
BAD = " no idea at all"


def records(weights_by_prompt: dict[str, list[float]], good=GOOD, bad=BAD) -> pd.DataFrame:
    """One row per sample; weight > 0 samples say `good`, the others `bad`."""
    rows = []
    for pid, ws in weights_by_prompt.items():
        for sid, w in enumerate(ws):
            rows.append(dict(prompt_id=pid, sample_id=sid, prompt=f"Question: what is 2+2? ({pid})\nAnswer:",
                             completion=good if w > 0 else bad, answer=None, utility=float(w > 0), weight=w))
    return pd.DataFrame(rows)


def folder_hash(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A private copy of the tiny random model (its hash is checked after updates)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GVGAP_CACHE", str(tmp_path_factory.mktemp("cache")))
        from gvgap.model.sources import build_tiny_random

        src = build_tiny_random()
    dst = tmp_path_factory.mktemp("model") / "tiny"
    shutil.copytree(src, dst)
    return dst


def logprobs(model_dir, prompts, completions) -> np.ndarray:
    """log p(completion_i | prompt_i) under the model in model_dir, by the HF engine."""
    from gvgap.engines.hf import HFEngine

    eng = HFEngine(str(model_dir), dtype="float32", progress=False)
    uniq = sorted(set(completions))
    lp = eng.continuation_logprobs(list(prompts), uniq)
    return np.array([lp[i, uniq.index(c)] for i, c in enumerate(completions)])


# -- data selection (pure) -------------------------------------------------------------------
def test_kept_examples_shares_hand_computed():
    df = records({"a": [2.0, 0.0, 1.0], "b": [1.0, float("nan"), -3.0]})
    g = D.kept_examples(df, "global")
    assert list(zip(g["prompt_id"], g["sample_id"])) == [("a", 0), ("a", 2), ("b", 0)]
    np.testing.assert_allclose(g["share"], [2 / 4, 1 / 4, 1 / 4])
    p = D.kept_examples(df, "prompt")  # a: 2/3, 1/3 of half; b: all of half
    np.testing.assert_allclose(p["share"], [1 / 3, 1 / 6, 1 / 2])
    assert D.is_uniform(D.kept_examples(records({"a": [1, 0, 1], "b": [1, 1]}), "global")["share"])
    assert not D.is_uniform(p["share"])


def test_preference_pairs_hand_checked():
    df = records({"p0": [1, 0, 1, 0], "p1": [1, 1, 1, 1], "p2": [0, 0, 0.5, 0], "p3": [0, 0, 0, 0]})
    pairs = D.preference_pairs(df, max_pairs_per_prompt=10, seed=0)
    got = set(zip(pairs["prompt_id"], pairs["chosen_id"], pairs["rejected_id"]))
    assert got == {("p0", 0, 1), ("p0", 0, 3), ("p0", 2, 1), ("p0", 2, 3), ("p2", 2, 0), ("p2", 2, 1), ("p2", 2, 3)}
    assert (pairs["chosen"] == GOOD).all() and (pairs["rejected"] == BAD).all()
    assert pairs["prompt"].str.endswith("Answer:").all()

    capped = [D.preference_pairs(df, max_pairs_per_prompt=2, seed=s) for s in range(8)]
    for c in capped:
        assert c["prompt_id"].value_counts().to_dict() == {"p0": 2, "p2": 2}
        assert not c.duplicated(["prompt_id", "chosen_id", "rejected_id"]).any()
        assert set(zip(c["prompt_id"], c["chosen_id"], c["rejected_id"])) <= got
    assert capped[3].equals(D.preference_pairs(df, max_pairs_per_prompt=2, seed=3))  # seeded
    assert len({tuple(map(tuple, c[["chosen_id", "rejected_id"]].values)) for c in capped}) > 1


def test_sft_features_mask_prompt_and_drop_long(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    kept = D.kept_examples(records({"a": [1, 0], "b": [1]}, good=" 42"), "global")
    kept.loc[1, "prompt"] = "x" * 500  # too long for max_length=100
    cols, dropped = D.sft_features(tok, kept, max_length=100, add_eos=True)
    assert dropped == 1 and len(cols["input_ids"]) == 1
    n_prompt = len(tok(kept.loc[0, "prompt"]).input_ids)
    ids, labels = cols["input_ids"][0], cols["labels"][0]
    assert labels[:n_prompt] == [D.IGNORE] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:] == tok(" 42", add_special_tokens=False).input_ids + [tok.eos_token_id]
    assert tok.decode(ids[:n_prompt]) == kept.loc[0, "prompt"]


# -- SFT ------------------------------------------------------------------------------------
def test_sft_batches_train_only_completion_tokens_of_kept_samples(tiny, tmp_path):
    from gvgap.updaters.sft import SFTUpdater

    df = records({"a": [1, 0, 1, 0], "b": [0, 0, 1, 0]})
    u = SFTUpdater(max_steps=1, batch_size=8)
    u.select(df, seed=0)
    trainer, tok = u.build_trainer(str(tiny), tmp_path / "work", seed=0, stats={})
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["input_ids"].shape[0] == 3  # the three weight > 0 samples, nothing else
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
        ids, labels = ids[mask.bool()].tolist(), labels[mask.bool()].tolist()
        trained = [i for i, lab in zip(ids, labels) if lab != D.IGNORE]
        assert tok.decode(trained) == GOOD + tok.eos_token
        n_prompt = labels.index(next(lab for lab in labels if lab != D.IGNORE))
        assert tok.decode(ids[:n_prompt]).startswith("Question:")
    assert (batch["labels"][~batch["attention_mask"].bool()] == D.IGNORE).all()  # padding not trained


def test_sft_update_raises_likelihood_of_kept_and_publishes_new_folder(tiny, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from gvgap.updaters.sft import SFTUpdater

    df = records({"a": [1, 0, 1, 0], "b": [0, 1, 0, 0], "c": [0, 0, 0, 0]})
    before_hash = folder_hash(tiny)
    kept = df[df.weight > 0]
    lp0 = logprobs(tiny, kept["prompt"], kept["completion"])
    out = tmp_path / "round_00" / "model"
    ret = SFTUpdater(max_steps=6, batch_size=3, learning_rate=3e-3).update(str(tiny), df, str(out), seed=0)

    assert ret == str(out) and (out / "config.json").exists()
    assert folder_hash(tiny) == before_hash  # the input folder is untouched
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())  # no temp/work leftovers
    model = AutoModelForCausalLM.from_pretrained(out)
    assert isinstance(model, torch.nn.Module)
    w0, w1 = load_file(tiny / "model.safetensors"), load_file(out / "model.safetensors")
    assert w0.keys() == w1.keys() and any(not torch.equal(w0[k], w1[k]) for k in w0)
    lp1 = logprobs(out, kept["prompt"], kept["completion"])
    assert lp1.mean() > lp0.mean() + 1.0, (lp0, lp1)  # nats per completion
    rec = read_record(out)
    assert rec["skipped"] is False and rec["steps"] == 6
    assert (rec["n_kept"], rec["n_prompts"], rec["n_train"]) == (3, 2, 3)


def test_weighted_sampler_draws_in_proportion_to_weight(tiny, tmp_path):
    from gvgap.updaters.sft import SFTUpdater

    df = records({"a": [6.0, 0.0, 2.0], "b": [2.0]})  # exp-style, non-binary weights
    u = SFTUpdater(max_steps=1)
    u.select(df, seed=0)
    stats = {}
    trainer, _ = u.build_trainer(str(tiny), tmp_path / "work", seed=0, stats=stats)
    assert stats["weighted_sampling"] is True
    sampler = trainer._get_train_sampler()
    draws = np.concatenate([list(sampler) for _ in range(4000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / len(draws), [0.6, 0.2, 0.2], atol=0.02)


def test_empty_kept_set_copies_model_unchanged(tiny, tmp_path):
    from gvgap.updaters.sft import SFTUpdater

    df = records({"a": [0, 0], "b": [0, float("nan")]})
    out = tmp_path / "model"
    stale = tmp_path / ".model.tmp-999999999"  # left by a killed update whose process is gone
    stale.mkdir()
    assert SFTUpdater(max_steps=2).update(str(tiny), df, str(out), seed=0) == str(out)
    assert (out / "model.safetensors").read_bytes() == (tiny / "model.safetensors").read_bytes()
    assert (out / "config.json").exists() and (out / "tokenizer.json").exists()
    rec = read_record(out)
    assert rec["skipped"] is True and "weight > 0" in rec["reason"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_lora_is_merged_into_a_plain_folder_in_save_dtype(tiny, tmp_path):
    import torch
    from safetensors.torch import load_file

    from gvgap.updaters.sft import SFTUpdater

    out = tmp_path / "model"
    u = SFTUpdater(max_steps=2, batch_size=2, learning_rate=1e-2, save_dtype="bfloat16",
                   lora={"enabled": True, "r": 4, "alpha": 8})
    u.update(str(tiny), records({"a": [1, 0, 1]}), str(out), seed=0)
    w0, w1 = load_file(tiny / "model.safetensors"), load_file(out / "model.safetensors")
    assert w1.keys() == w0.keys()  # no lora_A/lora_B tensors: merged
    assert not (out / "adapter_config.json").exists()
    assert {t.dtype for t in w1.values()} == {torch.bfloat16}
    changed = {k for k in w0 if not torch.equal(w0[k].to(torch.bfloat16), w1[k])}
    assert changed and all("proj" in k for k in changed)  # only LoRA-targeted linears moved


# -- RPO ------------------------------------------------------------------------------------
def test_rpo_increases_chosen_vs_rejected_margin(tiny, tmp_path):
    from gvgap.updaters.rpo import RPOUpdater

    df = records({"a": [1, 0, 0, 1], "b": [0, 1, 0, 0], "c": [1, 1, 1, 1]})
    pairs = D.preference_pairs(df, 8, seed=0)
    assert len(pairs) == 4 + 3  # a: 2 x 2, b: 1 x 3, c: none

    def margin(model_dir):
        return (logprobs(model_dir, pairs["prompt"], pairs["chosen"])
                - logprobs(model_dir, pairs["prompt"], pairs["rejected"])).mean()

    m0 = margin(tiny)
    out = tmp_path / "model"
    RPOUpdater(max_steps=4, batch_size=4, learning_rate=3e-3).update(str(tiny), df, str(out), seed=0)
    m1 = margin(out)
    assert m1 > m0 + 1.0, (m0, m1)
    rec = read_record(out)
    assert (rec["n_pairs"], rec["n_prompts"], rec["steps"]) == (7, 2, 4)


def test_rpo_without_pairs_is_skipped(tiny, tmp_path):
    from gvgap.updaters.rpo import RPOUpdater

    out = tmp_path / "model"
    RPOUpdater().update(str(tiny), records({"a": [1.0, 0.5], "b": [0.0, 0.0]}), str(out), seed=0)
    assert read_record(out)["skipped"] is True
    assert (out / "model.safetensors").read_bytes() == (tiny / "model.safetensors").read_bytes()


# -- config ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "override, field",
    [
        ("updater.learning_rate=0", "updater.learning_rate"),
        ("updater.max_steps=0", "updater.max_steps"),
        ("updater.batch_size=0", "updater.batch_size"),
        ("updater.gradient_accumulation_steps=0", "updater.gradient_accumulation_steps"),
        ("updater.max_length=1", "updater.max_length"),
        ("updater.example_weighting=random", "updater.example_weighting"),
        ("updater.device=tpu", "updater.device"),
        ("updater.lora.r=0", "updater.lora.r"),
        ("updater.save_dtype=int8", "updater.save_dtype"),
        ("updater=rpo updater.beta=0", "updater.beta"),
        ("updater=rpo updater.sft_weight=-1", "updater.sft_weight"),
        ("updater=rpo updater.max_pairs_per_prompt=0", "updater.max_pairs_per_prompt"),
        ("updater=sft_paper updater.max_steps=-5", "updater.max_steps"),
    ],
)
def test_bad_updater_value_names_field(override, field):
    cfg = compose(override.split())
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    assert field in str(e.value) and "\n" not in str(e.value)


def test_paper_configs_carry_table_8_values():
    for name in ("sft_paper", "rpo_paper"):
        u = compose([f"updater={name}"]).updater
        assert (u.learning_rate, u.batch_size * u.gradient_accumulation_steps, u.max_steps, u.max_length, u.bf16) \
            == (1e-6, 64, 2000, 2048, True)
    rpo = compose(["updater=rpo_paper"]).updater
    assert (rpo.beta, rpo.sft_weight) == (0.05, 1.0)


def test_constructor_validates_too():
    from gvgap.updaters.rpo import RPOUpdater

    with pytest.raises(ConfigError, match="updater.beta"):
        RPOUpdater(beta=-0.1)


# -- end to end ------------------------------------------------------------------------------
def test_pipeline_two_rounds_round1_sampled_from_round0_model(fresh_cache, tmp_path):
    from gvgap import artifacts as A
    from gvgap.engines.base import SamplingParams
    from gvgap.engines.hf import HFEngine
    from gvgap.pipeline import build_task, run

    cfg = compose(["model=tiny_random", "verifier=oracle", "weight_fn=quantile", "weight_fn.q=0", "iterations=1",
                   "updater=sft", "updater.max_steps=2", "updater.learning_rate=3e-2", "logger=none", "debug=smoke",
                   "generation.num_shots=0"])  # short prompts: a faster test
    rounds = run(cfg, str(tmp_path / "run"))
    assert [r["round"] for r in rounds] == [0, 1]
    model0 = tmp_path / "run" / "round_00" / "model"
    assert read_record(model0)["n_kept"] == 2 * 4  # q=0 keeps every sample of the 2 prompts
    assert not (tmp_path / "run" / "round_01" / "model").exists()  # no update after the last round

    task = build_task(cfg)
    problems = task.problems()
    g = cfg.generation
    params = SamplingParams(n=g.n_samples, temperature=g.temperature, top_p=g.top_p,
                            max_new_tokens=g.max_new_tokens, stop=tuple(task.stop), seed=cfg.seed)
    prompts = [task.build_prompt(p) for p in problems]

    def completions(t):
        gens = A.read_parquet(tmp_path / "run" / f"round_{t:02d}" / "generations.parquet")
        return [gens[gens.prompt_id == p.id].sort_values("sample_id")["completion"].tolist() for p in problems]

    resampled = HFEngine(str(model0), progress=False).generate(prompts, params, list(range(len(prompts))))
    assert completions(1) == resampled
    assert completions(1) != completions(0)  # same seeds and prompts: the new weights made the difference


# -- multi-process updates (accelerate launch, gloo on CPU) -----------------------------------
def varied_records() -> pd.DataFrame:
    rows = [dict(prompt_id=f"p{i}", sample_id=s, prompt=f"Question: what is {i}+{s}?\nAnswer:",
                 completion=f" The answer is {i + s}." + " ok" * (i % 3), answer=None, utility=1.0, weight=1.0)
            for i in range(8) for s in range(2)]
    return pd.DataFrame(rows)


def test_two_process_update_follows_the_one_process_loss_curve(tiny, tmp_path):
    """Same data, same seed, same effective minibatch (4 = 1 x 4 = 2 processes x 2): accelerate
    hands consecutive micro-batches of the seeded order to the ranks, so each step sees the same
    16-token-ish examples. The curves differ only by how the token-mean loss is averaged (per
    rank, then over ranks, vs over the whole batch) and float summation order: < 1% per step."""
    from gvgap.updaters.sft import SFTUpdater

    rec = varied_records()
    curves, recs = {}, {}
    for n in (1, 2):
        u = SFTUpdater(max_steps=6, batch_size=4, learning_rate=3e-2, logging_steps=1, num_processes=n, device="cpu")
        out = u.update(str(tiny), rec, str(tmp_path / f"n{n}" / "model"), seed=0)
        recs[n] = read_record(out)
        curves[n] = np.array([h["loss"] for h in recs[n]["log_history"] if "loss" in h])
        assert not list((tmp_path / f"n{n}").glob(".model.tmp-*"))  # nothing half-written left
    assert (recs[1]["world_size"], recs[1]["strategy"], recs[1]["distributed_type"]) == (1, "single_process", "NO")
    assert (recs[2]["world_size"], recs[2]["strategy"], recs[2]["distributed_type"]) == (2, "ddp", "MULTI_CPU")
    assert (recs[2]["per_device_batch_size"], recs[2]["per_device_accumulation_steps"]) == (2, 1)
    assert len(curves[1]) == len(curves[2]) == 6
    assert curves[1][-1] < curves[1][0] - 1.0  # the curve really moves (so closeness means something)
    np.testing.assert_allclose(curves[2], curves[1], rtol=0.01)
    # only rank 0 saved, and the next round loads it: close to the 1-process model's likelihood
    lp = {n: logprobs(tmp_path / f"n{n}" / "model", rec["prompt"][:4], rec["completion"][:4]) for n in (1, 2)}
    np.testing.assert_allclose(lp[2], lp[1], rtol=0.05)
    assert (logprobs(tiny, rec["prompt"][:4], rec["completion"][:4]) < lp[2] - 1).all()


def test_failed_launch_raises_with_exit_code_and_publishes_nothing(tmp_path):
    from gvgap.updaters.sft import SFTUpdater

    u = SFTUpdater(max_steps=1, batch_size=2, num_processes=2, device="cpu")
    with pytest.raises(RuntimeError, match="exit code"):
        u.update(str(tmp_path / "no_such_model"), varied_records(), str(tmp_path / "r" / "model"), seed=0)
    assert not (tmp_path / "r" / "model").exists() and not list((tmp_path / "r").glob(".model.tmp-*"))
    assert "no_such_model" in (tmp_path / "r" / "update.log").read_text()  # the ranks' own error, kept


def test_cli_two_process_round_is_loaded_by_the_next_round(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from gvgap import artifacts as A
    from tests.conftest import REPO

    env = dict(os.environ, PYTHONPATH=str(REPO), GVGAP_CACHE=str(tmp_path / "cache"))
    run = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "gvgap", "model=tiny_random", "iterations=1", "updater.num_processes=2",
                        "logger=none", "debug=smoke", "verifier=oracle", "weight_fn.q=0", "updater.max_steps=3",
                        "updater.learning_rate=3e-2", "generation.num_shots=0", f"run_dir={run}"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    rec = json.loads((run / "round_00" / "model" / "gvgap_update.json").read_text())
    assert (rec["world_size"], rec["strategy"], rec["steps"]) == (2, "ddp", 3)
    assert "loading model " + str(run / "round_00" / "model") in p.stdout + p.stderr  # round 1 samples from it
    g0, g1 = (A.read_parquet(run / f"round_0{t}" / "generations.parquet") for t in (0, 1))
    assert g1["completion"].tolist() != g0["completion"].tolist()  # same seeds: new weights made the difference


def test_two_process_rpo_with_lora_merges_on_rank_0_and_raises_the_margin(tiny, tmp_path):
    """DPO's reference under DDP (adapters off) and the rank-0 merge of the gathered adapter."""
    from safetensors.torch import load_file

    from gvgap.updaters.rpo import RPOUpdater

    df = records({"a": [1, 0, 0, 1], "b": [0, 1, 0, 0]})
    pairs = D.preference_pairs(df, 8, seed=0)

    def margin(model_dir):
        return (logprobs(model_dir, pairs["prompt"], pairs["chosen"])
                - logprobs(model_dir, pairs["prompt"], pairs["rejected"])).mean()

    out = tmp_path / "model"
    RPOUpdater(max_steps=4, batch_size=4, learning_rate=1e-2, num_processes=2, device="cpu",
               lora={"enabled": True, "r": 4, "alpha": 8}).update(str(tiny), df, str(out), seed=0)
    rec = read_record(out)
    assert (rec["world_size"], rec["distributed_type"], rec["steps"], rec["per_device_batch_size"]) == \
        (2, "MULTI_CPU", 4, 2)
    assert load_file(out / "model.safetensors").keys() == load_file(tiny / "model.safetensors").keys()
    assert not (out / "adapter_config.json").exists()
    assert margin(out) > margin(tiny) + 0.5
