"""Run a stage (generate, verify, update) in a fresh child interpreter.

vLLM does not give GPU memory back inside a process, and a CUDA context lives until the
process ends; so on GPUs each model-loading stage runs in its own process and the parent
(which only measures) never imports vLLM or initialises CUDA. The child is
`python -m gvgap.stage_child STAGE ROUND MODEL_PATH RUN_DIR ERROR_FILE`: it reads the
resolved config from RUN_DIR/config.yaml and calls the same stage function the in-process
run calls, so results are identical. `train_generate` / `train_verify` are the generate
and verify stages on the train prompts (task.train_split), in round_NN/train/. A stage that fails in the child fails the run with
StageFailed (one line: stage, round, exit code, the child's error); its output and key
file are then absent, so the next invocation resumes at that stage.

`stage_processes`: always | never | auto (on for engine=vllm, and for training on a GPU:
iterations > 0 with updater.device=cuda, or updater.device=auto and a GPU visible).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from gvgap.devices import trains_on_gpu

log = logging.getLogger("gvgap")
STAGES = ("generate", "verify", "update", "train_generate", "train_verify")  # train_*: round_NN/train/


class StageFailed(RuntimeError):
    """A stage's child process ended with a non-zero exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def use_children(cfg) -> bool:
    mode = cfg.get("stage_processes", "auto")
    if mode in ("always", "never"):
        return mode == "always"
    if str(cfg.engine.get("_target_", "")).endswith("VLLMEngine"):
        return True
    if cfg.iterations > 0 and cfg.updater.get("device") is not None:
        device = str(cfg.updater.device)
        return trains_on_gpu(device)
    return False


def _child_env() -> dict:
    """The parent's environment, with this gvgap first on the path (a source checkout runs too)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def run_child(stage: str, t: int, model_path: str, run_dir: Path) -> None:
    """Run one stage in a child interpreter; raise StageFailed if it does not exit 0."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
    err = Path(run_dir) / f".{stage}_round_{t:02d}.error"
    err.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "gvgap.stage_child", stage, str(t), str(model_path), str(run_dir), str(err)]
    log.info("round %d: %s in a child process", t, stage)
    code = subprocess.run(cmd, env=_child_env()).returncode
    if code == 0:
        return
    why = err.read_text().strip() if err.exists() else ""
    err.unlink(missing_ok=True)
    if code < 0:
        sig = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        why = why or f"killed by signal {sig}"
        exit_code = 128 - code  # the shell's convention for a signal
    else:
        why, exit_code = why or "no error message (see the output above)", code
    raise StageFailed(f"{stage} stage of round {t} failed in its child process (exit code {code}): {why}; "
                      f"rerun the same command to resume", exit_code)
