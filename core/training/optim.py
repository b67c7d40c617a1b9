"""AdamW with decay only on weight matrices, and a warm-up + cosine learning-rate schedule
(by steps, or by the time budget when one is given)."""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from core.training.config import TrainConfig
from core.training.lazy_rows import LazyRowAdamW


def build_optimizer(
    model: nn.Module,
    config: TrainConfig,
    device: torch.device,
    lazy_table: nn.Parameter | None = None,
) -> torch.optim.AdamW:
    """AdamW (fused kernel when this torch has one for the device).

    Weight decay applies to Linear weights only: decaying embeddings penalises rare items,
    and decaying norms or biases only hurts (as in nanoGPT / BERT). `lazy_table`: the item
    table, updated row by row with the same result (core.training.lazy_rows.LazyRowAdamW).
    """
    decay, no_decay = [], []
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    seen: set[int] = set()
    for param in model.parameters():
        if id(param) in seen or not param.requires_grad:
            continue
        seen.add(id(param))
        is_matrix = param.dim() >= 2 and id(param) not in embedding_ids
        (decay if is_matrix else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    make = torch.optim.AdamW if lazy_table is None else partial(LazyRowAdamW, table=lazy_table)
    try:
        return make(groups, lr=config.lr, betas=(0.9, 0.98), fused=True)
    except (RuntimeError, TypeError):  # no fused kernel for this device/dtype in this torch
        return make(groups, lr=config.lr, betas=(0.9, 0.98))


def lr_at(
    step: int, total_steps: int, config: TrainConfig, time_used: float | None = None
) -> float:
    """Linear warm-up, then cosine down to `min_lr_ratio` of the peak.

    Warm-up lasts `warmup_steps`, capped at `warmup_fraction` of the planned steps (so tiny runs
    are not all warm-up). The decay follows whichever is further along: the planned steps, or
    `time_used` (share of a --max-minutes budget spent, None without one), so a time-boxed run
    reaches its low learning rate at the end of the budget instead of stopping near the peak.
    With a budget and no epoch cap (core.training.budget) the planned steps are only a guess,
    so the clock alone decides.
    """
    warmup = max(1, min(config.warmup_steps, int(config.warmup_fraction * total_steps)))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    if time_used is not None:  # a budget: with no epoch cap the clock alone drives the decay
        progress = time_used if config.epochs is None else max(progress, time_used)
    progress = min(1.0, progress)
    floor = config.min_lr_ratio
    return config.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))
