"""Full-softmax cross-entropy fused with the tied output projection, for CPU speed.

`F.cross_entropy(hidden @ weight.T, targets)` materialises an (n, V) logits tensor, a second
(n, V) log-softmax, zero-fills a third for the NLL backward, and runs log-softmax backward over
it: five or six passes over a tensor of tens of megabytes, which on a CPU cost more than the
matmuls. Here the forward pass computes the loss and both gradients at once, chunk by chunk, in
one reused buffer (no fresh allocation and page faults per step): logits -> exp(logits - max)
in place -> the two gradient matmuls with the 1 / (n * sum) row scale folded into the small
operand. Backward only scales the stored gradients. Same result as the unfused loss (tested).
The same trick is known as "fused linear cross-entropy" (e.g. Liger-Kernel, Cut Cross-Entropy).

With `compute_dtype=torch.bfloat16` the three big matmuls and the exp pass run on bf16 copies of
the operands (accumulation stays float32 inside the matmul; gradients are returned in float32),
which halves the memory traffic and uses the CPU's bf16 dot products where it has them
(core.model.precision decides). The logits then carry bf16 rounding (~3 significant digits), as
under autocast on a GPU.
"""

from __future__ import annotations

from typing import Any

import torch

from core.data.vocab import NUM_RESERVED

CHUNK_ELEMENTS = 1 << 25  # logits per chunk (128 MiB float32): bounds the buffer's memory
MIN_CHUNK_ROWS = 64  # fewer rows per chunk would make the gradient matmuls inefficient
_BUFFERS: dict[tuple[str, torch.dtype], torch.Tensor] = {}  # reused (rows, V) logits storage


def reusable_buffer(rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
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
        compute_dtype: torch.dtype,
    ) -> torch.Tensor:
        n, V = hidden.shape[0], weight.shape[0]
        weight_c = weight.detach().to(compute_dtype)  # (V, D), a copy only when bf16
        grad_h = torch.empty_like(hidden)  # (n, D)
        grad_w = torch.zeros_like(weight)  # (V, D)
        grad_b = torch.zeros_like(bias) if bias is not None else None  # (V,)
        total = hidden.new_zeros(())
        rows = max(MIN_CHUNK_ROWS, CHUNK_ELEMENTS // V)
        for s in range(0, n, rows):
            h, t = hidden[s : s + rows], targets[s : s + rows]  # (c, D), (c,)
            total += _chunk(h, t, weight, weight_c, bias, n, grad_h[s : s + rows], grad_w, grad_b)
        # Kept on ctx, not save_for_backward: backward hands them over and drops its reference,
        # so autograd adopts the (V, D) gradient as weight.grad instead of copying it.
        ctx.grads = [grad_h, grad_w, grad_b]
        return total / n

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grads, ctx.grads = ctx.grads, None  # the only references left are ours
        if grad_out.device.type != "cpu" or grad_out.item() != 1.0:  # usually 1: skip V x D pass
            grads = [g * grad_out if g is not None else None for g in grads]
        return (*grads, None, None)


def _chunk(
    h: torch.Tensor,
    t: torch.Tensor,
    weight: torch.Tensor,
    weight_c: torch.Tensor,
    bias: torch.Tensor | None,
    n: int,
    grad_h: torch.Tensor,
    grad_w: torch.Tensor,
    grad_b: torch.Tensor | None,
) -> torch.Tensor:
    """Summed loss of one chunk; writes grad_h and accumulates grad_w / grad_b (all for mean/n).

    `weight_c` is `weight` in the compute dtype (the same tensor when that is float32).
    """
    c, V = h.shape[0], weight.shape[0]
    low = weight_c.dtype != weight.dtype
    logits = reusable_buffer(c, V, weight_c)  # (c, V)
    torch.mm(h.to(weight_c.dtype), weight_c.T, out=logits)
    if bias is not None:
        logits += bias
    logits[:, :NUM_RESERVED] = float("-inf")
    target_logit = logits.gather(1, t[:, None]).squeeze(1).float()  # (c,)
    top = logits.amax(dim=1, keepdim=True)  # (c, 1)
    logits.sub_(top).exp_()  # (c, V) unnormalised probabilities
    sums = logits.sum(dim=1, keepdim=True).float()  # (c, 1)
    scale = 1.0 / (sums * n)  # (c, 1): d loss / d logits = exp * scale - onehot / n
    if low:
        grad_h.copy_(torch.mm(logits, weight_c)).mul_(scale).sub_(weight[t] / n)  # (c, D)
        grad_w.add_(torch.mm(logits.T, (h * scale).to(weight_c.dtype)))  # (V, D)
    else:
        torch.mm(logits, weight, out=grad_h)  # (c, D)
        grad_h.mul_(scale).sub_(weight[t] / n)
        grad_w.addmm_(logits.T, h * scale)  # (V, D)
    grad_w.index_add_(0, t, h, alpha=-1.0 / n)
    if grad_b is not None:
        grad_b.add_(torch.mv(logits.T, scale.squeeze(1).to(weight_c.dtype)))
        grad_b.index_add_(0, t, torch.full_like(target_logit, -1.0 / n))
    return (sums.log() + top.float()).squeeze(1).sub(target_logit).sum()


def fused_full_softmax_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    compute_dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Mean cross-entropy over real items, gradients computed in the forward pass.

    hidden (n, D), weight (V, D) the tied item embedding, bias (V,) or None, targets (n,) ids >= 3.
    `compute_dtype` bfloat16 runs the matmuls in bf16 (see the module docstring).
    """
    return _FusedLinearCrossEntropy.apply(hidden, weight, bias, targets, compute_dtype)
