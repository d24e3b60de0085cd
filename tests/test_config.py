"""A wrong config value fails before any model loads, with one line naming the field."""

import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from gvgap.config import ConfigError, validate
from tests.conftest import REPO, compose


def test_default_config_validates():
    cfg = compose()
    validate(cfg)
    assert cfg.model.name == "smollm2-135m-instruct"
    assert cfg.task.name == "arithmetic"
    assert cfg.verifier._target_.endswith("MCVerifier")


@pytest.mark.parametrize(
    "override, field",
    [
        ("generation.n_samples=0", "generation.n_samples"),
        ("generation.temperature=-0.1", "generation.temperature"),
        ("generation.top_p=0", "generation.top_p"),
        ("generation.top_p=1.5", "generation.top_p"),
        ("generation.max_new_tokens=0", "generation.max_new_tokens"),
        ("iterations=-1", "iterations"),
        ("pass_at_k=[1,2,64]", "pass_at_k"),
        ("weight_fn=quantile weight_fn.q=1.5", "weight_fn.q"),
        ("weight_fn=exp weight_fn.beta=0", "weight_fn.beta"),
        ("verifier.num_verifications=0", "verifier.num_verifications"),
        ("task.limit=0", "task.limit"),
        ("task.name=nope", "task.name"),
        ("model.source=ftp", "model.source"),
        ("+model@verifier.model=tiny_random verifier.model.source=ftp", "verifier.model.source"),
        ("logger.mode=sometimes", "logger.mode"),
        ("iterations=2 updater=none", "updater"),
        ("engine.dtype=float8", "engine.dtype"),
        ("engine.attention=magic", "engine.attention"),
        ("engine.max_rows=0", "engine.max_rows"),
    ],
)
def test_bad_value_names_field(override, field):
    cfg = compose(override.split())
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    msg = str(e.value)
    assert field in msg
    assert "\n" not in msg


@pytest.mark.parametrize("overrides, key", [
    (["generation.n_samples=many"], "n_samples"),  # top level: typed by gvgap.config.Config
    # every group option names its schema in its defaults, so Hydra types it as it composes
    (["weight_fn=threshold", "weight_fn.tau=abc"], "tau"),
    (["engine.batch_size=big"], "batch_size"),
    (["model.params=many"], "params"),
    (["updater=rpo", "updater.beta=strong"], "beta"),
    (["verifier=cot_score", "verifier.temprature=0.5"], "temprature"),  # a misspelt key
])
def test_wrong_type_or_unknown_key_rejected_at_compose(overrides, key):
    with pytest.raises((ConfigCompositionException, ValidationError)) as e:
        compose(overrides)
    assert key in str(e.value) or key in str(e.value.__cause__)


def test_cli_fails_fast_with_one_line(tmp_path):
    """The CLI stops with exit code 2 before importing torch or loading a model."""
    code = (
        "import sys, runpy; sys.argv=['gvgap','generation.temperature=-1','logger=none',"
        f"'hydra.run.dir={tmp_path}'];\n"
        "try:\n    runpy.run_module('gvgap', run_name='__main__')\n"
        "except SystemExit as e:\n    print('EXIT', e.code, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "EXIT 2 False" in out.stdout
    errors = [line for line in out.stderr.splitlines() if "config error" in line]
    assert errors == ["gvgap: config error: generation.temperature must be >= 0 (got -1.0)"]
