"""The pre-trained encoder plus a classification head, for sequence classification or tagging.

Sequence classification puts the head on the pooled encoder output (`BehaviorTransformer.pooled`:
the last state for a causal model, the mean for a bidirectional one); token tagging puts it on
every position's state. Freezing the embeddings and the first N blocks keeps what pre-training
learned and trains fewer weights, which helps when labels are few.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from core.model.heads import ClassificationHead
from core.model.transformer import BehaviorTransformer, EncoderInput

Task = Literal["sequence", "token"]


@dataclass
class FineTuneOutput:
    """Logits at the positions that carry labels (all sequences, or all real events)."""

    logits: torch.Tensor  # (n, C): n = B for sequences, number of real events for tokens
    valid: torch.Tensor  # (B, T) bool, real events of the batch (which rows `logits` covers)


class FineTuneModel(nn.Module):
    """Encoder (weights from the parent run) + `ClassificationHead` over its states."""

    def __init__(
        self,
        encoder: BehaviorTransformer,
        task: Task,
        num_classes: int,
        head_dropout: float = 0.1,
        causal: bool | None = None,
    ) -> None:
        super().__init__()
        if task not in ("sequence", "token"):
            raise ValueError(f"task must be 'sequence' or 'token', got {task!r}")
        self.encoder = encoder
        self.task = task
        self.causal = causal  # None: the encoder's own mode; True forces no look-ahead
        self.head = ClassificationHead(encoder.config.dim, num_classes, dropout=head_dropout)

    def forward(self, batch: EncoderInput) -> FineTuneOutput:
        out = self.encoder(batch, causal=self.causal)
        if self.task == "sequence":
            return FineTuneOutput(self.head(self.encoder.pooled(out)), out.valid)  # (B, C)
        hidden = out.hidden[out.valid]  # (n, D) real events, row-major over (B, T)
        return FineTuneOutput(self.head(hidden), out.valid)

    def freeze(self, embeddings: bool, blocks: int) -> None:
        """Trains the head, the final norm and the unfrozen blocks; the pre-training heads never."""
        if not 0 <= blocks <= len(self.encoder.blocks):
            raise ValueError(
                f"--freeze-blocks must be in 0..{len(self.encoder.blocks)}, got {blocks}"
            )
        for param in self.encoder.parameters():
            param.requires_grad_(True)
        for module in (self.encoder.event_head, self.encoder.nsp_head):
            module.requires_grad_(False)
        if self.encoder.item_head.bias is not None:
            self.encoder.item_head.bias.requires_grad_(False)
        if embeddings:
            self.encoder.embed.requires_grad_(False)
        for block in self.encoder.blocks[:blocks]:
            block.requires_grad_(False)

    def set_dropout(self, rate: float) -> None:
        """Overrides the encoder's dropout rate (embeddings, attention output, FFN)."""
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {rate}")
        for module in self.encoder.modules():
            if isinstance(module, nn.Dropout):
                module.p = rate
        self.encoder.config.dropout = rate

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
