"""Where a job sits in a Hydra multirun, for the tracker: the sweep it belongs to and the
values it takes of what the sweep varies.

  group     the sweep folder (holding Hydra's multirun.yaml), relative to the launch folder
  tags      "key=value" for every key the sweep varies (a recipe's hydra.sweeper.params and
            command-line sweeps such as `verifier=mc,oracle`), e.g. "model=gemma3_270m"
  job_type  the varied values other than the model's ("verifier=mc"), so runs of one job
            type compare a model family; when only the model varies, the verifier option

Outside a multirun (or without Hydra) every field is None / empty.
"""

from __future__ import annotations

from pathlib import Path

# W&B's limits on these fields (characters)
GROUP_MAX, TAG_MAX, JOB_TYPE_MAX = 128, 64, 64


def _parse(overrides) -> dict:
    """{key: override} for Hydra override strings; unparseable ones are left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    out = {}
    for text in overrides or []:
        try:
            o = parser.parse_override(str(text))
        except HydraException:
            continue
        out[o.get_key_element()] = o
    return out


def varied_keys(sweep_overrides, sweeper_params) -> list[str]:
    """Keys a sweep varies: hydra.sweeper.params entries and command-line overrides with
    several values (read in Hydra's order, params first: the command line wins a key)."""
    texts = [f"{k}={v}" for k, v in (sweeper_params or {}).items()] + list(sweep_overrides or [])
    return [k for k, o in _parse(texts).items() if o.is_sweep_override()]


def _params(hydra_cfg) -> dict:
    """hydra.sweeper.params as a plain dict ({} when absent)."""
    from omegaconf import DictConfig, OmegaConf

    params = (hydra_cfg.get("sweeper") or {}).get("params")
    return OmegaConf.to_container(params, resolve=False) if isinstance(params, DictConfig) else dict(params or {})


def find_sweep_dir(job_dir) -> Path | None:
    """The folder above a job's output folder that holds multirun.yaml (None if none)."""
    for parent in list(Path(job_dir).resolve().parents)[:4]:
        if (parent / "multirun.yaml").exists():
            return parent
    return None


def identity(hydra_cfg) -> dict:
    """{"group", "job_type", "tags"} of the job whose Hydra config (the `hydra` node, as
    HydraConfig.get() gives it) this is; None / [] outside a multirun."""
    from omegaconf import OmegaConf

    none = {"group": None, "job_type": None, "tags": []}
    if hydra_cfg is None or str(hydra_cfg.get("mode")) not in ("RunMode.MULTIRUN", "MULTIRUN"):
        return none
    sweep_dir = find_sweep_dir(hydra_cfg.runtime.output_dir)
    sweep_overrides, params = [], _params(hydra_cfg)
    if sweep_dir is not None:
        master = OmegaConf.load(sweep_dir / "multirun.yaml").hydra
        sweep_overrides = list(master.overrides.task)
        params = {**params, **_params(master)}
    keys = varied_keys(sweep_overrides, params)
    job = _parse(hydra_cfg.overrides.task)
    values = {k: job[k].get_value_element_as_str() for k in keys if k in job}
    tags = [f"{k}={v}"[:TAG_MAX] for k, v in values.items()]
    rest = [f"{k}={v}" for k, v in values.items() if k != "model"]
    job_type = ",".join(rest) if rest else hydra_cfg.runtime.choices.get("verifier")
    group = None
    if sweep_dir is not None:
        try:
            group = str(sweep_dir.relative_to(Path(hydra_cfg.runtime.cwd).resolve()))
        except ValueError:
            group = str(sweep_dir)
    return {"group": group[-GROUP_MAX:] if group else None,
            "job_type": job_type[:JOB_TYPE_MAX] if job_type else None, "tags": tags}


def current() -> dict:
    """identity() of the running Hydra job (HydraConfig), or of no sweep."""
    try:
        from hydra.core.hydra_config import HydraConfig
    except ImportError:
        return identity(None)
    return identity(HydraConfig.get() if HydraConfig.initialized() else None)
