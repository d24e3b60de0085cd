"""The command line that starts a multi-process update: `accelerate launch` with a config
file shipped in launchers/accelerate/, one process per GPU, on one node or (inside a SLURM
allocation) on every node through `srun`. Torch-free: tested on the argv alone.

Why accelerate launch: TRL's trainers are Accelerate programs, and accelerate reads the
strategy (DDP, FSDP, DeepSpeed ZeRO-3) from the config file. On a CPU-only machine a
MULTI_GPU/FSDP config without `--cpu` still starts one process per rank; the trainer's
`use_cpu=True` then makes them gloo ranks (`accelerate launch --cpu` starts only ONE process
in accelerate 1.15, so gvgap never passes `--cpu`).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

STRATEGIES = ("ddp", "fsdp", "deepspeed_zero3", "deepspeed_zero3_offload")
CONFIG_DIR = Path(__file__).resolve().parents[2] / "launchers" / "accelerate"
WORKER = "gvgap.updaters.worker"
DEFAULT_PORT = 29500


def config_file(strategy: str) -> Path:
    if strategy not in STRATEGIES:
        raise ValueError(f"updater.strategy must be one of {STRATEGIES} (got {strategy!r})")
    return CONFIG_DIR / f"{strategy}.yaml"


def in_process(num_processes: int, num_machines: int, strategy: str) -> bool:
    """One process and plain data parallelism: train inside the pipeline's process (no launch)."""
    return num_processes == 1 and num_machines == 1 and strategy == "ddp"


@dataclass
class Allocation:
    """Where the ranks run: machines, processes in all, rank-0 host and port, and whether the
    nodes are reached through srun (a multi-node SLURM allocation)."""

    num_machines: int
    num_processes: int
    main_ip: str
    main_port: int
    srun: bool


def slurm_hosts(env: dict) -> list[str]:
    """Hostnames of the job's nodes, in SLURM's order (`scontrol show hostnames` expands
    compressed lists such as gpu[01-04])."""
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        return []
    out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
    return out.stdout.split()


def gpus_on_node(env: dict) -> int | None:
    """GPUs SLURM gave this job per node (SLURM_GPUS_ON_NODE, else SLURM_GPUS_PER_NODE like 'a100:8')."""
    for key in ("SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE"):
        v = env.get(key)
        if v:
            tail = v.split(":")[-1].split("(")[0]
            if tail.isdigit():
                return int(tail)
    return None


def allocation(num_processes: int, num_machines: int, port: int | None, env=None, hosts=None) -> Allocation:
    """The allocation for the requested processes. Inside a SLURM job the nodes and GPUs come
    from its environment, and a request larger than the allocation is refused (naming the
    field); outside SLURM only one machine can be used."""
    env = os.environ if env is None else env
    # SLURM_JOB_NUM_NODES is the job's; SLURM_NNODES may be a step's (slurm_train.yaml sets it to 1)
    nodes_var = env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES")
    if env.get("SLURM_JOB_ID") and nodes_var:
        nodes = int(nodes_var)
        if num_machines > nodes:
            raise RuntimeError(f"updater.num_machines={num_machines} but the SLURM job has {nodes} node(s)")
        per_node = gpus_on_node(env)
        if per_node and num_processes > per_node * num_machines:
            raise RuntimeError(f"updater.num_processes={num_processes} but the SLURM job gives {per_node} GPU(s) "
                               f"on each of updater.num_machines={num_machines} node(s)")
        if num_machines > 1:
            hosts = slurm_hosts(env) if hosts is None else hosts
            return Allocation(num_machines, num_processes, hosts[0], port or DEFAULT_PORT, srun=True)
    elif num_machines > 1:
        raise RuntimeError(f"updater.num_machines={num_machines} needs a SLURM allocation of that many nodes "
                           "(outside SLURM, run one machine)")
    return Allocation(1, num_processes, "127.0.0.1", port or free_port(), srun=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(job_dir: str | Path, strategy: str, alloc: Allocation, python: str = sys.executable) -> list[str]:
    """argv that runs `python -m gvgap.updaters.worker job_dir` on every rank.

    One machine: accelerate launch with --machine_rank 0. Several (SLURM): srun starts one
    launcher per node, each taking its node's rank from $SLURM_NODEID (hence `bash -c`)."""
    launch = [python, "-m", "accelerate.commands.launch", "--config_file", str(config_file(strategy)),
              "--num_processes", str(alloc.num_processes), "--num_machines", str(alloc.num_machines),
              "--main_process_ip", alloc.main_ip, "--main_process_port", str(alloc.main_port)]
    tail = ["--module", WORKER, str(job_dir)]
    if not alloc.srun:
        return launch + ["--machine_rank", "0"] + tail
    inner = " ".join(shlex.quote(a) for a in launch) + ' --machine_rank "$SLURM_NODEID" ' + \
        " ".join(shlex.quote(a) for a in tail)
    return ["srun", f"--nodes={alloc.num_machines}", f"--ntasks={alloc.num_machines}", "--ntasks-per-node=1",
            "--overlap", "--kill-on-bad-exit=1", "bash", "-c", "exec " + inner]


def split_batch(batch_size: int, accumulation: int, world_size: int) -> tuple[int, int]:
    """(per-device micro-batch, per-device accumulation steps) that keep the effective
    minibatch batch_size x accumulation (examples per optimizer step, all processes together)
    when it is spread over world_size processes: the largest micro-batch <= batch_size that
    divides each process's share. E.g. 8 x 8 over 8 GPUs -> 8 x 1; 4 x 1 over 2 -> 2 x 1.
    Raises ValueError if world_size does not divide the effective minibatch."""
    total = batch_size * accumulation
    if total % world_size:
        raise ValueError(f"updater.batch_size x updater.gradient_accumulation_steps = {total} examples per step "
                         f"cannot be split over updater.num_processes={world_size}")
    share = total // world_size
    micro = max(b for b in range(1, min(batch_size, share) + 1) if share % b == 0)
    return micro, share // micro
