"""The one torchrun helper, for training and for `reasonkit bench` alike.

`torchrun` starts one process per rank and describes the group in RANK / WORLD_SIZE / LOCAL_RANK; `join()`
makes this process a member (gloo on CPU, NCCL for training on CUDA, or the backend asked for) and a plain
single process otherwise. torch is imported only when a group is joined or a device resolved, so the
commands that never need it start without it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = [
    "DistContext",
    "PeerFailed",
    "join",
    "launched_rank",
    "leave",
    "process_group",
    "resolve_device",
]

logger = logging.getLogger(__name__)


class PeerFailed(RuntimeError):
    """Rank 0 failed a step every rank needed; rank 0 says why, the other ranks stop with this."""


def launched_rank() -> int:
    """This process's rank as torchrun set it (0 without torchrun), readable before any group is joined: for
    messages said once rather than once per process."""
    return int(os.environ.get("RANK", "0"))


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the group; one process without torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device | None = None  # the device join() placed this process on, when it was given one
    owns_group: bool = False  # this process created the process group, so it tears it down

    @property
    def is_main(self) -> bool:
        """Only the main process writes shared files and reports progress."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def device_name(self, device: str) -> str:
        """A device option as this rank reads it: `cuda` means this process's own GPU (LOCAL_RANK) under
        torchrun."""
        if device == "cuda" and self.is_distributed:
            return f"cuda:{self.local_rank}"
        return device

    def barrier(self) -> None:
        if self.is_distributed:
            import torch.distributed as dist

            dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a scalar over all ranks (for logging a loss every rank agrees on)."""
        if not self.is_distributed:
            return value
        import torch.distributed as dist

        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value / self.world_size

    def on_rank_zero(self, step: Callable[[], None], errors: tuple[type[Exception], ...]) -> None:
        """Run `step` on rank 0 alone. An error of the types given that it raises is raised on every rank
        (rank 0 raises it, the others PeerFailed with its message), so all ranks stop together instead of
        waiting for one that is gone."""
        failure: Exception | None = None
        try:
            if self.is_main:
                step()
        except errors as error:
            if not self.is_distributed:
                raise
            failure = error
        if not self.is_distributed:
            return
        import torch.distributed as dist

        box = [None if failure is None else str(failure)]
        dist.broadcast_object_list(box, src=0)
        if failure is not None:
            raise failure
        if box[0] is not None:
            raise PeerFailed(box[0])


def resolve_device(preference: str) -> torch.device:
    """'auto' picks CUDA when present; 'cpu', 'cuda', 'cuda:1', 'mps' are taken as given."""
    import torch

    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} requested but CUDA is not available")
    return device


def join(device: str | None = None, backend: str | None = None) -> DistContext:
    """Join the process group torchrun describes, if any. With `device` (training) the process is placed on
    it, its own GPU under torchrun; `backend` defaults to NCCL on CUDA and gloo otherwise (bench asks for
    gloo: its few collective steps carry Python objects, CPU processes and GPUs alike)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = launched_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    placed = resolve_device(device) if device is not None else None
    if world_size == 1:
        return DistContext(0, 1, 0, placed)
    import torch
    import torch.distributed as dist

    if placed is not None and placed.type == "cuda":
        placed = torch.device("cuda", local_rank)
        torch.cuda.set_device(placed)
    if dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, placed)
    backend = backend or ("nccl" if placed is not None and placed.type == "cuda" else "gloo")
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    logger.info("rank %d/%d joined the %s process group on %s", rank, world_size, backend, placed)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, placed, owns_group=True)


def leave(context: DistContext) -> None:
    """Tear the group down if this process created it (a group the caller made is the caller's)."""
    if context.owns_group:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


@contextmanager
def process_group(device: str | None = None, backend: str | None = None) -> Iterator[DistContext]:
    """`join()` for the length of a block, leaving the group however the block ends."""
    context = join(device, backend)
    try:
        yield context
    finally:
        leave(context)
