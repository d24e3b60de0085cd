"""The command line of a launched update (accelerate launch, srun across SLURM nodes), the
shipped accelerate config files, the batch split, and the config checks of the new fields."""

from __future__ import annotations

import pytest

from gvgap.config import ConfigError, validate
from gvgap.updaters import launch as L
from tests.conftest import compose


def parse(argv):
    """accelerate's own parser on the arguments after `python -m accelerate.commands.launch`."""
    from accelerate.commands.launch import launch_command_parser

    assert argv[1:3] == ["-m", "accelerate.commands.launch"]
    return launch_command_parser().parse_args(argv[3:])


def test_single_node_command_parses_with_accelerate():
    alloc = L.allocation(4, 1, None, env={})
    argv = L.command("/runs/r/round_00/.model.tmp-1.job", "fsdp", alloc, python="py")
    a = parse(argv)
    assert (a.num_processes, a.num_machines, a.machine_rank, a.main_process_ip) == (4, 1, 0, "127.0.0.1")
    assert a.module and a.training_script == "gvgap.updaters.worker"
    assert a.training_script_args == ["/runs/r/round_00/.model.tmp-1.job"]
    assert a.config_file.endswith("launchers/accelerate/fsdp.yaml") and not a.cpu
    assert 1024 <= a.main_process_port <= 65535


def test_multi_node_under_slurm_uses_srun_and_the_allocation():
    env = {"SLURM_JOB_ID": "7", "SLURM_NNODES": "4", "SLURM_GPUS_ON_NODE": "8", "SLURM_JOB_NODELIST": "gpu[01-04]"}
    alloc = L.allocation(32, 4, None, env=env, hosts=["gpu01", "gpu02", "gpu03", "gpu04"])
    assert (alloc.main_ip, alloc.main_port, alloc.srun) == ("gpu01", L.DEFAULT_PORT, True)
    argv = L.command("/shared/job", "deepspeed_zero3_offload", alloc, python="/venv/bin/python")
    assert argv[:6] == ["srun", "--nodes=4", "--ntasks=4", "--ntasks-per-node=1", "--overlap", "--kill-on-bad-exit=1"]
    assert argv[6:8] == ["bash", "-c"] and argv[8].startswith("exec /venv/bin/python -m accelerate.commands.launch")
    # each node's launcher takes its rank from SLURM; with a rank filled in, accelerate parses it
    inner = argv[8].replace('"$SLURM_NODEID"', "2").split()[1:]
    a = parse(inner)
    assert (a.num_processes, a.num_machines, a.machine_rank, a.main_process_ip, a.main_process_port) == \
        (32, 4, 2, "gpu01", 29500)
    assert a.config_file.endswith("deepspeed_zero3_offload.yaml")


@pytest.mark.parametrize("n, machines, env, field", [
    (16, 4, {"SLURM_JOB_ID": "1", "SLURM_NNODES": "2"}, "updater.num_machines"),
    (32, 2, {"SLURM_JOB_ID": "1", "SLURM_NNODES": "2", "SLURM_GPUS_PER_NODE": "a100:8"}, "updater.num_processes"),
    (16, 2, {}, "updater.num_machines"),  # several machines need SLURM
])
def test_request_larger_than_allocation_is_refused(n, machines, env, field):
    with pytest.raises(RuntimeError, match=field):
        L.allocation(n, machines, None, env=env, hosts=["a", "b"])


def test_gpus_on_node_formats():
    assert L.gpus_on_node({"SLURM_GPUS_ON_NODE": "8"}) == 8
    assert L.gpus_on_node({"SLURM_GPUS_PER_NODE": "a100:4"}) == 4
    assert L.gpus_on_node({}) is None


def test_config_files_are_what_accelerate_reads():
    from accelerate.commands.config.config_args import load_config_from_file

    ddp = load_config_from_file(str(L.config_file("ddp")))
    assert str(ddp.distributed_type).endswith("MULTI_GPU") and ddp.mixed_precision == "bf16"
    fsdp = load_config_from_file(str(L.config_file("fsdp")))
    assert str(fsdp.distributed_type).endswith("FSDP")
    f = fsdp.fsdp_config
    assert (f["fsdp_version"], f["fsdp_reshard_after_forward"], f["fsdp_activation_checkpointing"],
            f["fsdp_state_dict_type"]) == (2, True, True, "FULL_STATE_DICT")
    for name, device in (("deepspeed_zero3", "none"), ("deepspeed_zero3_offload", "cpu")):
        ds = load_config_from_file(str(L.config_file(name)))
        d = ds.deepspeed_config
        assert str(ds.distributed_type).endswith("DEEPSPEED") and d["zero_stage"] == 3
        assert (d["offload_optimizer_device"], d["offload_param_device"]) == (device, device)
        assert d["zero3_save_16bit_model"] is True  # rank 0 can save whole weights


def test_deepspeed_argv_reaches_deepspeed_launcher_settings():
    """The ZeRO-3 argv, parsed and completed by accelerate as `accelerate launch` would, asks
    for DeepSpeed stage 3 with CPU offload (DeepSpeed itself is not installed here: no GPU)."""
    from accelerate.commands.launch import _validate_launch_command

    argv = L.command("/job", "deepspeed_zero3_offload", L.allocation(8, 1, 29555, env={}), python="py")
    args, defaults, _ = _validate_launch_command(parse(argv))
    assert args.use_deepspeed and args.zero_stage == 3 and args.num_processes == 8
    assert (args.offload_optimizer_device, args.offload_param_device) == ("cpu", "cpu")
    assert args.main_process_port == 29555


@pytest.mark.parametrize("b, g, n, want", [
    (8, 8, 1, (8, 8)), (8, 8, 8, (8, 1)), (8, 8, 16, (4, 1)), (8, 8, 32, (2, 1)), (4, 1, 2, (2, 1)),
    (4, 16, 4, (4, 4)), (2, 32, 16, (2, 2)), (8, 8, 64, (1, 1)),
])
def test_split_batch_keeps_the_effective_minibatch(b, g, n, want):
    micro, acc = L.split_batch(b, g, n)
    assert (micro, acc) == want and micro * acc * n == b * g


def test_split_batch_refuses_an_uneven_split():
    with pytest.raises(ValueError, match="updater.num_processes=3"):
        L.split_batch(8, 8, 3)


@pytest.mark.parametrize("override, field", [
    ("updater.num_processes=0", "updater.num_processes"),
    ("updater.num_machines=0", "updater.num_machines"),
    ("updater.num_processes=3 updater.num_machines=2", "updater.num_machines"),
    ("updater.strategy=zero2", "updater.strategy"),
    ("updater.strategy=fsdp updater.device=cpu", "updater.strategy"),
    ("updater.num_processes=3", "updater.num_processes"),  # 4 x 1 examples cannot split over 3
    ("updater.main_process_port=80", "updater.main_process_port"),
    ("updater.gpu_memory_gb=0", "updater.gpu_memory_gb"),
])
def test_bad_process_settings_name_the_field(override, field):
    with pytest.raises(ConfigError) as e:
        validate(compose(override.split()))
    assert field in str(e.value) and "\n" not in str(e.value)


def test_sharded_strategy_that_did_not_shard_is_an_error():
    from gvgap.updaters.base import check_strategy_active

    check_strategy_active("fsdp", "FSDP")
    check_strategy_active("ddp", "MULTI_CPU")
    with pytest.raises(RuntimeError, match="updater.strategy=fsdp"):
        check_strategy_active("fsdp", "MULTI_CPU")  # what accelerate 1.15 does with FSDP on CPU ranks
