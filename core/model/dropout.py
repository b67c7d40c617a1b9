"""Dropout whose CPU mask comes from `rand_like` instead of `bernoulli_`.

On a CPU `nn.Dropout` draws its mask with `bernoulli_`, which generates one random number at a
time; `torch.rand_like` fills the tensor with the vectorised generator. For the (B, T, D)
activations of a training step that is 2-3x faster forward + backward (measured 2.2-3.1 ms vs
1.0-1.1 ms on a (128, 28, 50) tensor, one thread), and dropout runs five times per step. The
distribution is the same: each unit is kept with probability 1 - p and scaled by 1 / (1 - p).
On other devices the fused native kernel is already fast and is used as is.
"""

from __future__ import annotations

import torch
from torch import nn


class Dropout(nn.Dropout):
    """`nn.Dropout` with a vectorised mask on CPU; identical in eval mode and for p = 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return super().forward(x)
        keep = torch.rand_like(x) >= self.p  # (..., D) bool
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))
