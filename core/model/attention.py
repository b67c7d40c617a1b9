"""Multi-head self-attention with a fused fast path and an explicit path that returns weights.

The fast path calls `F.scaled_dot_product_attention`; it never materialises weights. When a
caller asks for `output_attentions`, the explicit path computes the same softmax by hand and
returns the (B, H, T, T) weights; both paths give the same output (tested).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.model.config import ModelConfig
from core.model.dropout import Dropout


class SelfAttention(nn.Module):
    """Causal or bidirectional multi-head self-attention (Vaswani et al. 2017)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.dim, 3 * config.dim)
        self.proj = nn.Linear(config.dim, config.dim)
        self.attn_dropout = config.attn_dropout
        self.resid_drop = Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        key_mask: torch.Tensor | None,
        causal: bool,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, D); key_mask (B, 1, 1, T) bool, True = may be attended, or None.

        Returns the projected output (B, T, D) and, if asked, weights (B, H, T, T).
        """
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)  # 3 x (B, T, D)
        q = q.view(B, T, self.heads, D // self.heads).transpose(1, 2)  # (B, H, T, Dh)
        k = k.view(B, T, self.heads, D // self.heads).transpose(1, 2)  # (B, H, T, Dh)
        v = v.view(B, T, self.heads, D // self.heads).transpose(1, 2)  # (B, H, T, Dh)
        drop = self.attn_dropout if self.training else 0.0
        if output_attentions:
            y, weights = _explicit_attention(q, k, v, key_mask, causal, drop)  # (B, H, T, Dh)
        else:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=_combine(key_mask, causal, T),
                dropout_p=drop,
                is_causal=causal and key_mask is None,
            )  # (B, H, T, Dh)
            weights = None
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.resid_drop(self.proj(y)), weights


def _combine(key_mask: torch.Tensor | None, causal: bool, T: int) -> torch.Tensor | None:
    """One boolean mask (B, 1, T, T) when both causal and key masks apply, else key_mask."""
    if key_mask is None or not causal:
        return key_mask
    tril = torch.ones(T, T, dtype=torch.bool, device=key_mask.device).tril()  # (T, T)
    return key_mask & tril  # (B, 1, T, T)


def _explicit_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_mask: torch.Tensor | None,
    causal: bool,
    drop: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d)) v by hand, returning the weights (B, H, T, T) too."""
    T = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    if causal:
        future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)  # (T, T)
        scores = scores.masked_fill(future, float("-inf"))  # (B, H, T, T)
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, float("-inf"))  # (B, H, T, T)
    weights = scores.softmax(dim=-1)  # (B, H, T, T)
    y = F.dropout(weights, drop, training=drop > 0) @ v  # (B, H, T, Dh)
    return y, weights
