"""Where a training process runs: its place in a `torchrun` launch (`ranks`), its share of the
machine's cores, its device with the kernel flags of deterministic training, and the process group;
set for one training run and put back after it (`run_setting`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch

from faceparse.errors import FaceparseConfigError
from faceparse.models import default_device
from faceparse.threads import available_cores, configure as configure_threads


@dataclass(frozen=True)
class Ranks:
    """This process's place in a `torchrun` launch: `launched` when torchrun started it (even alone)."""

    rank: int = 0
    world: int = 1
    local: int = 0
    local_world: int = 1    # processes on this machine
    launched: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def ranks() -> Ranks:
    """From the RANK, WORLD_SIZE and LOCAL_RANK that torchrun sets; one process without them."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Ranks()
    world = int(os.environ["WORLD_SIZE"])
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", 0)),
                 int(os.environ.get("LOCAL_WORLD_SIZE", world)), True)


def loader_workers(requested: int, r: Ranks) -> int:
    """`num_workers`, with -1 meaning the cores this process's share of the machine leaves after its
    own (at least 1, at most 8)."""
    if requested >= 0:
        return requested
    return max(1, min(8, available_cores() // r.local_world - 1))


def torch_threads(requested: int, r: Ranks) -> int | None:
    """torch's threads: `requested`, else FACEPARSE_THREADS, else every core, shared out over the
    processes torchrun started on this machine."""
    if requested or not r.launched or os.environ.get("FACEPARSE_THREADS", "").strip():
        return requested or None
    return max(1, available_cores() // r.local_world)


@contextmanager
def run_setting(threads: int, r: Ranks) -> Iterator[None]:
    """This process set for one training run: torch's threads (`torch_threads`) and, in a torchrun
    launch, the process group (joined here unless it already was); on leaving, these and the flags
    `training_device` sets are as they were."""
    saved_threads = torch.get_num_threads()
    flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    configure_threads(torch_threads(threads, r))
    started = False
    if r.launched and not torch.distributed.is_initialized():
        if torch.cuda.is_available():  # each rank on its own GPU before NCCL starts
            torch.cuda.set_device(r.local)
        # Rank 0 validates while the others wait at the next collective: give it time on a large val split.
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(hours=2))
        started = True
    try:
        yield
    finally:
        if started:
            torch.distributed.destroy_process_group()
        torch.set_num_threads(saved_threads)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags[:2]
        torch.use_deterministic_algorithms(flags[2], warn_only=flags[3])


def training_device(precision: str, deterministic: bool, r: Ranks) -> torch.device:
    """The device this process trains on (a rank's own GPU in a torchrun launch), checked for
    `precision`; on a GPU, cuDNN and cuBLAS set to deterministic kernels when `deterministic`."""
    device = default_device()
    if device.type == "cuda":
        if r.launched:
            device = torch.device("cuda", r.local)
            torch.cuda.set_device(device)
        if precision == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
            raise FaceparseConfigError(f"precision bf16: {torch.cuda.get_device_name(device)} has no bfloat16; "
                                       "use fp16 (loss-scaled) or fp32")
        if deterministic:  # ops without a deterministic CUDA kernel warn rather than fail
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
            torch.use_deterministic_algorithms(True, warn_only=True)
        else:
            torch.backends.cudnn.benchmark = True
    return device
