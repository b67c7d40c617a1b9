"""The whole pre-training loss as one module, so `DistributedDataParallel` can wrap it.

DDP synchronises the gradients of the parameters its wrapped module's forward used. The item
loss runs on the tied item table after `BehaviorTransformer.forward`, and NSP runs a second
encoder pass, so wrapping the model alone would leave both outside what DDP watches. This
module's forward is everything from batch tensors to the scalar loss; the trainer wraps it in
DDP under torchrun and calls it directly in a single process (no wrapper, no cost).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from core.data.vocab import MIN_EVENT_TYPES_FOR_HEAD, NUM_RESERVED
from core.model.losses import NegativeSampler
from core.model.transformer import BehaviorTransformer
from core.training.config import TrainConfig
from core.training.objectives import NspBatch, ObjectiveBatch


class TrainingLoss(nn.Module):
    """Item loss (+ event-type loss, + NSP) of one batch, computed only where targets exist."""

    def __init__(
        self,
        model: BehaviorTransformer,
        config: TrainConfig,
        first_real_item: int,
        sampler: NegativeSampler | None = None,
        bf16_matmuls: bool = False,
        sparse_lookup: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.first_real_item = first_real_item  # lower ids (PAD, MASK, UNK, NO_ITEM) never score
        self.sampler = sampler  # sampled softmax negatives, or None for the full softmax
        self.bf16_matmuls = bf16_matmuls  # the item loss's big CPU matmuls in bf16
        self.sparse_lookup = sparse_lookup  # see sparse_item_lookup; never under DDP
        # Lazy item rows (core.training.lazy_rows): told which table rows a step reads before
        # it reads them; the table's gradient then stays row-sparse. None: dense updates.
        self.before_item_reads: Callable[[torch.Tensor], None] | None = None
        event_types = model.config.num_events - NUM_RESERVED  # real types, without PAD/MASK/UNK
        has_events = config.event_weight > 0 and event_types >= MIN_EVENT_TYPES_FOR_HEAD
        self.event_weight = config.event_weight if has_events else 0.0  # 0: event head unused
        self.nsp = config.nsp  # forward then gets segment pairs too
        self.nsp_weight = config.nsp_weight

    @property
    def uses_every_parameter(self) -> bool:
        """Every step reaches every parameter (DDP then need not look for unused ones).

        Without --nsp the NSP head and segment table sit idle, and so does the event head when
        it has no weight or too few event types to learn from; an item bias misses the steps
        whose targets are all item-less (searches).
        """
        return self.nsp and self.event_weight > 0 and self.model.item_head.bias is None

    def forward(self, batch: ObjectiveBatch, pairs: NspBatch | None = None) -> torch.Tensor:
        """Scalar loss of an objective batch and, with NSP, its segment pairs."""
        device = next(self.model.parameters()).device
        negatives = None
        if self.before_item_reads is not None:
            negatives = self.sampler.sample() if self.sampler is not None else None
            self.before_item_reads(rows_read(batch, pairs, negatives))
        with sparse_item_lookup(self.model, self.sparse_lookup):
            out = self.model(batch.inputs.to(device))
        mask = batch.target_mask.to(device)  # (B, T)
        hidden = out.hidden[mask]  # (n, D) only positions with a target
        loss = self._item_loss(hidden, batch.item_targets.to(device)[mask], negatives)
        if self.event_weight > 0:
            events = batch.event_targets.to(device)[mask]  # (n,)
            loss = loss + self.event_weight * self.model.event_head.loss(hidden, events)
        if pairs is not None:
            pooled = self.model.pooled(self.model(pairs.inputs.to(device)))  # (B, D)
            nsp = self.model.nsp_head.loss(pooled, pairs.labels.to(device))
            loss = loss + self.nsp_weight * nsp
        return loss

    def _item_loss(
        self, hidden: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor | None
    ) -> torch.Tensor:
        """Cross-entropy at real-item targets; (n, D) states, (n,) targets, (K,) negatives
        drawn for this step (None: the sampler draws them, if there is one)."""
        head = self.model.item_head
        real = targets >= self.first_real_item  # (n,) never NO_ITEM (a search) nor UNK
        lazy = self.before_item_reads is not None
        if bool(real.any()):
            if not bool(real.all()):
                hidden, targets = hidden[real], targets[real]
            return head.loss(
                hidden, targets, self.sampler, self.bf16_matmuls, negatives, sparse_grad=lazy
            )
        # only item-less targets in this batch: the event head still learns from them. With
        # dense updates a zero dense term keeps the item table's gradient dense (the sparse
        # input lookup alone would leave a sparse one, which AdamW cannot take).
        if lazy:
            return hidden.sum() * 0.0
        return hidden.sum() * 0.0 + head.embedding.weight.sum() * 0.0


def rows_read(
    batch: ObjectiveBatch, pairs: NspBatch | None, negatives: torch.Tensor | None
) -> torch.Tensor:
    """Unique item-table rows a step reads: input items (NSP pairs' too), targets, negatives."""
    ids = [batch.inputs.items.flatten(), batch.item_targets.flatten()]
    if pairs is not None:
        ids.append(pairs.inputs.items.flatten())
    if negatives is not None:
        ids.append(negatives.cpu())
    return torch.unique(torch.cat(ids))


@contextmanager
def sparse_item_lookup(model: BehaviorTransformer, enabled: bool) -> Iterator[None]:
    """Forward passes inside give the item table's input lookup a sparse gradient.

    The tied item table also gets a dense (V, D) gradient from the item loss, so the lookup's
    gradient can be added into it in place instead of zero-filling and adding a second (V, D)
    tensor every step (a few ms of a ~20 ms CPU step on Beauty). The optimizer only ever sees
    the dense sum. Scoped to the pre-training forward: a fine-tuning run without the item loss
    must keep dense gradients. Off under DDP, whose reducer decides at wrap time whether a
    parameter's gradient is sparse and buckets dense ones only.
    """
    table = model.embed.item
    previous, table.sparse = table.sparse, enabled
    try:
        yield
    finally:
        table.sparse = previous
