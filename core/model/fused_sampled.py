"""Sampled softmax fused with the tied output projection, for CPU speed.

The plain sampled softmax (`core.model.losses.sampled_softmax_loss`) builds an (n, K) logits
tensor, subtracts the logQ correction into a copy, masks accidental hits with an (n, K)
comparison, concatenates the positive column into a third copy, runs log-softmax and its
backward, and autograd zero-fills a (V, D) gradient for each of the three gathers from the
item table. On a CPU those passes cost more than the matmul itself (profiled on Amazon Beauty,
K = 2048: masked_fill, log-softmax, sub, cat and fills were ~35% of a training step).

Here the forward pass computes the loss and all gradients at once, as in `fused_ce`: one
reused (n, K) buffer, the correction folded into a (K,) row added once, accidental hits found
by a sorted search instead of an (n, K) comparison, the positive logit kept as an (n,) vector,
and one (V, D) gradient. With `compute_dtype=torch.bfloat16` the two big matmuls and the exp
pass run in bf16 (see core.model.precision). Same result as the plain loss (tested).
"""

from __future__ import annotations

from typing import Any

import torch

from core.model.fused_ce import reusable_buffer


class _FusedSampledSoftmax(torch.autograd.Function):
    """mean_i CE over [positive_i, negatives - correction], accidental hits excluded."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        negatives: torch.Tensor,
        correction: torch.Tensor,
        compute_dtype: torch.dtype,
        sparse_grad: bool,
    ) -> torch.Tensor:
        n = hidden.shape[0]
        h, w = hidden.detach(), weight.detach()
        w_pos, w_neg = w.index_select(0, targets), w.index_select(0, negatives)  # (n, D), (K, D)
        pos = (h * w_pos).sum(1)  # (n,)
        column_shift = -correction  # (K,)
        if bias is not None:
            pos = pos + bias.detach()[targets]
            column_shift = column_shift + bias.detach()[negatives]
        w_neg_c = w_neg.to(compute_dtype)  # (K, D)
        logits = reusable_buffer(n, len(negatives), w_neg_c)  # (n, K)
        # both big products read their small operand stored (D, K) or (D, n): ~20% faster
        # with MKL on a CPU than the transposed views (bench/RESULTS.md, "Training speed")
        torch.mm(h.to(compute_dtype), w_neg_c.T.contiguous(), out=logits)
        logits += column_shift.to(compute_dtype)
        hit_rows, hit_cols = accidental_hits(targets, negatives)
        logits[hit_rows, hit_cols] = float("-inf")
        top = torch.maximum(logits.amax(1).float(), pos)  # (n,)
        logits.sub_(top.to(compute_dtype)[:, None]).exp_()  # (n, K) unnormalised probabilities
        pos_exp = (pos - top).exp()  # (n,)
        sums = logits.sum(1).float() + pos_exp  # (n,)
        scale = 1.0 / (sums * n)  # (n,): d loss / d logit = exp * scale, minus 1/n at the target
        pos_grad = pos_exp * scale - 1.0 / n  # (n,)
        grad_h = torch.mm(logits, w_neg_c).float().mul_(scale[:, None])  # (n, D)
        grad_h.add_(w_pos * pos_grad[:, None])
        h_scaled = (h * scale[:, None]).to(compute_dtype).T.contiguous()  # (D, n)
        grad_neg = torch.mm(h_scaled, logits).float().T  # (K, D), a view of (D, K)
        grad_w = _table_gradient(
            weight, (negatives, targets), (grad_neg, h * pos_grad[:, None]), sparse_grad
        )
        grad_b = None
        if bias is not None:
            grad_b = torch.zeros_like(bias)  # (V,)
            grad_b.index_add_(0, negatives, torch.mv(logits.T, scale.to(compute_dtype)).float())
            grad_b.index_add_(0, targets, pos_grad)
        # Kept on ctx, not save_for_backward: backward hands them over and drops its reference,
        # so autograd adopts the (V, D) gradient as weight.grad instead of copying it.
        ctx.grads = [grad_h, grad_w, grad_b]
        return (sums.log() + top - pos).mean()

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grads, ctx.grads = ctx.grads, None  # the only references left are ours
        if grad_out.device.type != "cpu" or grad_out.item() != 1.0:  # usually 1: skip V x D pass
            grads = [g * grad_out if g is not None else None for g in grads]
        return (*grads, None, None, None, None, None)


def _table_gradient(
    weight: torch.Tensor,
    rows: tuple[torch.Tensor, ...],
    values: tuple[torch.Tensor, ...],
    sparse: bool,
) -> torch.Tensor:
    """The (V, D) gradient with `values` at `rows`: sparse (only those rows exist, for
    core.training.lazy_rows) or dense (zero-filled, for every other optimiser)."""
    if sparse:
        indices = torch.cat(rows)[None]  # (1, K + n), duplicates summed by whoever coalesces
        return torch.sparse_coo_tensor(
            indices, torch.cat(values), weight.shape, check_invariants=False
        )
    grad = torch.zeros_like(weight)  # (V, D)
    for at, value in zip(rows, values, strict=True):
        grad.index_add_(0, at, value)
    return grad


def accidental_hits(targets: torch.Tensor, negatives: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(rows, cols) where negatives[col] == targets[row], via a sorted search: O((n + K) log K)."""
    order = torch.argsort(negatives)  # (K,)
    ordered = negatives[order]  # (K,)
    lo = torch.searchsorted(ordered, targets)  # (n,)
    counts = torch.searchsorted(ordered, targets, right=True) - lo  # (n,)
    rows = torch.repeat_interleave(torch.arange(len(targets), device=targets.device), counts)
    starts = torch.repeat_interleave(lo, counts)  # (hits,)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)  # (hits,)
    within = torch.arange(len(rows), device=targets.device) - first  # (hits,)
    return rows, order[starts + within]


def fused_sampled_softmax_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    correction: torch.Tensor,
    compute_dtype: torch.dtype = torch.float32,
    sparse_grad: bool = False,
) -> torch.Tensor:
    """Mean sampled-softmax cross-entropy, gradients computed in the forward pass.

    hidden (n, D), weight (V, D) the tied item table, bias (V,) or None, targets (n,),
    negatives (K,) shared item ids, correction (K,) subtracted from each negative's logit
    (log K Q for the logQ correction). `sparse_grad`: the table's gradient holds only the
    rows scored (a sparse COO tensor), not a zero-filled (V, D) one.
    """
    return _FusedSampledSoftmax.apply(
        hidden, weight, bias, targets, negatives, correction, compute_dtype, sparse_grad
    )
