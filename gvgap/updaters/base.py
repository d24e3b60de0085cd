"""What SFT and RPO share: the update() contract, device choice, loading, LoRA, and
publishing the next model atomically.

update(model_path, records, out_dir, seed) -> out_dir writes a complete from_pretrained
folder (weights + tokenizer + gvgap_update.json, a record of what was trained) to a temp
folder and renames it into place: the pipeline takes `out_dir/config.json` as "stage
done", so a killed update leaves nothing half-written. The input folder is only read.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import shutil
import time
from pathlib import Path

import pandas as pd

from gvgap.updaters.common import Skip, save_model
from gvgap.updaters.launch import in_process, split_batch
from gvgap.updaters.schemas import TrainSettings

log = logging.getLogger("gvgap")
RECORD = "gvgap_update.json"


class Updater:
    name = "base"
    settings_cls = TrainSettings

    def __init__(self, **kwargs):
        self.cfg = self.settings_cls(**kwargs)  # validates ranges, fills defaults

    # -- the contract ----------------------------------------------------------------------
    def update(self, model_path: str, records: pd.DataFrame, out_dir: str, seed: int = 0) -> str:
        out = Path(out_dir)
        if Path(model_path).exists() and out.resolve() == Path(model_path).resolve():
            raise ValueError(f"updater: out_dir {out} is the input model folder; it must never be modified")
        c = self.cfg
        launched = not in_process(c.num_processes, c.num_machines, c.strategy)
        stats = {"updater": self.name, "source_model": str(model_path), "seed": int(seed),
                 "n_records": int(len(records)), "world_size": int(c.num_processes),
                 "num_machines": int(c.num_machines), "strategy": c.strategy if launched else "single_process",
                 "settings": dataclasses.asdict(self.cfg)}
        self.records = records  # a launched update hands them to its ranks
        t0 = time.time()

        def finish(tmp: Path) -> None:  # the record goes in before the rename
            stats["seconds"] = round(time.time() - t0, 3)
            _write_record(tmp, stats)

        try:
            stats.update(self.select(records, seed), skipped=False)
            publish(out, lambda tmp: (self.train(model_path, tmp, seed, stats), finish(tmp)))
        except Skip as why:
            log.warning("update skipped (%s): the next round uses the current model unchanged", why)
            stats.update(skipped=True, reason=str(why))
            publish(out, lambda tmp: (copy_model(model_path, tmp), finish(tmp)))
        finally:
            free_memory()
        log.info("update %s: %s", self.name, {k: v for k, v in stats.items() if k not in ("settings", "log_history")})
        return str(out)

    def select(self, records: pd.DataFrame, seed: int) -> dict:
        """Pick the training data from the records (raise Skip if there is none); return stats."""
        raise NotImplementedError

    def build_trainer(self, model_path: str, work_dir: Path, seed: int, stats: dict):
        """A ready TRL trainer on the selected data and its tokenizer (raise Skip if no example
        fits), recording data stats."""
        raise NotImplementedError

    def train(self, model_path: str, tmp: Path, seed: int, stats: dict) -> None:
        """Train from model_path; save the result (model + tokenizer) into tmp: here, or in
        launched processes (updater.num_processes > 1, num_machines > 1 or a sharded strategy)."""
        c = self.cfg
        if in_process(c.num_processes, c.num_machines, c.strategy):
            self.train_here(model_path, tmp, seed, stats)
        else:
            from gvgap.updaters import distributed

            distributed.launch(self, model_path, tmp, seed, stats)

    def train_here(self, model_path: str, tmp: Path, seed: int, stats: dict) -> None:
        """Train in this process (one rank of a launched update, or the only process)."""
        work = tmp.with_name(tmp.name + ".work")  # trainer scratch (no checkpoints are saved)
        try:
            trainer, tok = self.build_trainer(model_path, work, seed, stats)
            stats["distributed_type"] = str(trainer.accelerator.distributed_type).split(".")[-1]
            check_strategy_active(self.cfg.strategy, stats["distributed_type"])
            t0, c0 = time.time(), time.process_time()
            result = trainer.train()
            dt, cpu = time.time() - t0, time.process_time() - c0
            steps = max(1, int(trainer.state.global_step))
            # CPU seconds (all threads) tell the cost on a shared machine, where wall time does not
            stats.update(train_seconds=round(dt, 3), seconds_per_step=round(dt / steps, 4),
                         cpu_seconds_per_step=round(cpu / steps, 4), train_loss=float(result.training_loss))
            b, g = self.per_device_batch()
            stats.update(per_device_batch_size=b, per_device_accumulation_steps=g)
            if world_size() > 1 or self.cfg.strategy != "ddp":
                from gvgap.updaters import distributed

                distributed.save(self, trainer, tok, model_path, tmp, stats)
                self.record_history(trainer, stats)
            else:
                self.save(trainer, tok, model_path, tmp, stats)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # -- shared pieces for subclasses ------------------------------------------------------
    def runtime(self) -> dict:
        """Where and in what precision to train: (use_cpu, bf16) for the TRL config."""
        import torch

        cuda = torch.cuda.is_available()
        if self.cfg.device == "cuda" and not cuda:
            raise RuntimeError("updater.device=cuda but no CUDA device is visible")
        use_cpu = self.cfg.device == "cpu" or not cuda
        bf16 = self.cfg.bf16
        if bf16 is None:
            bf16 = (not use_cpu) and torch.cuda.is_bf16_supported()
        return {"use_cpu": use_cpu, "bf16": bool(bf16)}

    def per_device_batch(self) -> tuple[int, int]:
        """(micro-batch, accumulation steps) per process: batch_size x gradient_accumulation_steps
        is the effective minibatch over all processes (launch.split_batch)."""
        return split_batch(self.cfg.batch_size, self.cfg.gradient_accumulation_steps, world_size())

    def trainer_args(self, work_dir: Path, seed: int) -> dict:
        """TrainingArguments common to SFTConfig and DPOConfig."""
        c = self.cfg
        b, g = self.per_device_batch()
        return dict(
            output_dir=str(work_dir), max_steps=c.max_steps, per_device_train_batch_size=b,
            gradient_accumulation_steps=g, learning_rate=c.learning_rate,
            lr_scheduler_type=c.lr_scheduler_type, warmup_steps=c.warmup_steps, weight_decay=c.weight_decay,
            max_grad_norm=c.max_grad_norm, optim="adamw_torch", logging_steps=c.logging_steps,
            gradient_checkpointing=c.gradient_checkpointing, max_length=c.max_length,
            save_strategy="no", report_to="none", seed=seed, data_seed=seed, dataloader_num_workers=0,
            **self.runtime(),
        )

    def load_tokenizer(self, model_path: str):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_path)
        if tok.pad_token is None:  # same rule as the HF engine
            tok.pad_token = tok.eos_token
        return tok

    def load_model(self, model_path: str):
        import torch
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, self.cfg.dtype))

    def peft_config(self):
        lc = self.cfg.lora
        if not lc.enabled:
            return None
        from peft import LoraConfig

        targets = lc.target_modules if isinstance(lc.target_modules, str) else list(lc.target_modules)
        return LoraConfig(r=lc.r, lora_alpha=lc.alpha, lora_dropout=lc.dropout, target_modules=targets,
                          task_type="CAUSAL_LM")

    def save(self, trainer, tokenizer, model_path: str, tmp: Path, stats: dict) -> None:
        """Merge LoRA (if any), cast to save_dtype (auto: the input's), save model + tokenizer."""
        model = trainer.model
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        save_model(model, tokenizer, model_path, self.cfg.save_dtype, tmp)
        self.record_history(trainer, stats)

    @staticmethod
    def record_history(trainer, stats: dict) -> None:
        hist = [h for h in trainer.state.log_history if "loss" in h]
        stats.update(steps=int(trainer.state.global_step),
                     loss_first=hist[0]["loss"] if hist else None, loss_last=hist[-1]["loss"] if hist else None,
                     log_history=trainer.state.log_history)


def check_strategy_active(strategy: str, distributed_type: str) -> None:
    """A sharded strategy must really shard. Accelerate 1.15 switches to FSDP or DeepSpeed only
    on GPU ranks; CPU ranks become MULTI_CPU (plain data parallel) whatever the config file
    says, which would train a different, unsharded setup without a word."""
    want = {"fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED", "deepspeed_zero3_offload": "DEEPSPEED"}.get(strategy)
    if want and distributed_type != want:
        raise RuntimeError(f"updater.strategy={strategy} needs GPU ranks: accelerate ran them as {distributed_type} "
                           "(FSDP and DeepSpeed are only enabled on GPUs); use updater.strategy=ddp on CPU")


def world_size() -> int:
    """Processes training together (set by the launcher; 1 in the pipeline's own process)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def publish(out: Path, build) -> None:
    """Build a folder in a temp sibling, then rename it to `out` (atomic on one filesystem)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        build(tmp)
        if out.exists():  # leftover without config.json (not "done"): replace it
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_stale(out: Path) -> None:
    """Delete temp folders left by a killed update (their process is gone): a model each."""
    for p in out.parent.glob(f".{out.name}.tmp-*"):
        pid = p.name.rsplit(".tmp-", 1)[-1].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def copy_model(model_path: str, tmp: Path) -> None:
    """The unchanged model as a new folder (files copied, never linked: nothing written to the
    new folder later can reach the input)."""
    src = Path(model_path)
    if src.is_dir():
        for f in src.iterdir():
            if f.name == RECORD or f.name.endswith(".lock"):
                continue
            (shutil.copytree if f.is_dir() else shutil.copy2)(f, tmp / f.name)
    else:  # a hub id: load and save
        from transformers import AutoModelForCausalLM, AutoTokenizer

        AutoModelForCausalLM.from_pretrained(model_path).save_pretrained(str(tmp))
        AutoTokenizer.from_pretrained(model_path).save_pretrained(str(tmp))


def _write_record(out: Path, stats: dict) -> None:
    from gvgap import artifacts as A

    A.write_json(stats, out / RECORD)


def read_record(model_dir: str | Path) -> dict | None:
    p = Path(model_dir) / RECORD
    return json.loads(p.read_text()) if p.exists() else None


def free_memory() -> None:
    """Return training memory before the next round loads an inference engine."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
