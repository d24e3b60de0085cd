"""Memory per GPU of one update, estimated from the config before any model loads, so a
run that cannot fit its declared GPUs is refused in a second instead of failing with an
out-of-memory error hours into a job. Torch-free, plain arithmetic; units are GB = 1e9 bytes.

The model (mixed-precision training as the updaters run it: float32 weights, bf16 autocast,
AdamW):
- weights:    P x weight bytes (4 for dtype float32); LoRA: frozen base + adapters.
- gradients:  4 bytes per trained parameter.
- optimizer:  8 bytes per trained parameter (AdamW's two float32 moments).
  So full fine-tuning costs 16 bytes/parameter: 7B -> 112 GB on one GPU.
- sharding:   ddp replicates all three; fsdp and deepspeed_zero3 divide them by the number of
  processes; deepspeed_zero3_offload keeps them in host RAM (GPU share ~0).
- RPO's reference model (unless LoRA or precompute_ref): one more copy of the weights
  (sharded like them), and every pair runs two sequences (chosen + rejected).
- activations per sequence of s tokens, hidden h, L layers (Korthikanti et al. 2022,
  "Reducing Activation Recomputation", eq. 2 without the attention-score term, which
  SDPA/flash attention does not store): 34·s·h bytes per layer in 16-bit, doubled in float32;
  with activation checkpointing only each layer's input (2·s·h bytes) is kept plus one layer
  being recomputed. The logits add 8·s·V bytes (float32 logits and their gradient).
- usable memory: 90% of the GPU (CUDA context, communication buffers, fragmentation).
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1e9
USABLE = 0.9
SHARDED = ("fsdp", "deepspeed_zero3", "deepspeed_zero3_offload")


@dataclass
class Estimate:
    weights: float  # GB per GPU
    gradients: float
    optimizer: float
    activations: float
    gpus: int
    strategy: str

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations

    def fits(self, gpu_memory_gb: float) -> bool:
        return self.total <= USABLE * gpu_memory_gb

    def line(self) -> str:
        return (f"{self.total:.1f} GB per GPU on {self.gpus} GPU(s) with {self.strategy} (weights {self.weights:.1f}, "
                f"gradients {self.gradients:.1f}, optimizer {self.optimizer:.1f}, activations {self.activations:.1f})")


def lora_params(r: int, hidden: int, layers: int) -> float:
    """Adapter parameters for all-linear LoRA of rank r: per layer ~ r x (sum of in + out
    features over q, k, v, o and the 3 MLP projections) ~ r x 20h (MLP width ~ 3h)."""
    return 20.0 * r * hidden * layers


def activations_gb(seq: int, micro_batch: int, hidden: int, layers: int, vocab: int, checkpointing: bool,
                   bf16: bool) -> float:
    tokens = seq * micro_batch
    per_layer = 34.0 * tokens * hidden * (1 if bf16 else 2)
    kept = layers * 2.0 * tokens * hidden * (1 if bf16 else 2) + per_layer if checkpointing else layers * per_layer
    return (kept + 8.0 * tokens * vocab) / GB


def estimate(params: float, *, gpus: int, strategy: str, hidden: int, layers: int, vocab: int, seq: int,
             micro_batch: int, checkpointing: bool, bf16: bool = True, weight_bytes: int = 4,
             lora_r: int | None = None, reference: bool = False, sequences_per_example: int = 1) -> Estimate:
    """Memory per GPU for training a `params`-parameter model on `gpus` processes."""
    trained = lora_params(lora_r, hidden, layers) if lora_r else params
    base = params * weight_bytes * (2 if reference else 1)
    states = {"weights": base + (trained * weight_bytes if lora_r else 0), "gradients": 4.0 * trained,
              "optimizer": 8.0 * trained}
    share = 0.0 if strategy == "deepspeed_zero3_offload" else (1.0 / gpus if strategy in SHARDED else 1.0)
    act = activations_gb(seq, micro_batch * sequences_per_example, hidden, layers, vocab, checkpointing, bf16)
    return Estimate(weights=states["weights"] * share / GB, gradients=states["gradients"] * share / GB,
                    optimizer=states["optimizer"] * share / GB, activations=act, gpus=gpus, strategy=strategy)


def for_config(cfg) -> Estimate | None:
    """The estimate for a composed config (model.params, model.train sizes, updater fields),
    or None when it does not apply: no update, CPU training, no GPU declared
    (updater.gpu_memory_gb null) or a model without size information. CPU training is
    updater.device=cpu, or auto on a machine that shows no GPU."""
    from gvgap.devices import trains_on_gpu
    from gvgap.updaters.launch import split_batch

    u, m = cfg.updater, cfg.model
    if cfg.iterations == 0 or "batch_size" not in u or u.get("gpu_memory_gb") is None or not trains_on_gpu(u.device):
        return None
    t = m.get("train")
    if m.get("params") is None or t is None:
        return None
    rpo = str(u._target_).endswith("RPOUpdater")
    lora = bool(u.lora.enabled)
    micro, _ = split_batch(u.batch_size, u.gradient_accumulation_steps, u.num_processes)
    return estimate(float(m.params), gpus=int(u.num_processes), strategy=u.strategy, hidden=int(t.hidden_size),
                    layers=int(t.num_layers), vocab=int(t.vocab_size), seq=int(u.max_length), micro_batch=micro,
                    checkpointing=bool(u.gradient_checkpointing) or u.strategy == "fsdp", bf16=u.bf16 is not False,
                    weight_bytes={"float32": 4, "bfloat16": 2, "float16": 2}[u.dtype],
                    lora_r=int(u.lora.r) if lora else None, reference=rpo and not lora and not u.precompute_ref,
                    sequences_per_example=2 if rpo else 1)


def check_fit(cfg) -> None:
    """Print the estimate; raise ConfigError (one line naming the fields) if it cannot fit."""
    import sys

    from gvgap.schema import ConfigError

    est = for_config(cfg)
    if est is None:
        return
    print(f"gvgap: update memory estimate: {est.line()}", file=sys.stderr)
    gpu = float(cfg.updater.gpu_memory_gb)
    if not est.fits(gpu):
        u = cfg.updater
        fixes = ["raise updater.num_processes/num_machines (model.train.gpus/nodes)"]
        if u.strategy == "ddp":
            fixes.append("a sharded updater.strategy (fsdp, deepspeed_zero3, deepspeed_zero3_offload)")
        elif u.strategy != "deepspeed_zero3_offload":
            fixes.append("updater.strategy=deepspeed_zero3_offload")
        if not u.gradient_checkpointing and u.strategy != "fsdp":
            fixes.append("updater.gradient_checkpointing=true")
        if u.batch_size > 1:
            fixes.append("a smaller updater.batch_size with more gradient_accumulation_steps")
        if not u.lora.enabled:
            fixes.append("updater.lora.enabled=true")
        raise ConfigError(f"updater: {est.line()} exceeds {USABLE:.0%} of updater.gpu_memory_gb={gpu:g}; "
                          + ", ".join(fixes[:-1]) + (" or " if len(fixes) > 1 else "") + fixes[-1])
