"""The child side of gvgap.stage_process: `python -m gvgap.stage_child STAGE ROUND
MODEL_PATH RUN_DIR ERROR_FILE` runs one stage of one round from RUN_DIR/config.yaml and
exits (STAGE: one of gvgap.stage_process.STAGES, train_* for the train prompts), freeing every byte it held. A failure's first line goes to ERROR_FILE for the
parent. Its own module, so that the pipeline (which starts children) and the child entry
(which calls the pipeline) do not import each other.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Child entry: run one stage of one round, then exit (freeing every byte it held)."""
    stage, t, model_path, run_dir, err = argv
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    try:
        from omegaconf import OmegaConf

        from gvgap.pipeline import run_stage

        cfg = OmegaConf.load(Path(run_dir) / "config.yaml")
        run_stage(stage, cfg, int(t), model_path, Path(run_dir))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, then re-raised
        line = (str(e).strip().splitlines() or [""])[0]
        Path(err).write_text(f"{type(e).__name__}: {line}\n" if line else f"{type(e).__name__}\n")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
