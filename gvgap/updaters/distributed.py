"""A multi-process update, both sides of it.

Parent (the pipeline's process): `launch` writes the records (parquet) and the job to a
folder beside the temp output, runs `accelerate launch ... -m gvgap.updaters.worker` (argv
from launch.command), waits, and reads rank 0's result. The ranks' output goes to
`update.log` beside the model folder. A failed launch raises with its exit code and the
tail of that log; the temp output is then removed by publish(), so the update
stays atomic and the next invocation retries it.

Ranks: `save` gathers the trained weights with the trainer (collective: FSDP's full state
dict, ZeRO-3's 16-bit weights) into a scratch folder; rank 0 then reloads them on CPU,
merges a LoRA adapter if any, casts to save_dtype and writes the model folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

from gvgap.updaters import launch as L

log = logging.getLogger("gvgap")


def launch(updater, model_path: str, tmp: Path, seed: int, stats: dict) -> None:
    from gvgap import artifacts as A
    from gvgap.updaters.common import Skip

    c = updater.cfg
    job = tmp.with_name(tmp.name + ".job")
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir()
    try:
        A.write_parquet(updater.records, job / "records.parquet")
        cls = type(updater)
        A.write_json({"target": f"{cls.__module__}.{cls.__name__}", "settings": dataclasses.asdict(c),
                      "model_path": str(model_path), "seed": int(seed), "out": str(tmp)}, job / "job.json")
        alloc = L.allocation(c.num_processes, c.num_machines, c.main_process_port)
        argv = L.command(job, c.strategy, alloc)
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, c.num_processes))))
        log.info("update: %d process(es) on %d machine(s), strategy %s: %s", alloc.num_processes,
                 alloc.num_machines, c.strategy, " ".join(argv))
        logfile = tmp.parent / "update.log"  # every rank's output, kept beside the round's model
        with open(logfile, "w") as fh:
            code = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode
        if code != 0:
            tail = logfile.read_text(errors="replace").splitlines()[-25:]
            raise RuntimeError(f"update: the launched training failed (exit code {code}); last lines of its log:\n"
                               + "\n".join(tail))
        result = json.loads((job / "result.json").read_text())
    finally:
        shutil.rmtree(job, ignore_errors=True)
    if "skip" in result:
        raise Skip(result["skip"])
    stats.update(result["stats"])


def save(updater, trainer, tokenizer, model_path: str, tmp: Path, stats: dict) -> None:
    """Called on every rank after training; only rank 0 writes into tmp."""
    import torch
    from transformers import AutoModelForCausalLM

    from gvgap.updaters.common import save_model

    acc = trainer.accelerator
    gathered = Path(trainer.args.output_dir) / "gathered"
    trainer.save_model(str(gathered))  # collective; writes on the main process only
    acc.wait_for_everyone()
    if acc.is_main_process:
        lora = updater.cfg.lora.enabled
        model = AutoModelForCausalLM.from_pretrained(model_path if lora else str(gathered), dtype=torch.float32)
        if lora:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(gathered)).merge_and_unload()
        save_model(model, tokenizer, model_path, updater.cfg.save_dtype, tmp)
    acc.wait_for_everyone()
