"""What every group's schema uses: the one-line ConfigError, `need` for range rules, the
`store` decorator that registers a schema in Hydra's ConfigStore, and `check`, which runs
a schema's `__post_init__` on a config node.

A schema is a dataclass beside the code it configures (gvgap/verifiers/mc.py holds
MCVerifierConfig). `@store("verifier", "mc_schema")` puts it in the ConfigStore as
`verifier/mc_schema`, and conf/verifier/mc.yaml names it first in its `defaults`, so Hydra
type-checks the option when it composes (a misspelt key or a word where a number belongs
fails there). Ranges are checked later, by gvgap.config.validate, before any model loads.

This module imports only hydra and omegaconf: every schema module imports it, and
validation runs before torch is imported.
"""

from __future__ import annotations

import dataclasses

from hydra.core.config_store import ConfigNode, ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A config value is wrong; the message (one line) names the field."""


def need(ok: bool, message: str) -> None:
    """Raise ConfigError(message) unless ok: one range rule of a schema's __post_init__."""
    if not ok:
        raise ConfigError(message)


def store(group: str, name: str):
    """Class decorator: register the schema in Hydra's ConfigStore as `<group>/<name>`."""

    def register(cls: type) -> type:
        ConfigStore.instance().store(group=group, name=name, node=cls)
        return cls

    return register


def schemas(group: str) -> dict[str, type]:
    """The schemas registered for a group, by the `_target_` they build ({} if none)."""
    found = {}
    for node in ConfigStore.instance().repo.get(group, {}).values():
        if isinstance(node, ConfigNode) and "_target_" in node.node:
            found[node.node["_target_"]] = OmegaConf.get_type(node.node)
    return found


def schema_of(group: str, target: str | None) -> type | None:
    """The schema registered for the option of `group` that builds `target` (None: none)."""
    return schemas(group).get(target)


def check(schema: type, node, where: str) -> None:
    """Fill `node` into `schema` and run its __post_init__; raise ConfigError naming the field.

    `node` is a DictConfig or a dict; `where` is its place in the config ("weight_fn",
    "verifier.members[0].weight_fn") and prefixes type errors, which name only the key.
    """
    assert dataclasses.is_dataclass(schema), schema
    try:
        if not isinstance(node, dict):
            node = OmegaConf.to_container(node, resolve=True)  # ${...} resolved against the whole config
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
        OmegaConf.to_object(merged)  # builds the dataclass: runs __post_init__
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or ""
        msg = str(e).splitlines()[0]
        raise ConfigError(f"{where}.{key}: {msg}" if key else f"{where}: {msg}") from None
    except ConfigError as e:  # from a __post_init__: its message names the field already
        raise ConfigError(str(e)) from None


def check_part(group: str, node, where: str) -> None:
    """Check a part nested in another (an ensemble member's verifier, a calibrated base);
    errors say where it sits. A part whose `_target_` has no registered schema only needs
    the `_target_`."""
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    if not isinstance(node, dict):
        return  # a part built already (hydra instantiates nested parts first): its constructor checked it
    need("_target_" in node, f"{where}._target_ is missing")
    schema = schema_of(group, node["_target_"])
    if schema is None:
        return
    try:
        check(schema, node, where)
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None
