"""The new verifier and weight_fn options compose, validate, instantiate, and reject bad
values with a one-line error naming the field."""

from functools import lru_cache

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gvgap.config import ConfigError, check_combination, validate
from tests.conftest import compose as hydra_compose


@lru_cache(maxsize=None)
def _base(groups: tuple):
    return hydra_compose(list(groups))


def compose(overrides):
    """Hydra composition of the group choices (cached: composing is slow), then the
    dotted overrides applied as Hydra would (a leading + adds a key)."""
    groups = tuple(o for o in overrides if "." not in o.split("=")[0])
    cfg = _base(groups).copy()
    for o in overrides:
        key, value = o.split("=", 1)
        if "." in key:
            flow = value.startswith("{")  # {a:b} is Hydra's dict syntax; YAML wants "a: b"
            OmegaConf.update(cfg, key.lstrip("+"), _scalar(value.replace(":", ": ") if flow else value),
                             force_add=True)
    return cfg


def _scalar(text):
    import yaml

    return yaml.safe_load(text)


@pytest.mark.parametrize("overrides, cls", [
    (["verifier=cot_binary", "weight_fn=threshold", "weight_fn.tau=1"], "CoTBinaryVerifier"),
    (["verifier=cot_score", "weight_fn=threshold", "weight_fn.tau=8"], "CoTScoreVerifier"),
    (["verifier=tournament", "weight_fn=tournament", "weight_fn.round=2"], "TournamentVerifier"),
    (["verifier=ensemble", "weight_fn=threshold", "weight_fn.tau=1"], "EnsembleVerifier"),
    (["weight_fn=calibrated"], "MCVerifier"),
])
def test_options_validate_and_instantiate(overrides, cls):
    cfg = compose(overrides)
    validate(cfg)
    check_combination(cfg)
    v = instantiate(cfg.verifier, _convert_="all")
    assert type(v).__name__ == cls
    instantiate(cfg.weight_fn)


def test_instantiated_values():
    cfg = compose(["verifier=cot_score", "verifier.num_verifications=4"])
    v = instantiate(cfg.verifier, _convert_="all")
    assert (v.num_verifications, v.temperature, v.top_p, v.max_new_tokens) == (4, 0.7, 0.9, 128)
    assert "\n\n\n" in v.stop
    e = instantiate(compose(["verifier=ensemble"]).verifier, _convert_="all")
    assert [label for label, _, _ in e.members] == ["mc", "cot_binary"]
    cfg = compose(["weight_fn=calibrated"])
    cfg.weight_fn.base = {"_target_": "gvgap.weight_fn.threshold.Threshold", "tau": 0.5}
    validate(cfg)
    c = instantiate(cfg.weight_fn)
    assert c.base.tau == 0.5 and c.holdout == 0.2


@pytest.mark.parametrize("override, field", [
    ("verifier=cot_binary verifier.num_verifications=0", "verifier.num_verifications"),
    ("verifier=cot_binary verifier.top_p=0", "verifier.top_p"),
    ("verifier=cot_score verifier.max_new_tokens=0", "verifier.max_new_tokens"),
    ("verifier=cot_score verifier.temperature=-1", "verifier.temperature"),
    ("verifier=cot_score verifier.template=nothing", "verifier.template"),
    ("verifier=cot_binary +verifier.bogus=1", "verifier.bogus"),
    ("verifier=tournament verifier.rounds=0", "verifier.rounds"),
    ("verifier=tournament verifier.template=nothing", "verifier.template"),
    ("verifier=ensemble verifier.num_verifications=2", "verifier.num_verifications"),
    ("verifier=ensemble verifier.members=[]", "verifier.members"),
    ("verifier=ensemble verifier.members.0.weight_fn.q=2", "verifier.members[0].weight_fn"),
    ("verifier=ensemble +verifier.members.1.verifier.max_new_tokens=0", "verifier.members[1].verifier"),
    ("verifier=ensemble +verifier.members.1.verifier.model=x", "verifier.members[1].verifier.model"),
    ("weight_fn=calibrated +weight_fn.base={_target_:gvgap.weight_fn.exp.Exp,beta:0}", "weight_fn.base"),
    ("weight_fn=tournament weight_fn.round=-1", "weight_fn.round"),
    ("weight_fn=calibrated weight_fn.holdout=1", "weight_fn.holdout"),
    ("weight_fn=calibrated weight_fn.alphas=[]", "weight_fn.alphas"),
    ("weight_fn=calibrated weight_fn.nan_weight=-1", "weight_fn.nan_weight"),
])
def test_bad_value_names_field(override, field):
    cfg = compose(override.split())
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    assert field in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("override, message", [
    ("verifier=tournament verifier.rounds=3 generation.n_samples=4", "generation.n_samples >= 8"),
    ("verifier=tournament verifier.rounds=2 weight_fn=tournament weight_fn.round=3", "weight_fn.round=3"),
])
def test_cross_group_checks(override, message):
    cfg = compose(override.split())
    with pytest.raises(ConfigError, match=message):
        validate(cfg)  # before any model loads
    with pytest.raises(ConfigError, match=message):
        check_combination(cfg)
