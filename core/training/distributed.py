"""Several processes with PyTorch's own engine: `torchrun`, `torch.distributed`, DDP.

`torchrun --nproc_per_node=N -m core -- COMMAND …` starts N copies of the same command; each
reads RANK / WORLD_SIZE / LOCAL_RANK from the environment torchrun sets (`from_environment`)
and joins one process group (`process_group`: gloo on CPU, NCCL on CUDA, one GPU per local
rank). What each command does with the ranks:
- `train`: the whole loss (`core.training.loss.TrainingLoss`) is wrapped in
  `DistributedDataParallel`, which averages gradients across ranks during backward, so every
  rank steps the same weights. Every rank walks the same shuffled global batches and takes its
  slice of each (`core.training.sampler.DistributedBatchSampler`), so the total batch size
  stays `--batch-size` whatever N is. Rank 0 alone evaluates and writes (checkpoints,
  progress, status, metrics); its validation result and every stop decision (time budget,
  early stopping, cancel) reach all ranks (`broadcast`, `max_over_ranks`), so all stop at the
  same step.
- `evaluate`, `predict --all`: each rank scores its share of the users (`shard_users`), the
  per-user results are gathered on rank 0 (`gather_to_main`), which alone writes and prints.
  Shares are cut on the batches one process would score, so the numbers are the same bits.
Without torchrun (WORLD_SIZE unset or 1) everything here is a no-op and nothing changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job; `world == 1` means a plain single process."""

    rank: int = 0  # this process, 0..world-1
    world: int = 1  # processes in the job
    local_rank: int = 0  # this process on its machine (picks the GPU)

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """The one process that evaluates and writes files."""
        return self.rank == 0


def from_environment() -> DistContext:
    """The context torchrun describes in the environment (single process without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    return DistContext(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def is_main_process() -> bool:
    """True for a single process and for torchrun's rank 0 (the one that writes)."""
    return from_environment().is_main


def init(context: DistContext, device: torch.device) -> None:
    """Join the process group once (gloo on CPU, NCCL on CUDA); no-op for a single process."""
    if not context.active or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(context.local_rank)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def shutdown(context: DistContext, clean: bool = True) -> None:
    """Leave the process group; `clean` first waits for every rank.

    After an error the barrier is skipped: the other ranks may be waiting in another
    collective, and torchrun stops them once this rank exits with an error.
    """
    if context.active and dist.is_initialized():
        if clean:
            dist.barrier()
        dist.destroy_process_group()


@contextmanager
def process_group(device: torch.device) -> Iterator[DistContext]:
    """The job's context with the group joined for the block (torchrun), else a single process."""
    context = from_environment()
    init(context, device_for(context, device))
    try:
        yield context
    except BaseException:
        shutdown(context, clean=False)
        raise
    shutdown(context)


def device_for(context: DistContext, device: torch.device) -> torch.device:
    """One GPU per local rank on CUDA; the CPU is shared."""
    if device.type == "cuda" and context.active:
        return torch.device("cuda", context.local_rank)
    return device


def shard_users(users: np.ndarray, context: DistContext, block: int = 1) -> np.ndarray:
    """This rank's contiguous share of `users`, cut only between blocks of `block` users.

    Ranks 0..world-1 get consecutive runs of whole blocks (as even as the blocks allow), so
    their shares concatenated in rank order are `users` again, and a scorer that works a block
    at a time runs exactly the blocks one process would.
    """
    if not context.active:
        return users
    blocks = -(-len(users) // block)
    first, stop = (blocks * r // context.world for r in (context.rank, context.rank + 1))
    return users[first * block : stop * block]


def gather_to_main(value: Any, context: DistContext) -> list[Any] | None:
    """Every rank's `value`, in rank order, on rank 0 (None elsewhere); `[value]` alone.

    Values travel pickled between the ranks of one job (never to disk): keep them to per-user
    arrays, not model-sized tensors.
    """
    if not context.active:
        return [value]
    box: list[Any] | None = [None] * context.world if context.is_main else None
    dist.gather_object(value, box, dst=0)
    return box


def max_over_ranks(value: int, context: DistContext) -> int:
    """The largest `value` of all ranks, on every rank (stop decisions agree)."""
    if not context.active:
        return value
    on_gpu = dist.get_backend() == "nccl"  # NCCL reduces CUDA tensors only
    box = torch.tensor([value], dtype=torch.int64, device="cuda" if on_gpu else "cpu")
    dist.all_reduce(box, op=dist.ReduceOp.MAX)
    return int(box.item())


def broadcast(value: Any, context: DistContext) -> Any:
    """Rank 0's `value` on every rank (validation metrics, stop reasons)."""
    if not context.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
