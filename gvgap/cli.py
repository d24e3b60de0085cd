"""`python -m gvgap` / `gvgap`: the Hydra app. Validates the config before anything heavy
loads, runs the pipeline, and prints each round's metrics."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import gvgap.resolvers  # noqa: F401  (the config's resolvers: ${gvgap.*} of the recipes, ${gvgap_run_id:})
from gvgap import rundir_guard
from gvgap.config import ConfigError, register_schemas, validate

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
register_schemas()  # the options' defaults name these schemas: they must exist before Hydra composes
log = logging.getLogger("gvgap")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def app(cfg: DictConfig) -> float | None:
    try:
        validate(cfg)
    except ConfigError as e:
        print(f"gvgap: config error: {e}", file=sys.stderr)
        sys.exit(2)
    from gvgap.pipeline import run
    from gvgap.stage_process import StageFailed

    run_dir = cfg.run_dir or HydraConfig.get().runtime.output_dir
    try:
        rounds = run(cfg, run_dir)
    except (ConfigError, rundir_guard.RunFolderConflict) as e:
        print(f"gvgap: {e}", file=sys.stderr)
        sys.exit(2)
    except StageFailed as e:
        print(f"gvgap: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    print(f"[gvgap] artifacts: {run_dir}")  # each round's line was logged as it finished
    return rounds[-1]["gap"] if rounds else None


def main() -> None:
    if not Path(CONF_DIR).is_dir():
        sys.exit(f"gvgap: config folder {CONF_DIR} not found; install with `pip install -e .` from a clone")
    app()


if __name__ == "__main__":
    main()
