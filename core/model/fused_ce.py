"""Full-softmax cross-entropy fused with the tied output projection, for CPU speed.

`F.cross_entropy(hidden @ weight.T, targets)` materialises an (n, V) logits tensor, a second
(n, V) log-softmax, zero-fills a third for the NLL backward, and runs log-softmax backward over
it: five or six passes over a tensor of tens of megabytes, which on a CPU cost more than the
matmuls. Here the forward pass computes the loss and both gradients at once, chunk by chunk, in
one reused buffer (no fresh allocation and page faults per step): logits -> exp(logits - max)
in place -> the two gradient matmuls with the 1 / (n * sum) row scale folded into the small
operand. Backward only scales the stored gradients. Same result as the unfused loss (tested).
The same trick is known as "fused linear cross-entropy" (e.g. Liger-Kernel, Cut Cross-Entropy).
"""

from __future__ import annotations

from typing import Any

import torch

from core.data.vocab import NUM_RESERVED

CHUNK_ELEMENTS = 1 << 25  # logits per chunk (128 MiB float32): bounds the buffer's memory
MIN_CHUNK_ROWS = 64  # fewer rows per chunk would make the gradient matmuls inefficient
_BUFFERS: dict[tuple[str, torch.dtype], torch.Tensor] = {}  # reused (rows, V) logits storage


def _buffer(rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    """A (rows, cols) view of a cached flat buffer, grown when too small (never shrunk)."""
    key = (str(like.device), like.dtype)
    flat = _BUFFERS.get(key)
    if flat is None or flat.numel() < rows * cols:
        flat = torch.empty(rows * cols, dtype=like.dtype, device=like.device)
        _BUFFERS[key] = flat
    return flat[: rows * cols].view(rows, cols)


class _FusedLinearCrossEntropy(torch.autograd.Function):
    """mean_i CE(hidden_i @ weight.T + bias, targets_i); reserved ids never compete."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
    ) -> torch.Tensor:
        n, V = hidden.shape[0], weight.shape[0]
        grad_h = torch.empty_like(hidden)  # (n, D)
        grad_w = torch.zeros_like(weight)  # (V, D)
        grad_b = torch.zeros_like(bias) if bias is not None else None  # (V,)
        total = hidden.new_zeros(())
        rows = max(MIN_CHUNK_ROWS, CHUNK_ELEMENTS // V)
        for s in range(0, n, rows):
            h, t = hidden[s : s + rows], targets[s : s + rows]  # (c, D), (c,)
            total += _chunk(h, t, weight, bias, n, grad_h[s : s + rows], grad_w, grad_b)
        ctx.save_for_backward(grad_h, grad_w, grad_b if grad_b is not None else grad_h.new_empty(0))
        ctx.has_bias = bias is not None
        return total / n

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_h, grad_w, grad_b = ctx.saved_tensors
        return (
            grad_h * grad_out,
            grad_w * grad_out,
            grad_b * grad_out if ctx.has_bias else None,
            None,
        )


def _chunk(
    h: torch.Tensor,
    t: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    n: int,
    grad_h: torch.Tensor,
    grad_w: torch.Tensor,
    grad_b: torch.Tensor | None,
) -> torch.Tensor:
    """Summed loss of one chunk; writes grad_h and accumulates grad_w / grad_b (all for mean/n)."""
    c, V = h.shape[0], weight.shape[0]
    logits = _buffer(c, V, h)  # (c, V)
    torch.mm(h, weight.T, out=logits)
    if bias is not None:
        logits += bias
    logits[:, :NUM_RESERVED] = float("-inf")
    target_logit = logits.gather(1, t[:, None]).squeeze(1)  # (c,)
    top = logits.amax(dim=1, keepdim=True)  # (c, 1)
    logits.sub_(top).exp_()  # (c, V) unnormalised probabilities
    sums = logits.sum(dim=1, keepdim=True)  # (c, 1)
    scale = 1.0 / (sums * n)  # (c, 1): d loss / d logits = exp * scale - onehot / n
    torch.mm(logits, weight, out=grad_h)  # (c, D)
    grad_h.mul_(scale).sub_(weight[t] / n)
    grad_w.addmm_(logits.T, h * scale)  # (V, D)
    grad_w.index_add_(0, t, h, alpha=-1.0 / n)
    if grad_b is not None:
        grad_b.addmv_(logits.T, scale.squeeze(1))
        grad_b.index_add_(0, t, torch.full_like(target_logit, -1.0 / n))
    return (sums.log() + top).squeeze(1).sub(target_logit).sum()


def fused_full_softmax_loss(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor
) -> torch.Tensor:
    """Mean cross-entropy over real items, gradients computed in the forward pass.

    hidden (n, D), weight (V, D) the tied item embedding, bias (V,) or None, targets (n,) ids >= 3.
    """
    return _FusedLinearCrossEntropy.apply(hidden, weight, bias, targets)
