"""Item losses: full softmax cross-entropy, or sampled softmax with the logQ correction.

Full softmax over every item is the most accurate (Klenitskiy & Vasilev, RecSys 2023) and is
cheap because it only runs on target positions. For large catalogues, sampled softmax with
shared negatives drawn from item popularity, each negative logit corrected by -log(K Q(item))
(the logQ correction of Jean et al. 2015 / Yi et al. RecSys 2019), keeps the cost at n x K
instead of n x V: sum_j exp(s_j) / (K Q_j) over the draws estimates the full softmax's
denominator, so the loss approaches full cross-entropy as K grows (tested).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from core.data.vocab import NUM_RESERVED
from core.model.fused_ce import fused_full_softmax_loss
from core.model.fused_sampled import fused_sampled_softmax_loss


class NegativeSampler:
    """Draws item ids for sampled softmax from popularity^alpha; knows each draw's log Q."""

    def __init__(self, counts: np.ndarray, negatives: int, alpha: float = 0.75) -> None:
        weights = np.asarray(counts, dtype=np.float64).copy()
        weights[:NUM_RESERVED] = 0.0
        real = weights[NUM_RESERVED:]
        weights[NUM_RESERVED:] = (real + 1.0) ** alpha  # +1: unseen items remain sampleable
        self.probs = torch.as_tensor(weights / weights.sum(), dtype=torch.float32)  # (V,)
        self.log_q = torch.log(self.probs.clamp(min=1e-30))  # (V,)
        self.negatives = negatives

    def to(self, device: torch.device | str) -> NegativeSampler:
        self.probs, self.log_q = self.probs.to(device), self.log_q.to(device)
        return self

    def sample(self) -> torch.Tensor:
        """(K,) item ids, drawn with replacement, shared by every target in the batch."""
        return torch.multinomial(self.probs, self.negatives, replacement=True)


def full_softmax_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    bf16_matmuls: bool = False,
) -> torch.Tensor:
    """Mean cross-entropy over real items: hidden (n, D), weight (V, D), targets (n,) ids >= 3.

    On CPU with gradients the fused kernel (core.model.fused_ce) computes the same value about
    twice as fast, and `bf16_matmuls` runs its matmuls in bfloat16 (another ~2x where the CPU
    has bf16 dot products); elsewhere (GPU, autocast, no grad) the plain expression is used.
    """
    dtype = _fused_compute_dtype(hidden, weight, bf16_matmuls)
    if dtype is not None:
        return fused_full_softmax_loss(hidden, weight, bias, targets, dtype)
    return plain_full_softmax_loss(hidden, weight, bias, targets)


def plain_full_softmax_loss(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor
) -> torch.Tensor:
    """The unfused definition: logits over real items, then `F.cross_entropy`."""
    logits = hidden @ weight[NUM_RESERVED:].T  # (n, V - 3), reserved ids never compete
    if bias is not None:
        logits = logits + bias[NUM_RESERVED:]  # (n, V - 3)
    return F.cross_entropy(logits, targets - NUM_RESERVED)


def sampled_softmax_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    sampler: NegativeSampler,
    bf16_matmuls: bool = False,
    negatives: torch.Tensor | None = None,
    sparse_grad: bool = False,
) -> torch.Tensor:
    """Cross-entropy of each target against K shared negatives corrected by -log(K Q).

    On CPU with gradients the fused kernel (core.model.fused_sampled) computes the same value
    in a fraction of the passes, with `bf16_matmuls` as in `full_softmax_loss`. `negatives`:
    drawn by the caller (who must know the rows read before the step), else drawn here;
    `sparse_grad`: the fused kernel gives the table a row-sparse gradient.
    """
    if negatives is None:
        negatives = sampler.sample()
    negatives = negatives.to(hidden.device)  # (K,)
    dtype = _fused_compute_dtype(hidden, weight, bf16_matmuls)
    if dtype is not None:
        correction = sampler.log_q[negatives] + math.log(len(negatives))  # (K,)
        return fused_sampled_softmax_loss(
            hidden, weight, bias, targets, negatives, correction, dtype, sparse_grad
        )
    return plain_sampled_softmax_loss(hidden, weight, bias, targets, negatives, sampler.log_q)


def plain_sampled_softmax_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor,
) -> torch.Tensor:
    """The unfused definition, for given negatives (K,) and log Q (V,) of the sampler."""
    pos = (hidden * weight[targets]).sum(-1, keepdim=True)  # (n, 1)
    neg = hidden @ weight[negatives].T  # (n, K)
    if bias is not None:
        pos, neg = pos + bias[targets, None], neg + bias[negatives]  # (n, 1), (n, K)
    neg = neg - (log_q[negatives] + math.log(len(negatives)))  # (n, K)
    neg = neg.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))  # accidental hits
    logits = torch.cat([pos, neg], dim=1)  # (n, 1 + K)
    zeros = torch.zeros(len(targets), dtype=torch.long, device=hidden.device)  # (n,)
    return F.cross_entropy(logits, zeros)


def _fused_compute_dtype(
    hidden: torch.Tensor, weight: torch.Tensor, bf16_matmuls: bool
) -> torch.dtype | None:
    """The fused kernels' matmul dtype, or None where they do not apply (GPU, no grad, autocast)."""
    if hidden.device.type != "cpu" or not torch.is_grad_enabled():
        return None
    if not hidden.dtype == weight.dtype == torch.float32:
        return None
    return torch.bfloat16 if bf16_matmuls else torch.float32
