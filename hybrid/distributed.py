"""One process or many: the rank and world size torchrun gives, and the few collective steps the CLI needs.

Under `torchrun` (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT in the environment) `World.from_env()` joins the
process group: gloo on CPU, NCCL when every rank has its own GPU. Run plainly, it is a world of one and every
step is a no-op, so the same code serves `python -m hybrid ...` and `torchrun --nproc_per_node N -m hybrid ...`.
Ranks share files, not tensors, wherever they can (a feature cache, shard files on a shared filesystem): the
process group is used for barriers and small gathers only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from .errors import HybridError

T = TypeVar("T")
TIMEOUT = timedelta(minutes=60)  # a barrier waits this long for the slowest rank (one shard of a long job)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes the results, logs and progress bars."""
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str = "cpu") -> World:
        """This process's place in the job; joins the process group when there is more than one process."""
        try:
            size = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", "0"))
        except ValueError as e:
            raise HybridError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers ({e})") from None
        if size < 1 or not 0 <= rank < size:
            raise HybridError(f"RANK {rank} does not fit WORLD_SIZE {size}")
        world = cls(rank, size, local)
        if size > 1 and not dist.is_initialized():
            nccl = device.startswith("cuda") and torch.cuda.is_available() and dist.is_nccl_available()
            if nccl:
                torch.cuda.set_device(local)
            dist.init_process_group("nccl" if nccl else "gloo", timeout=TIMEOUT)
        return world

    def device(self, device: str) -> str:
        """`cuda` under torchrun means this rank's own GPU (cuda:LOCAL_RANK)."""
        return f"cuda:{self.local_rank}" if device == "cuda" and self.size > 1 else device

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share: every size-th item from its rank on (disjoint, together all of them)."""
        return list(items[self.rank :: self.size])

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj` (picklable, small), in rank order, on every rank."""
        if self.size == 1:
            return [obj]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()


@contextlib.contextmanager
def world(device: str = "cpu") -> Iterator[World]:
    """World.from_env() for the length of a command; the process group goes when it ends."""
    w = World.from_env(device)
    try:
        yield w
    finally:
        w.close()
