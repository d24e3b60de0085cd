"""Every paper experiment (conf/experiment/) composes, validates, has the paper's settings
and a valid sweep grid; every sweep script names a real experiment; the scripts' shell
logic (tournament rounds, smoke overrides) does what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf, open_dict

from gvgap.config import validate
from tests.conftest import REPO

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
SWEEPS = sorted((REPO / "sweeps").glob("*.sh"))
MODELS = {p.stem for p in (REPO / "conf" / "model").glob("*.yaml")}
PAPER_GENERATION = {"n_samples": 128, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 512, "num_shots": 4}
# what each experiment must set (beyond the paper's generation settings)
EXPECT = {
    "scaling_qwen15": {"task.name": "gsm8k"}, "scaling_qwen25_math": {"task.name": "math"},
    "unimprovable_nq": {"task.name": "nq_open", "verifier._target_": "gvgap.verifiers.mc.MCVerifier"},
    "unimprovable_sudoku": {"task.name": "sudoku4", "verifier._target_": "gvgap.verifiers.cot.CoTBinaryVerifier",
                            "weight_fn.tau": 1.0},
    "iterative_qwen15": {"iterations": 3, "verifier._target_": "gvgap.verifiers.cot.CoTBinaryVerifier",
                         "updater._target_": "gvgap.updaters.sft.SFTUpdater", "updater.learning_rate": 1e-6,
                         "updater.max_steps": 2000},
    "iterative_mc": {"iterations": 3, "weight_fn.q": 0.7, "model.name": "qwen1.5-7b"},
    "iterative_math": {"iterations": 4, "task.name": "math"},
    "fixed_verifier": {"iterations": 3, "verifier.model.name": "qwen1.5-72b", "model.name": "qwen1.5-7b"},
    "verifier_variance": {"generation.n_samples": 8, "verifier.num_verifications": 64},
    "ablation_temperature": {"generation.temperature": 0.5, "verifier.temperature": 0.5},
    "cross_llama2": {"verifier.model.family": "llama2"}, "cross_qwen2": {"verifier.model.family": "qwen2"},
    "ablation_instruct": {"model.family": "qwen1.5-chat"}, "ablation_instruct_math": {"task.name": "math"},
}


@pytest.fixture(scope="module")
def composer():
    """compose(overrides) -> (config without `hydra`, hydra.sweeper.params); Hydra
    initialised once for the module (composition costs ~0.3 s)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import gvgap.cli  # noqa: F401  (registers base_config)

    GlobalHydra.instance().clear()
    memo = {}
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        def run(overrides):
            key = tuple(overrides)
            if key in memo:
                return memo[key].copy(), dict(memo[key + ("params",)])
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
            node = cfg.hydra.sweeper.params
            params = OmegaConf.to_container(node) if node is not None else {}
            with open_dict(cfg):
                del cfg["hydra"]
            memo[key], memo[key + ("params",)] = cfg, params
            return cfg.copy(), dict(params)

        yield run
    GlobalHydra.instance().clear()


def test_every_experiment_composes_validates_and_sweeps_valid_options(composer):
    assert len(EXPERIMENTS) >= 20
    checked = set()
    for name in EXPERIMENTS:
        cfg, params = composer([f"experiment={name}"])
        validate(cfg)
        if name not in ("scaling_cpu",):
            gen = OmegaConf.to_container(cfg.generation)
            expected = dict(PAPER_GENERATION, **{k.split(".")[1]: v for k, v in EXPECT.get(name, {}).items()
                                                 if k.startswith("generation.")})
            assert gen == expected, name
        for key, value in EXPECT.get(name, {}).items():
            assert OmegaConf.select(cfg, key) == value, (name, key)
        if name != "paper" and not name.startswith(("iterative_mc", "fixed_verifier")):
            assert params, f"{name} has no hydra.sweeper.params grid"
        for key, values in params.items():
            values = str(values).split(",")
            assert len(values) == len(set(values)), (name, key)
            if key in ("model", "model@verifier.model"):
                assert set(values) <= MODELS, (name, key, set(values) - MODELS)
                continue
            for v in values:  # other swept options must compose (once per option)
                if (key, v) in checked:
                    continue
                checked.add((key, v))
                c, _ = composer([f"experiment={name}", f"{key}={v}"])
                validate(c)


def test_sweep_grids_match_the_paper(composer):
    _, p = composer(["experiment=scaling_all"])
    models = p["model"].split(",")
    assert len(models) == 21 and set(p["verifier"].split(",")) == {"mc", "cot_binary", "cot_score"}
    families = {OmegaConf.load(REPO / "conf" / "model" / f"{m}.yaml").family for m in models}
    assert families == {"qwen1.5", "qwen2", "llama2", "llama3", "llama3.1", "yi1.5"}
    _, p = composer(["experiment=scaling_qwen15"])
    assert p["model"].split(",") == ["qwen15_0.5b", "qwen15_1.8b", "qwen15_4b", "qwen15_7b", "qwen15_14b",
                                     "qwen15_32b", "qwen15_72b"]
    for name in ("cross_llama2", "cross_qwen2"):  # Fig. 3: the full generator x verifier square
        _, p = composer([f"experiment={name}"])
        assert p["model"] == p["model@verifier.model"] and set(p["verifier"].split(",")) == {"mc", "cot_score"}
    _, p = composer(["experiment=iterative_qwen15"])
    assert set(p["updater"].split(",")) == {"sft_paper", "rpo_paper"}
    c, _ = composer(["experiment=iterative_qwen15", "updater=rpo_paper"])
    assert c.updater.beta == 0.05 and c.updater.sft_weight == 1.0  # App. F
    _, p = composer(["experiment=fixed_verifier"])
    assert set(p["verifier"].split(",")) == {"oracle", "cot_binary"}


def test_smoke_overrides_shrink_any_experiment(composer):
    cfg, _ = composer(["experiment=cross_qwen2", "model=tiny_random", "model@verifier.model=tiny_random",
                            "debug=smoke"])
    validate(cfg)
    assert cfg.model.source == "tiny_random" and cfg.verifier.model.source == "tiny_random"
    assert cfg.generation.n_samples == 4 and cfg.task.limit == 2 and cfg.generation.max_new_tokens == 16
    assert cfg.logger._target_ == "gvgap.logger.none.NullLogger"
    assert cfg.generation.temperature == 0.7  # the paper's sampling is kept


def test_every_sweep_script_runs_a_real_experiment():
    assert len(SWEEPS) >= 20
    named = set()
    for path in SWEEPS:
        text = path.read_text()
        check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, (path.name, check.stderr)
        if path.name == "_common.sh":
            continue
        assert text.startswith("#!/usr/bin/env bash") and os.access(path, os.X_OK), path.name
        assert 'source "$(dirname "$0")/_common.sh"' in text
        exps = re.findall(r"start_sweep (\w+)", text) + re.findall(r"EXPERIMENT=(\w+)", text)
        assert exps and set(exps) <= set(EXPERIMENTS), (path.name, exps)
        assert exps[0] == path.stem and "analyse" in text
        named |= set(exps)
    assert named == set(EXPERIMENTS) - {"paper"}  # every experiment has its one command


def _bash(snippet: str, *args: str, **env) -> str:
    """Run snippet after sourcing sweeps/_common.sh, with `multirun` stubbed to print its args."""
    script = f'source "{REPO}/sweeps/_common.sh"; multirun() {{ echo "RUN $*"; }}; {snippet}'
    out = subprocess.run(["bash", "-c", script, "bash", *args], capture_output=True, text=True,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_tournament_pass_uses_the_largest_bracket_the_samples_allow():
    assert "verifier.rounds=7 weight_fn=tournament weight_fn.round=5" in _bash('tournament_pass "$@"')
    smoke = _bash('tournament_pass "$@"', "model=tiny_random", "debug=smoke")
    assert "verifier=tournament verifier.rounds=2 weight_fn=tournament weight_fn.round=2" in smoke
    assert smoke.rstrip().endswith("model=tiny_random debug=smoke")  # the user's overrides come last
    assert "verifier.rounds=5 weight_fn=tournament weight_fn.round=5" in _bash(
        'tournament_pass "$@"', "generation.n_samples=40")
    assert "verifier.rounds=3 weight_fn=tournament weight_fn.round=3" in _bash(
        'tournament_pass "$@"', "debug=smoke", "generation.n_samples=8")
    assert _bash('tournament_pass "$@"', TOURNAMENT="0") == ""


def test_smoke_helpers_add_tiny_verifier_and_short_updates():
    assert _bash('tiny_verifier_args "$@"', "model=tiny_random").strip() == "model@verifier.model=tiny_random"
    assert _bash('tiny_verifier_args "$@"', "model=tiny_random", "model@verifier.model=smollm2_135m").strip() == ""
    assert _bash('tiny_verifier_args "$@"', "model=qwen15_7b").strip() == ""
    smoke = _bash('updater_smoke_args "$@"', "debug=smoke").split()
    assert "iterations=1" in smoke and "updater.max_steps=2" in smoke
    assert _bash('updater_smoke_args "$@"', "model=tiny_random").strip() == ""


def test_a_sweep_script_end_to_end_on_the_submitit_local_launcher(tmp_path):
    """sweeps/scaling_cpu.sh with the tiny model and hydra/launcher=submitit_local: a 2-job
    multirun, each job in its own process, then the aggregation of both runs."""
    sweep = tmp_path / "sweep"
    env = {**os.environ, "PYTHON": sys.executable, "SWEEP_DIR": str(sweep), "PYTHONPATH": str(REPO)}
    out = subprocess.run(["bash", str(REPO / "sweeps" / "scaling_cpu.sh"), "model=tiny_random", "debug=smoke",
                          "generation.max_new_tokens=6", "engine.progress=false", "hydra/launcher=submitit_local"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    logs = sorted(sweep.glob(".submitit/*/*_log.out"))
    assert len(logs) == 2 and all("[gvgap] round 0:" in log.read_text() for log in logs)
    runs = pd.read_csv(sweep / "analysis" / "runs.csv")
    assert sorted(runs["verifier"]) == ["mc", "oracle"] and set(runs["model"]) == {"tiny-random-llama"}
    assert (runs["n_samples"] == 4).all() and (runs["task"] == "arithmetic").all()
    # run folders are named by what the sweep varies, without experiment= or debug=
    names = sorted(Path(p).name for p in runs["run"])
    assert names[0].startswith("0_") and "experiment=" not in names[0] and "verifier=mc" in names[0]
