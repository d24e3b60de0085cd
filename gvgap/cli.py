"""`python -m gvgap` / `gvgap`: the Hydra app. Validates the config before anything heavy
loads, runs the pipeline, and prints each round's metrics."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import gvgap.resolvers  # noqa: F401  (the ${gvgap.*} resolvers of the recipes)
from gvgap.config import Config, ConfigError, validate

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
ConfigStore.instance().store(name="base_config", node=Config)
log = logging.getLogger("gvgap")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def app(cfg: DictConfig) -> float | None:
    try:
        validate(cfg)
    except ConfigError as e:
        print(f"gvgap: config error: {e}", file=sys.stderr)
        sys.exit(2)
    from gvgap.pipeline import run, summary_line

    run_dir = cfg.run_dir or HydraConfig.get().runtime.output_dir
    rounds = run(cfg, run_dir)
    for m in rounds:
        print(f"[gvgap] round {m['round']}: {summary_line(m)}")
    print(f"[gvgap] artifacts: {run_dir}")
    return rounds[-1]["gap"] if rounds else None


def main() -> None:
    if not Path(CONF_DIR).is_dir():
        sys.exit(f"gvgap: config folder {CONF_DIR} not found; install with `pip install -e .` from a clone")
    app()


if __name__ == "__main__":
    main()
