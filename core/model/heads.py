"""Output heads with one contract: `forward` (logits), `loss` (scalar), `predict` (scores).

Heads take hidden states already gathered at the positions that matter, shape (n, D), so the
expensive projection never runs on padding. Issue #4's heads follow the same contract:
sequence classification is a `ClassificationHead` on pooled states (`BehaviorTransformer.pooled`),
token tagging a `ClassificationHead` on per-position states.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.data.vocab import NUM_RESERVED
from core.model.dropout import Dropout
from core.model.losses import NegativeSampler, full_softmax_loss, sampled_softmax_loss


class ItemHead(nn.Module):
    """Next / masked item scores, weight-tied to the item embedding (Press & Wolf 2017)."""

    def __init__(self, item_embedding: nn.Embedding, bias: bool = False, no_item: bool = False):
        super().__init__()
        self.embedding = item_embedding  # shared, not copied: one parameter in the state dict
        self.never_ranked = NUM_RESERVED + int(no_item)  # reserved ids, then NO_ITEM if present
        num_items = item_embedding.num_embeddings
        self.bias = nn.Parameter(torch.zeros(num_items)) if bias else None

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(n, D) -> (n, V) logits; reserved ids (PAD, MASK, UNK) and NO_ITEM get -inf."""
        logits = hidden @ self.embedding.weight.T  # (n, V)
        if self.bias is not None:
            logits = logits + self.bias  # (n, V)
        logits[:, : self.never_ranked] = float("-inf")
        return logits

    def loss(
        self,
        hidden: torch.Tensor,
        targets: torch.Tensor,
        sampler: NegativeSampler | None = None,
        bf16_matmuls: bool = False,
        negatives: torch.Tensor | None = None,
        sparse_grad: bool = False,
    ) -> torch.Tensor:
        """Mean cross-entropy; full softmax unless a sampler is given (then sampled softmax).

        `bf16_matmuls`: run the loss's big CPU matmuls in bfloat16 (see full_softmax_loss);
        `negatives` and `sparse_grad`: see sampled_softmax_loss.
        """
        weight = self.embedding.weight  # (V, D)
        if sampler is None:
            return full_softmax_loss(hidden, weight, self.bias, targets, bf16_matmuls)
        return sampled_softmax_loss(
            hidden, weight, self.bias, targets, sampler, bf16_matmuls, negatives, sparse_grad
        )

    def predict(self, hidden: torch.Tensor) -> torch.Tensor:
        """(n, V) probabilities over items (0 on reserved ids)."""
        return self.forward(hidden).softmax(dim=-1)


class ClassificationHead(nn.Module):
    """Linear classifier over `num_classes`; the first `reserved` classes are never predicted.

    Used for the next event type (reserved=NUM_RESERVED: PAD/MASK/UNK), NSP (2 classes), and by
    issue #4 for sequence classification (pooled states) and token tagging (per-position states).
    """

    def __init__(self, dim: int, num_classes: int, reserved: int = 0, dropout: float = 0.0):
        super().__init__()
        self.reserved = reserved
        self.drop = Dropout(dropout)
        self.linear = nn.Linear(dim, num_classes)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(n, D) -> (n, C) logits, -inf on reserved classes."""
        logits = self.linear(self.drop(hidden))  # (n, C)
        if self.reserved:
            logits = torch.cat(
                [
                    torch.full_like(logits[:, : self.reserved], float("-inf")),
                    logits[:, self.reserved :],
                ],
                dim=1,
            )  # (n, C)
        return logits

    def loss(
        self, hidden: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean cross-entropy; `weight` (C,) gives class weights for imbalanced labels."""
        logits = self.linear(self.drop(hidden))[:, self.reserved :]  # (n, C - reserved)
        w = weight[self.reserved :] if weight is not None else None
        return F.cross_entropy(logits, targets - self.reserved, weight=w)

    def predict(self, hidden: torch.Tensor) -> torch.Tensor:
        """(n, C) class probabilities (0 on reserved classes)."""
        return self.forward(hidden).softmax(dim=-1)
