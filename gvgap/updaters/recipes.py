"""The training resources each model declares in conf/model/*.yaml (`train:` block), derived
from the memory estimate (memory.py) under the paper's update settings (Table 8: minibatch
64 as 8 x 8, sequences of 2048 tokens, bf16 autocast, AdamW; float32 weights for full
fine-tuning, bfloat16 frozen weights for LoRA r=16), for both SFT and RPO on 80 GB GPUs.

Rule: the fewest GPUs that fit, in this order: 1 GPU (no activation checkpointing, then
with it), then FSDP full shard over 2, 4, 8, 16, 32, 64 GPUs (8 per node); for each, the
largest per-GPU micro-batch of 8, 4, 2, 1 that fits (the minibatch stays 64 through gradient
accumulation: a small micro-batch costs time, not results). The logits (vocabularies of
150k-260k tokens) are what most often forces a smaller micro-batch. The GPUs for
generation are the smallest vLLM tensor-parallel size (1, 2, 4, 8) whose share of the bf16
weights leaves half of each GPU for the KV cache.

`python -m gvgap.updaters.recipes` prints the table of docs/cluster.md from conf/model/.
"""

from __future__ import annotations

from pathlib import Path

from gvgap.updaters.memory import USABLE, estimate

GPU_GB = 80.0
GPUS_PER_NODE = 8
MINIBATCH, SEQ = 64, 2048
MICRO = (8, 4, 2, 1)
CANDIDATES = [(1, "ddp", False), (1, "ddp", True)] + [(n, "fsdp", True) for n in (2, 4, 8, 16, 32, 64)]


def worst(params: float, hidden: int, layers: int, vocab: int, gpus: int, strategy: str, checkpointing: bool,
          lora: bool, batch_size: int = 8):
    """The larger of the SFT and RPO estimates (RPO: a reference copy unless LoRA, two sequences
    per pair) with updater.batch_size x gradient_accumulation_steps = 64 spread over `gpus`."""
    from gvgap.updaters.launch import split_batch

    micro, _ = split_batch(batch_size, MINIBATCH // batch_size, gpus)
    common = dict(gpus=gpus, strategy=strategy, hidden=hidden, layers=layers, vocab=vocab, seq=SEQ,
                  micro_batch=micro, checkpointing=checkpointing, bf16=True, weight_bytes=2 if lora else 4,
                  lora_r=16 if lora else None)
    sft = estimate(params, **common)
    rpo = estimate(params, **common, reference=not lora, sequences_per_example=2)
    return max(sft, rpo, key=lambda e: e.total)


def derive(params: float, hidden: int, layers: int, vocab: int, lora: bool = False, gpu_gb: float = GPU_GB) -> dict:
    for gpus, strategy, ckpt in CANDIDATES:
        for micro in MICRO:
            est = worst(params, hidden, layers, vocab, gpus, strategy, ckpt, lora, micro)
            if est.fits(gpu_gb):
                return {"gpus": gpus, "nodes": -(-gpus // GPUS_PER_NODE), "strategy": strategy,
                        "gradient_checkpointing": ckpt and strategy == "ddp", "batch_size": micro,
                        "gradient_accumulation_steps": MINIBATCH // micro, "estimate_gb": round(est.total, 1)}
    raise ValueError(f"no recipe up to {CANDIDATES[-1][0]} GPUs fits a {params:.3g}-parameter model")


def generation_gpus(params: float, gpu_gb: float = GPU_GB) -> int:
    return next(tp for tp in (1, 2, 4, 8) if 2 * params / tp <= 0.5 * gpu_gb * 1e9)


def table(model_dir: Path) -> str:
    import yaml

    rows = ["| model | params | vLLM TP (generation) | full FT: GPUs (nodes), strategy, micro-batch | GB/GPU | "
            "LoRA r=16: GPUs, strategy, micro-batch | GB/GPU |", "|---|---|---|---|---|---|---|"]
    for f in sorted(model_dir.glob("*.yaml")):
        m = yaml.safe_load(f.read_text())
        t = m.get("train") or {}
        if m.get("params") is None or "hidden_size" not in t:
            continue
        dims = (float(m["params"]), t["hidden_size"], t["num_layers"], t["vocab_size"])
        full, lo = derive(*dims), derive(*dims, lora=True)
        ck = " + ckpt" if full["gradient_checkpointing"] else ""
        lck = " + ckpt" if lo["gradient_checkpointing"] else ""
        rows.append(f"| {f.stem} | {dims[0] / 1e9:.2f}B | {generation_gpus(dims[0])} | {full['gpus']} "
                    f"({full['nodes']}), {full['strategy']}{ck}, {full['batch_size']} | {full['estimate_gb']} | "
                    f"{lo['gpus']}, {lo['strategy']}{lck}, {lo['batch_size']} | {lo['estimate_gb']} |")
    return "\n".join(rows) + f"\n\n(GPUs of {GPU_GB:g} GB, {USABLE:.0%} usable.)"


if __name__ == "__main__":
    print(table(Path(__file__).resolve().parents[2] / "conf" / "model"))
