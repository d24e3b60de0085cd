"""Overrides given to the analysis commands (`python -m gvgap.analyze RUN weight_fn=... `),
read with Hydra's own override grammar and group options composed by Hydra.

So `weight_fn.q=0.5,0.6`, `weight_fn.round=range(0,4)`, quoting and `+key=` mean what they
mean on `python -m gvgap`, and `weight_fn=<option>` / `verifier=<option>` bring the option
with its `defaults` list, exactly as a run would. Keys with a dot change the run's stored
config (config.yaml); an unknown key fails and names itself.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

CONF_DIR = Path(__file__).resolve().parent.parent.parent / "conf"
GROUPS = ("verifier", "weight_fn", "engine")  # groups a re-analysis may swap (never model or task)
VERIFIER_MODEL = "model@verifier.model"


def split(args: list[str]) -> tuple[dict, list]:
    """(command options such as out= and rounds=, Hydra overrides of the config).

    Bare keys that are not config groups are command options; the rest is parsed by
    Hydra's override parser (ValueError on a syntax error)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    options, rest = {}, []
    for arg in args:
        if "=" not in arg:
            raise ValueError(f"expected key=value, got {arg!r}")
        key, text = arg.split("=", 1)
        if "." in key or "@" in key or key.lstrip("+~") in GROUPS:
            rest.append(arg)
        else:
            options[key] = text
    parser, overrides = OverridesParser.create(), []
    for arg in rest:  # one at a time, so an error names its argument
        try:
            overrides += parser.parse_overrides([arg])
        except HydraException as e:
            raise ValueError(f"{arg}: {str(e).strip().splitlines()[0]}") from None
    return options, overrides


def _values(o) -> list:
    """Every value an override names: one, or each of a choice / range sweep."""
    from hydra.core.override_parser.types import Override

    if o.is_sweep_override():
        if not o.is_discrete_sweep():
            raise ValueError(f"{o.get_key_element()}: only lists and range() can be swept here")
        return [Override._convert_value(v) for v in o.sweep_iterator()]
    return [o.value()]


def compose_options(choices: dict[str, str]) -> DictConfig:
    """The config `python -m gvgap <group>=<option> ...` composes (defaults lists applied)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    import gvgap.cli  # noqa: F401  (registers the base schema Hydra composes against)

    gh = GlobalHydra.instance()
    saved = gh.hydra if gh.is_initialized() else None  # a caller's Hydra is put back afterwards
    gh.clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose("config", overrides=[f"{k}={v}" for k, v in choices.items()])
    except HydraException as e:
        first = str(e).strip().splitlines()[0]
        raise ValueError(f"{', '.join(f'{k}={v}' for k, v in choices.items())}: no such option ({first})") from None
    finally:
        gh.clear()
        if saved is not None:
            gh.initialize(saved)


def apply(cfg: DictConfig, overrides) -> list[tuple[dict, DictConfig]]:
    """Every config of the sweep the overrides describe, built on a run's stored config.

    Group choices (`weight_fn=threshold`, `verifier.model=<model option>`) are composed by
    Hydra; then each combination of the dotted values is set. Returns
    [(the swept values of this combination, config)]."""
    choices, dotted = {}, []
    for o in overrides:
        vals = _values(o)
        key = f"{o.key_or_group}@{o.package}" if o.package else o.key_or_group
        if key == "verifier.model" and len(vals) == 1 and isinstance(vals[0], str):
            key = VERIFIER_MODEL  # a model option by name, as in the experiments' grids
        if key in GROUPS or key == VERIFIER_MODEL:
            if len(vals) != 1:
                raise ValueError(f"{key}: one option per group here (run the command once per option)")
            choices[key] = vals[0]
        else:
            dotted.append((o, vals))
    base = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    if choices:
        composed = compose_options(choices)
        for key in sorted(choices, key=lambda k: k == VERIFIER_MODEL):  # the verifier, then its model
            path = "verifier.model" if key == VERIFIER_MODEL else key
            node = OmegaConf.select(composed, path)
            OmegaConf.update(base, path, OmegaConf.to_container(node, resolve=True) if node is not None else None,
                             merge=False, force_add=True)
    combos = []
    for values in itertools.product(*(vals for _, vals in dotted)):
        c = copy.deepcopy(base)
        OmegaConf.set_struct(c, True)  # an unknown key fails, as on the command line
        for (o, vals), v in zip(dotted, values):
            try:
                OmegaConf.update(c, o.key_or_group, v, merge=True, force_add=o.is_add())
            except OmegaConfBaseException as e:  # name the key, in one line
                raise ValueError(f"{o.key_or_group}: {str(e).splitlines()[0]}") from None
        OmegaConf.set_struct(c, False)
        combos.append(({o.key_or_group: v for (o, vals), v in zip(dotted, values) if len(vals) > 1}, c))
    return combos
