"""Every option of a group with parts is typed by the schema of the class it builds: the
option's YAML names the schema in its defaults, the schema's `_target_` is the YAML's,
and the class builds itself from that same schema (defaults and ranges in one place)."""

from __future__ import annotations

import dataclasses

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

from gvgap.schema import ConfigError
from tests.conftest import REPO, compose

GROUPS = ("engine", "verifier", "weight_fn", "updater", "logger")
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((REPO / "conf" / g).glob("*.yaml"))]


@pytest.mark.parametrize("group, option", OPTIONS)
def test_option_is_typed_by_the_schema_of_its_class(group, option):
    node = compose([f"{group}={option}"])[group]
    schema = OmegaConf.get_type(node)
    assert dataclasses.is_dataclass(schema), f"conf/{group}/{option}.yaml names no schema in its defaults"
    assert schema.__dataclass_fields__["_target_"].default == node._target_
    cls = get_class(node._target_)
    built_from = getattr(cls, "schema", None) or getattr(cls, "settings_cls", None)
    if built_from is not None:  # verifiers, weight functions, updaters
        assert built_from is schema


@pytest.mark.parametrize("make, message", [
    ("gvgap.weight_fn.tournament.Tournament", "weight_fn.round must be >= 0 (got -1)"),
    ("gvgap.verifiers.cot.CoTScoreVerifier", "verifier.top_p must be in (0, 1] (got 0)"),
    ("gvgap.logger.wandb.WandbLogger", "logger.mode must be offline, online or disabled (got 'sometimes')"),
])
def test_a_part_built_by_hand_gets_the_schema_rules(make, message):
    bad = {"Tournament": {"round": -1}, "CoTScoreVerifier": {"top_p": 0}, "WandbLogger": {"mode": "sometimes"}}
    with pytest.raises(ConfigError) as e:
        get_class(make)(**bad[make.rsplit(".", 1)[1]])
    assert str(e.value) == message


def test_hf_engine_checks_its_options_before_loading_anything(tmp_path):
    from gvgap.engines.hf import HFEngine

    with pytest.raises(ConfigError, match=r"^engine.max_rows must be >= 1 or null \(got 0\)$"):
        HFEngine(str(tmp_path / "no-model-here"), max_rows=0)
    with pytest.raises(TypeError, match="max_row"):
        HFEngine(str(tmp_path / "no-model-here"), max_row=8)  # a misspelt option is not ignored
