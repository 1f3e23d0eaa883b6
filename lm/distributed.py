"""Process-group setup for `torchrun`: gloo on CPU, NCCL on CUDA, a plain single process otherwise."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False  # this process created the process group, so it tears it down

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and reports progress."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(preference: str) -> torch.device:
    """'auto' picks CUDA when present; 'cpu', 'cuda', 'cuda:1', 'mps' are taken as given."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} requested but CUDA is not available")
    return device


def setup(device_preference: str = "auto") -> DistContext:
    """Join the process group `torchrun` describes in RANK / WORLD_SIZE / LOCAL_RANK, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    device = resolve_device(device_preference)
    if world_size == 1:
        return DistContext(0, 1, 0, device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    logger.info("rank %d/%d joined the %s process group on %s", rank, world_size, backend, device)
    return DistContext(rank, world_size, local_rank, device, owns_group=True)


def teardown(context: DistContext) -> None:
    if context.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def mean_across_ranks(value: torch.Tensor, context: DistContext) -> torch.Tensor:
    """The mean of a scalar over all ranks (for logging a loss every rank agrees on)."""
    if not context.is_distributed:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / context.world_size


def barrier(context: DistContext) -> None:
    if context.is_distributed:
        dist.barrier()
