"""Training on several processes with PyTorch's own engine (`torchrun`, `torch.distributed`).

`torchrun --nproc_per_node=N -m core -- train …` starts N copies of the same command; each
reads RANK / WORLD_SIZE / LOCAL_RANK from the environment torchrun sets and joins one process
group (gloo on CPU, NCCL on CUDA). Then:
- every rank builds the same shuffled global batches (seeded by epoch) and takes its share of
  each batch's users (`shard`), so the total batch size stays `--batch-size` whatever N is;
- gradients are averaged across ranks after each backward (`average_gradients`: one flat
  all-reduce, what DistributedDataParallel's reducer does; done by hand because the item loss
  is computed outside the model's forward, on the tied embedding), so every rank steps the same
  weights from the same gradient;
- rank 0 alone evaluates and writes (checkpoints, progress, status, metrics); its validation
  result and every stop decision (time budget, early stopping, cancel) are broadcast, so all
  ranks stop at the same step.
Without torchrun (WORLD_SIZE unset or 1) everything here is a no-op and nothing changes.
"""

from __future__ import annotations

import os
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


def shutdown(context: DistContext) -> None:
    if context.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def device_for(context: DistContext, device: torch.device) -> torch.device:
    """One GPU per local rank on CUDA; the CPU is shared."""
    if device.type == "cuda" and context.active:
        return torch.device("cuda", context.local_rank)
    return device


def shard(users: np.ndarray, context: DistContext) -> np.ndarray:
    """This rank's users of a global batch: every world-th user, starting at its rank."""
    return users[context.rank :: context.world] if context.active else users


def average_gradients(model: torch.nn.Module, context: DistContext) -> None:
    """Mean gradient over ranks, in one flat all-reduce (a missing gradient counts as 0)."""
    if not context.active:
        return
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])  # (P,)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= context.world
    offset = 0
    for param, grad in zip(params, grads, strict=True):
        size = grad.numel()
        param.grad = flat[offset : offset + size].view_as(grad).clone()
        offset += size


def max_over_ranks(value: int, context: DistContext) -> int:
    """The largest `value` of all ranks, on every rank (stop decisions agree)."""
    if not context.active:
        return value
    box = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(box, op=dist.ReduceOp.MAX)
    return int(box.item())


def broadcast(value: Any, context: DistContext) -> Any:
    """Rank 0's `value` on every rank (validation metrics, stop reasons)."""
    if not context.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
