"""The paper recipes (sweeps/*.yaml, selected as experiment=NAME): each composes and
validates with every option its grid sweeps; the config logic they rely on (tournament
bracket resolver, grids that follow the generator grid, debug options) does what it says;
and each runs at tiny size as a real multirun whose aggregation the callback writes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from gvgap.config import validate
from gvgap.resolvers import bracket_rounds
from tests.conftest import REPO

RECIPES = sorted(p.stem for p in (REPO / "sweeps").glob("*.yaml"))
MODELS = {p.stem for p in (REPO / "conf" / "model").glob("*.yaml")}


def grid(cfg) -> dict[str, list[str]]:
    """The recipe's sweep grid {key: values}, read with Hydra's own override parser."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    node = cfg.hydra.sweeper.params
    params = OmegaConf.to_container(node, resolve=True) if node is not None else {}
    out = {}
    for o in OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()]):
        key = f"{o.key_or_group}@{o.package}" if o.package else o.key_or_group
        out[key] = list(o.sweep_string_iterator()) if o.is_sweep_override() else [str(o.value())]
    return out


def test_every_recipe_composes_validates_and_sweeps_valid_options(composer):
    assert {"paper", "scaling_qwen15", "scaling_qwen15_tournament", "cross_qwen2", "iterative_qwen15"} <= set(RECIPES)
    checked = set()
    for name in RECIPES:
        validate(composer([f"experiment={name}"]))
        cfg = composer([f"experiment={name}"], hydra=True)
        assert "sweep_analysis" in cfg.hydra.callbacks, name  # every recipe aggregates when it ends
        for key, values in grid(cfg).items():
            assert len(values) == len(set(values)), (name, key)
            if key in ("model", "model@verifier.model"):
                assert set(values) <= MODELS, (name, key, set(values) - MODELS)
                continue
            for v in values:  # every other swept option composes and validates (once per option)
                if (key, v) not in checked:
                    checked.add((key, v))
                    validate(composer([f"experiment={name}", f"{key}={v}"]))


def test_tournament_bracket_follows_the_number_of_samples(composer):
    # the largest r with 2^r <= N, at most 7 rounds (128 entrants)
    assert [bracket_rounds(n) for n in (1, 2, 3, 4, 8, 40, 128, 1000)] == [0, 1, 1, 2, 3, 5, 7, 7]
    with pytest.raises(ValueError, match="n_samples"):
        bracket_rounds(0)
    for extra, rounds, keep in (([], 7, 5), (["generation.n_samples=40"], 5, 5), (["debug=smoke"], 2, 2)):
        cfg = composer(["experiment=scaling_qwen15_tournament", *extra])
        validate(cfg)
        assert (cfg.verifier.rounds, cfg.weight_fn.round) == (rounds, keep), extra
        assert cfg.verifier._target_.endswith("TournamentVerifier") and cfg.weight_fn._target_.endswith("Tournament")


def test_grids_that_follow_other_settings(composer):
    for name in ("cross_qwen2", "cross_llama2"):  # Fig. 3: the whole generator x verifier square
        g = grid(composer([f"experiment={name}"], hydra=True))
        assert g["model@verifier.model"] == g["model"] and len(g["model"]) >= 3
        smoke = grid(composer([f"experiment={name}", "debug=smoke"], hydra=True))
        assert smoke["model"] == smoke["model@verifier.model"] == ["tiny_random"]
    cfg = composer(["experiment=ablation_temperature", "generation.temperature=1.0"])
    assert cfg.verifier.temperature == 1.0  # the verifier samples at the generator's temperature
    assert grid(composer(["experiment=ablation_temperature"], hydra=True))["generation.temperature"] == ["0.5", "1.0"]


def test_smoke_update_shortens_each_updater_after_the_recipe(composer):
    for updater in ("sft_paper", "rpo_paper"):
        cfg = composer(["experiment=iterative_qwen15", f"updater={updater}", "debug=smoke_update"])
        validate(cfg)
        assert (cfg.iterations, cfg.updater.max_steps, cfg.updater.batch_size, cfg.updater.bf16) == (1, 2, 2, False)
        assert (cfg.updater.num_processes, cfg.updater.device, cfg.updater.gpu_memory_gb) == (1, "cpu", None)
        assert cfg.updater.learning_rate == 1e-6  # the recipe's own settings stay
        assert (cfg.task.limit, cfg.generation.n_samples) == (2, 4)


def test_sweeps_readme_maps_every_recipe_to_the_paper():
    text = (REPO / "sweeps" / "README.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \|([^|]*)\|", text, flags=re.M)
    assert sorted(r for r, _ in rows) == RECIPES
    assert all(re.search(r"(Fig|Table|Section|—)", where) for _, where in rows)


# -- every recipe at tiny size ---------------------------------------------------------------
# scaling_qwen15 runs as the literal command in tests/test_sweeps.py and scaling_cpu on the
# submitit launcher below; every other recipe runs here, in-process (torch loads once).
IN_PROCESS = [r for r in RECIPES if r not in ("scaling_qwen15", "scaling_cpu")]
EXTRA = {"fixed_verifier": ["model@verifier.model=tiny_random"],  # its one fixed verifier model
         "verifier_variance": ["verifier.num_verifications=4"]}  # 64 verdicts x 8 samples: minutes on a CPU
FILES = [  # (recipes matching, aggregation files they must produce)
    (r".*", ["runs.csv", "runs.md", "paper.csv", "paper.md"]),
    (r"cross_(qwen2|llama2)", ["cross_mc.csv", "cross_cot_score.csv", "cross_mc.png"]),
    (r"cross_cpu", ["cross_mc.csv", "cross_mc.png"]),
    (r"iterative_|fixed_verifier", ["rounds.csv", "rounds.png", "passk.png"]),
    (r"threshold_|scaling_", ["thresholds.csv", "thresholds.png"]),
    (r".*_tournament$", ["tournament.png", "first_position.csv", "first_position_summary.csv"]),
    (r"verifier_correlation|scaling_\w+\d$|scaling_(all|pythia|opt)$|ablation_instruct|ablation_temperature$",
     ["ensembles.csv", "gap_distribution.png"]),
    (r"verifier_variance", ["variance.csv", "variance.png"]),
]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One generation/verification cache for all recipes: the same tiny samples are reused."""
    old = os.environ.get("GVGAP_CACHE")
    os.environ["GVGAP_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("GVGAP_CACHE", None)
    else:
        os.environ["GVGAP_CACHE"] = old


def multirun(args: list[str]) -> None:
    """`python -m gvgap -m ARGS`, in this process."""
    from hydra.core.global_hydra import GlobalHydra

    from gvgap.cli import app

    GlobalHydra.instance().clear()
    argv, sys.argv = sys.argv, ["gvgap", "-m", *args]
    try:
        app()
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()


def check_sweep(sweep: Path, name: str) -> None:
    """Real outputs: every job's rounds measured with values in range and recounted from
    its parquet files; one aggregated row per (job, round); the recipe's files written."""
    jobs = sorted(d for d in sweep.iterdir() if (d / "config.yaml").exists())
    assert jobs, name
    n_rows = 0
    for job in jobs:
        cfg = OmegaConf.load(job / "config.yaml")
        choice = OmegaConf.load(job / ".hydra" / "hydra.yaml").hydra.runtime.choices.verifier
        for t in range(cfg.iterations + 1):
            m = json.loads((job / f"round_{t:02d}" / "metrics.json").read_text())
            gens = pd.read_parquet(job / f"round_{t:02d}" / "generations.parquet")
            assert m["verifier_name"] == choice, (name, job.name)
            assert (m["n_prompts"], m["n_samples"]) == (2, 4), (name, job.name)
            assert m["accuracy"] == pytest.approx(gens["utility"].mean()), (name, job.name)  # a recount
            assert 0 <= m["accuracy"] <= 1 and 0 <= m["weighted_accuracy"] <= 1
            assert m["gap"] == pytest.approx(m["weighted_accuracy"] - m["accuracy"])
            curve = [m["pass_at_k"][k] for k in sorted(m["pass_at_k"], key=int)]
            assert curve[0] == pytest.approx(m["accuracy"]) and np.all(np.diff(curve) >= -1e-12)
            assert 0 <= m["n_unparseable"] <= m["n_verifications"]
            n_rows += 1
    out = sweep / "analysis"
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == n_rows and set(runs["verifier"]) == {
        OmegaConf.load(j / ".hydra" / "hydra.yaml").hydra.runtime.choices.verifier for j in jobs}
    for pattern, files in FILES:
        if re.match(pattern, name):
            missing = [f for f in files if not (out / f).is_file()]
            assert not missing, (name, missing)


@pytest.mark.slow
@pytest.mark.parametrize("name", IN_PROCESS)
def test_every_recipe_runs_at_tiny_size(name, tmp_path, shared_cache, composer):
    smoke = "debug=smoke_update" if composer([f"experiment={name}"]).iterations > 0 else "debug=smoke"
    multirun([f"experiment={name}", "model=tiny_random", smoke, "engine.progress=false",
              f"hydra.sweep.dir={tmp_path / 'sweep'}", *EXTRA.get(name, [])])
    check_sweep(tmp_path / "sweep", name)


def test_a_recipe_end_to_end_on_the_submitit_local_launcher(tmp_path):
    """experiment=scaling_cpu with hydra/launcher=submitit_local: each job in its own
    process, then the callback aggregates both runs in the launching process."""
    sweep = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "gvgap", "-m", "experiment=scaling_cpu", "model=tiny_random",
                          "debug=smoke", "generation.max_new_tokens=6", "engine.progress=false",
                          "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep}"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    logs = sorted(sweep.glob(".submitit/*/*_log.out"))
    assert len(logs) == 2 and all("round 0: accuracy=" in log.read_text() for log in logs)
    runs = pd.read_csv(sweep / "analysis" / "runs.csv")
    assert sorted(runs["verifier"]) == ["mc", "oracle"] and set(runs["model"]) == {"tiny-random-llama"}
    assert (runs["n_samples"] == 4).all() and (runs["task"] == "arithmetic").all()
    # run folders are named by what the sweep varies, without experiment= or debug=
    names = sorted(Path(p).name for p in runs["run"])
    assert names[0].startswith("0_") and "experiment=" not in names[0] and "verifier=mc" in names[0]
