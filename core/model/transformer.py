"""The behaviour Transformer: one encoder class, causal (SASRec) or bidirectional (BERT4Rec).

SASRec: Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018.
BERT4Rec: Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
Representations from Transformer", CIKM 2019.

Sequences are RIGHT-padded (events first, PAD after), so in causal mode every real event only
sees real events and the fused kernel runs with `is_causal=True` and no mask at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.data.vocab import NUM_RESERVED, PAD
from core.model.attention import SelfAttention
from core.model.config import ModelConfig
from core.model.dropout import Dropout
from core.model.embeddings import InputEmbedding
from core.model.heads import ClassificationHead, ItemHead


@dataclass
class EncoderInput:
    """A right-padded batch of event windows; every tensor is (B, T) int64 on the model's device."""

    items: torch.Tensor  # item ids, PAD after the last event, MASK where hidden
    events: torch.Tensor  # event-type ids, same layout
    categories: torch.Tensor | None = None  # category ids, or None when the data has none
    gaps: torch.Tensor | None = None  # time-gap bucket ids (0 = first/unknown)
    segments: torch.Tensor | None = None  # NSP segment ids (1, 2; PAD 0), usually None

    @property
    def valid(self) -> torch.Tensor:
        """(B, T) bool, True at real (or masked) events."""
        return self.items != PAD

    def to(self, device: torch.device | str) -> EncoderInput:
        moved = {k: (v.to(device) if v is not None else None) for k, v in vars(self).items()}
        return EncoderInput(**moved)


@dataclass
class EncoderOutput:
    """Final hidden states, plus per-layer attention weights when they were asked for."""

    hidden: torch.Tensor  # (B, T, D) after the final LayerNorm
    valid: torch.Tensor  # (B, T) bool, True at real events
    attentions: tuple[torch.Tensor, ...] | None = None  # per layer (B, H, T, T), or None

    def last(self) -> torch.Tensor:
        """(B, D) state at each sequence's last real event (right padding)."""
        idx = self.valid.sum(dim=1).clamp(min=1) - 1  # (B,)
        return self.hidden[torch.arange(len(idx), device=idx.device), idx]  # (B, D)

    def mean(self) -> torch.Tensor:
        """(B, D) mean of the states at real events."""
        w = self.valid.unsqueeze(-1).to(self.hidden.dtype)  # (B, T, 1)
        return (self.hidden * w).sum(1) / w.sum(1).clamp(min=1.0)  # (B, D)


class Block(nn.Module):
    """Pre-norm Transformer block: x + Attn(LN(x)), then x + FFN(LN(x)) with GELU."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.dim)
        self.attn = SelfAttention(config)
        self.ln2 = nn.LayerNorm(config.dim)
        hidden = config.ffn_mult * config.dim
        self.ffn = nn.Sequential(
            nn.Linear(config.dim, hidden),
            nn.GELU(),
            nn.Linear(hidden, config.dim),
            Dropout(config.dropout),
        )

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor | None, causal: bool, output_attentions: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, weights = self.attn(self.ln1(x), key_mask, causal, output_attentions)  # (B, T, D)
        x = x + a  # (B, T, D)
        x = x + self.ffn(self.ln2(x))  # (B, T, D)
        return x, weights


class BehaviorTransformer(nn.Module):
    """Encoder plus the pre-training heads: next/masked item (tied), next event type, NSP."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = InputEmbedding(config)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.ln_f = nn.LayerNorm(config.dim)
        self.item_head = ItemHead(self.embed.item, bias=config.item_bias, no_item=config.no_item)
        self.event_head = ClassificationHead(config.dim, config.num_events, reserved=NUM_RESERVED)
        self.nsp_head = ClassificationHead(config.dim, 2)
        self.apply(_init_weights)

    @property
    def causal(self) -> bool:
        return self.config.mode == "causal"

    def forward(
        self,
        batch: EncoderInput,
        output_attentions: bool = False,
        causal: bool | None = None,
    ) -> EncoderOutput:
        """Encode a batch; `causal` overrides the configured mode (e.g. bidirectional NSP pairs)."""
        causal = self.causal if causal is None else causal
        valid = batch.valid  # (B, T)
        key_mask = None if causal else valid[:, None, None, :]  # (B, 1, 1, T)
        x = self.embed(batch.items, batch.events, batch.categories, batch.gaps, batch.segments)
        attentions: list[torch.Tensor] = []
        for block in self.blocks:
            x, weights = block(x, key_mask, causal, output_attentions)  # (B, T, D)
            if weights is not None:
                attentions.append(weights)
        hidden = self.ln_f(x)  # (B, T, D)
        return EncoderOutput(hidden, valid, tuple(attentions) if output_attentions else None)

    def pooled(self, output: EncoderOutput) -> torch.Tensor:
        """(B, D) one vector per sequence: last state (causal sees everything there) or mean."""
        return output.last() if self.causal else output.mean()


def _init_weights(module: nn.Module) -> None:
    """Small normal init (BERT/GPT style); PAD rows stay zero."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
