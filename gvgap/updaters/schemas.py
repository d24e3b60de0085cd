"""Config schemas of updaters (registered in Hydra's ConfigStore as updater/<name>_schema,
named in conf/updater/<name>.yaml's defaults). Torch-free: imported on
every validation, and by the updaters themselves for their defaults, so the two never drift."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from gvgap.schema import need as _need
from gvgap.schema import store


@dataclass
class LoraSettings:
    """Optional PEFT LoRA; the adapter is merged into the saved model, so the next round
    loads a plain folder."""

    enabled: bool = False
    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: Any = "all-linear"  # a module-name list, or "all-linear"

    def __post_init__(self):
        _need(self.r >= 1, f"updater.lora.r must be >= 1 (got {self.r})")
        _need(self.alpha > 0, f"updater.lora.alpha must be > 0 (got {self.alpha})")
        _need(0 <= self.dropout < 1, f"updater.lora.dropout must be in [0, 1) (got {self.dropout})")
        _need(isinstance(self.target_modules, str) or len(list(self.target_modules)) > 0,
              "updater.lora.target_modules must be 'all-linear' or a non-empty list of module names")


@dataclass
class TrainSettings:
    """Hyper-parameters shared by SFT and RPO. Defaults suit a CPU run of the embedded
    example; the paper's values (Table 8) are in conf/updater/*_paper.yaml."""

    learning_rate: float = 1e-5  # paper: 1e-6
    batch_size: int = 4  # per-device micro-batch; effective = batch_size * gradient_accumulation_steps
    gradient_accumulation_steps: int = 1  # paper: minibatch 64 (e.g. 8 x 8)
    max_steps: int = 30  # optimizer steps; paper: 2000
    max_length: int = 1024  # prompt + completion tokens; longer examples are dropped; paper: 2048
    lr_scheduler_type: str = "linear"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    add_eos: bool = True  # end every trained completion with EOS, so the model learns to stop
    device: str = "auto"  # auto (cuda if available) | cpu | cuda
    bf16: Optional[bool] = None  # bf16 mixed precision; null: on when the GPU supports it, off on CPU
    dtype: str = "float32"  # dtype of the weights while training
    save_dtype: str = "auto"  # dtype of the saved model; auto: the input model's dtype
    gradient_checkpointing: bool = False
    logging_steps: int = 10
    lora: LoraSettings = field(default_factory=LoraSettings)
    # where training runs (docs/updaters.md, "Multi-process training"): 1 process with ddp =
    # in the pipeline's process; otherwise `accelerate launch` with launchers/accelerate/<strategy>.yaml
    num_processes: int = 1  # processes (GPUs) over all machines; batch_size x accumulation is split over them
    num_machines: int = 1  # nodes; > 1 needs a SLURM allocation of that many nodes
    strategy: str = "ddp"  # ddp | fsdp | deepspeed_zero3 | deepspeed_zero3_offload
    main_process_port: Optional[int] = None  # null: a free port (one machine), 29500 (several)
    gpu_memory_gb: Optional[float] = None  # one GPU's memory; set (e.g. 80): fit check before loading; null: no check

    def __post_init__(self):
        if isinstance(self.lora, dict):  # built from a plain dict (hydra instantiate, tests)
            self.lora = LoraSettings(**self.lora)
        _need(math.isfinite(self.learning_rate) and self.learning_rate > 0,
              f"updater.learning_rate must be > 0 (got {self.learning_rate})")
        _need(self.batch_size >= 1, f"updater.batch_size must be >= 1 (got {self.batch_size})")
        _need(self.gradient_accumulation_steps >= 1,
              f"updater.gradient_accumulation_steps must be >= 1 (got {self.gradient_accumulation_steps})")
        _need(self.max_steps >= 1, f"updater.max_steps must be >= 1 (got {self.max_steps})")
        _need(self.max_length >= 2, f"updater.max_length must be >= 2 (got {self.max_length})")
        _need(self.warmup_steps >= 0, f"updater.warmup_steps must be >= 0 (got {self.warmup_steps})")
        _need(self.weight_decay >= 0, f"updater.weight_decay must be >= 0 (got {self.weight_decay})")
        _need(self.max_grad_norm > 0, f"updater.max_grad_norm must be > 0 (got {self.max_grad_norm})")
        _need(self.device in ("auto", "cpu", "cuda"), f"updater.device must be auto, cpu or cuda (got {self.device!r})")
        _need(self.dtype in ("float32", "bfloat16", "float16"),
              f"updater.dtype must be float32, bfloat16 or float16 (got {self.dtype!r})")
        _need(self.save_dtype in ("auto", "float32", "bfloat16", "float16"),
              f"updater.save_dtype must be auto, float32, bfloat16 or float16 (got {self.save_dtype!r})")
        _need(self.logging_steps >= 1, f"updater.logging_steps must be >= 1 (got {self.logging_steps})")
        _need(self.lr_scheduler_type in SCHEDULERS,
              f"updater.lr_scheduler_type must be one of {SCHEDULERS} (got {self.lr_scheduler_type!r})")
        self.check_processes()

    def check_processes(self) -> None:
        from gvgap.updaters.launch import STRATEGIES, split_batch

        _need(self.num_processes >= 1, f"updater.num_processes must be >= 1 (got {self.num_processes})")
        _need(self.num_machines >= 1, f"updater.num_machines must be >= 1 (got {self.num_machines})")
        _need(self.num_processes % self.num_machines == 0,
              f"updater.num_processes={self.num_processes} must be a multiple of updater.num_machines={self.num_machines}")
        _need(self.strategy in STRATEGIES, f"updater.strategy must be one of {STRATEGIES} (got {self.strategy!r})")
        _need(self.device != "cpu" or self.strategy == "ddp",
              f"updater.strategy={self.strategy} needs GPUs (accelerate enables FSDP/DeepSpeed only on GPU ranks); "
              "use updater.strategy=ddp with updater.device=cpu")
        _need(self.main_process_port is None or 1024 <= self.main_process_port <= 65535,
              f"updater.main_process_port must be in [1024, 65535] or null (got {self.main_process_port})")
        _need(self.gpu_memory_gb is None or (math.isfinite(self.gpu_memory_gb) and self.gpu_memory_gb > 0),
              f"updater.gpu_memory_gb must be > 0 (got {self.gpu_memory_gb})")
        try:
            split_batch(self.batch_size, self.gradient_accumulation_steps, self.num_processes)
        except ValueError as e:
            _need(False, str(e))


SCHEDULERS = ("linear", "constant", "constant_with_warmup", "cosine")


@store("updater", "sft_schema")
@dataclass
class SFTUpdaterConfig(TrainSettings):
    _target_: str = "gvgap.updaters.sft.SFTUpdater"
    # how a kept example's weight w > 0 sets its share of the training data:
    #   global: proportional to w (Algorithm 1 when w is 0/1: every kept sample counts once)
    #   prompt: proportional to w / (sum of w over its prompt): every prompt with a kept sample
    #           counts equally, i.e. the N-sample estimate of f_t[w](.|x) for each x
    example_weighting: str = "global"

    def __post_init__(self):
        super().__post_init__()
        _need(self.example_weighting in ("global", "prompt"),
              f"updater.example_weighting must be global or prompt (got {self.example_weighting!r})")


@store("updater", "rpo_schema")
@dataclass
class RPOUpdaterConfig(TrainSettings):
    _target_: str = "gvgap.updaters.rpo.RPOUpdater"
    beta: float = 0.05  # KL coefficient of the DPO term; paper: 0.05
    sft_weight: float = 1.0  # coefficient of the NLL term on the chosen answer; paper: 1
    max_pairs_per_prompt: int = 8  # (chosen, rejected) pairs drawn per prompt
    precompute_ref: bool = False  # compute reference log-probs once up front (saves a model copy in memory)

    def __post_init__(self):
        super().__post_init__()
        _need(math.isfinite(self.beta) and self.beta > 0, f"updater.beta must be > 0 (got {self.beta})")
        _need(math.isfinite(self.sft_weight) and self.sft_weight >= 0,
              f"updater.sft_weight must be >= 0 (got {self.sft_weight})")
        _need(self.add_eos, "updater.add_eos must be true for rpo (TRL's DPO always appends EOS)")
        _need(self.max_pairs_per_prompt >= 1,
              f"updater.max_pairs_per_prompt must be >= 1 (got {self.max_pairs_per_prompt})")
