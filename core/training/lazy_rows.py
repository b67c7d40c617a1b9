"""AdamW that updates the item table only where a step read it, with a dense step's result.

Why: a sampled-softmax step reads a few thousand rows of the item table, yet a dense AdamW step
zero-fills, sums, clips and updates all of them, plus both moment tensors: seven passes over
(V, D) floats per step, whatever the batch. Once the table outgrows the CPU's cache that
dominates: on the 10M-event scale log (170,749 items) a step took 182 ms dense against 122 ms
here, 1.49x the events per second; on Amazon Beauty (54,545 items, 11 MB per tensor, inside
this CPU's L3 cache) both ran at the same speed (bench/RESULTS.md, "Training speed"). Lazy
optimisers (TensorFlow's LazyAdam, `torch.optim.SparseAdam`) skip the untouched rows, but that
changes the optimiser: with betas (0.9, 0.98) a row keeps moving on its momentum for ~10 steps
after its last gradient, and lazy Adam drops all of that movement.

How: a row with no gradient for j steps only decays, m_j = b1^j m, v_j = b2^j v, so AdamW moves
it at step s by a_s r^j m / (sqrt(v) + e_s b2^(-j/2)), with r = b1 / sqrt(b2), a_s = lr_s
sqrt(1 - b2^s) / (1 - b1^s) and e_s = eps sqrt(1 - b2^s). Summed from a row's last step t0 to
now, that is C(t0) m / (sqrt(v) + E(t0) / C(t0)) with C(t0) = sum_s a_s r^(s - t0) and
E(t0) = sum_s a_s e_s (b1 / b2)^(s - t0): exact while eps is small against sqrt(v) (always
but for gradients near 1e-8), and damped like AdamW's own steps below that. Both sums are one
number per t0, kept in a float64 array and updated for the last `window` t0s at every step
(later terms are below 1e-12 of the first). So each step first brings the rows it is about to
read up to date (`catch_up`), then applies the usual AdamW update to the rows with a gradient;
`sync` brings every row up to date before anything else reads the weights (evaluation,
checkpoints, the end). After `sync` the state is a `torch.optim.AdamW` state, so checkpoints
are interchangeable with the dense optimiser's (tested against it step by step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

NEGLIGIBLE = 1e-12  # r^window below this: older momentum no longer moves a row
SYNC_ROWS = 65_536  # rows caught up at a time by `sync`: its memory stays a batch's, not V's


class LazyRowAdamW(torch.optim.AdamW):
    """`torch.optim.AdamW` whose `table` parameter (no weight decay) takes row-sparse gradients."""

    def __init__(self, params: Iterable[Any], table: nn.Parameter, **adamw: Any) -> None:
        super().__init__(params, **adamw)
        self.table = table
        group = self._group_of(table)
        if group["weight_decay"] or group["amsgrad"] or group["maximize"]:
            raise ValueError("lazy rows need plain AdamW without weight decay on the table")
        beta1, beta2 = group["betas"]
        if not 0.0 <= beta1 < beta2 < 1.0:
            raise ValueError(f"betas {group['betas']}: lazy rows need b1 < b2 (momentum fades)")
        ratios = np.array([[beta1 / math.sqrt(beta2)], [beta1 / beta2]])  # (2, 1): r, and E's
        slowest = float(ratios.max())
        self.window = 1 if slowest == 0 else math.ceil(math.log(NEGLIGIBLE) / math.log(slowest))
        self._fading = ratios ** np.arange(self.window, 0, -1)  # (2, W): ratio^W .. ratio^1
        self._reset_rows()

    # --- what the trainer calls ---------------------------------------------------------

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """A dense AdamW step for every parameter but the table; a row step for the table."""
        grad = self.table.grad
        self.table.grad = None  # AdamW skips parameters without a gradient
        try:
            loss = super().step(closure)
        finally:
            self.table.grad = grad
        if grad is not None:
            self._row_step(grad)
        return loss

    @torch.no_grad()
    def catch_up(self, rows: torch.Tensor) -> None:
        """Applies the steps `rows` (unique ids) missed, so reading them now sees dense AdamW's."""
        rows = rows.cpu()  # the bookkeeping lives on the CPU, the table wherever it is
        last = self._last[rows]  # (U,)
        behind = last < self._done
        if not bool(behind.any()):
            return
        rows, last = rows[behind], last[behind]
        self._last[rows] = self._done
        state = self._table_state()
        table = self.table.detach().view(self.table.shape[0], -1)  # (V, D) even for a (V,) bias
        at = rows.to(table.device)
        exp_avg, exp_avg_sq = state["exp_avg"].view_as(table), state["exp_avg_sq"].view_as(table)
        m, v = exp_avg.index_select(0, at), exp_avg_sq.index_select(0, at)  # (U, D)
        sums = torch.from_numpy(self._coef[:, (last - self._base).numpy()]).to(table)  # (2, U)
        moves = sums[0][:, None]  # (U, 1) C(t0): > 0 once a step with lr > 0 was missed
        damping = (sums[1] / sums[0].clamp_min(torch.finfo(sums.dtype).tiny))[:, None]  # E / C
        denom = v.sqrt().add_(damping)  # (U, D)
        direction = torch.where(denom > 0, m / denom, torch.zeros_like(m))  # (U, D)
        table.index_add_(0, at, direction.mul_(-moves))
        missed = (self._done - last).to(torch.float64)  # (U,)
        beta1, beta2 = self._group_of(self.table)["betas"]
        exp_avg.index_copy_(0, at, m.mul_((beta1**missed).to(m)[:, None]))
        exp_avg_sq.index_copy_(0, at, v.mul_((beta2**missed).to(v)[:, None]))

    @torch.no_grad()
    def sync(self) -> None:
        """Brings every row up to date: the table and its moments are then dense AdamW's."""
        for start in range(0, self.table.shape[0], SYNC_ROWS):
            self.catch_up(torch.arange(start, min(start + SYNC_ROWS, self.table.shape[0])))
        self._base, self._coef[:, 0] = self._done, 0.0

    def state_dict(self) -> dict[str, Any]:
        """AdamW's state dict, taken after `sync` (it only means something in sync)."""
        self.sync()
        return super().state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._reset_rows()

    # --- internals ----------------------------------------------------------------------

    def _reset_rows(self) -> None:
        """Every row in sync at the table's step count (a fresh or just-loaded state)."""
        state = self.state.get(self.table)
        self._done = int(state["step"]) if state else 0  # table steps taken
        self._last = torch.full((self.table.shape[0],), self._done, dtype=torch.long)  # (V,)
        self._base = self._done  # step of _coef[0]
        self._coef = np.zeros((2, 1024))  # C(t0), E(t0) at column t0 - _base, t0 <= _done

    def _row_step(self, grad: torch.Tensor) -> None:
        """AdamW's update of the rows with a gradient, then the others' pending move grows."""
        if not grad.is_sparse:  # a dense gradient: its non-zero rows (the others only decay)
            grad = grad.to_sparse(sparse_dim=1)
        grad = grad.coalesce()
        rows, values = grad.indices()[0], grad.values().reshape(len(grad.indices()[0]), -1)
        self.catch_up(rows)
        group, state = self._group_of(self.table), self._table_state()
        beta1, beta2 = group["betas"]
        lr, eps, s = float(group["lr"]), group["eps"], self._done + 1
        correction1, correction2 = 1.0 - beta1**s, 1.0 - beta2**s
        table = self.table.detach().view(self.table.shape[0], -1)  # (V, D)
        exp_avg, exp_avg_sq = state["exp_avg"].view_as(table), state["exp_avg_sq"].view_as(table)
        m = exp_avg.index_select(0, rows).mul_(beta1).add_(values, alpha=1.0 - beta1)  # (U, D)
        v = exp_avg_sq.index_select(0, rows).mul_(beta2)
        v.addcmul_(values, values, value=1.0 - beta2)  # (U, D)
        denom = (v.sqrt() / math.sqrt(correction2)).add_(eps)
        table.index_add_(0, rows, (m / denom).mul_(-lr / correction1))
        exp_avg.index_copy_(0, rows, m)
        exp_avg_sq.index_copy_(0, rows, v)
        state["step"].fill_(s)
        self._last[rows.cpu()] = s
        move = lr * math.sqrt(correction2) / correction1  # a_s
        self._advance(np.array([[move], [move * eps * math.sqrt(correction2)]]))

    def _advance(self, moves: np.ndarray) -> None:
        """Step `_done + 1` is taken: rows last stepped at t0 owe it (a_s, a_s e_s) x ratios^j."""
        s = self._done + 1
        if s - self._base >= self._coef.shape[1]:  # grow by doubling: amortised O(1) per step
            self._coef = np.concatenate([self._coef, np.zeros_like(self._coef)], axis=1)
        lo = max(self._base, s - self.window)
        fading = self._fading[:, self.window - (s - lo) :]  # (2, s - lo)
        self._coef[:, lo - self._base : s - self._base] += moves * fading
        self._coef[:, s - self._base] = 0.0
        self._done = s

    def _table_state(self) -> dict[str, torch.Tensor]:
        """The table's AdamW state, created as AdamW would on its first gradient."""
        state = self.state[self.table]
        if not state:
            fused = self._group_of(self.table)["fused"]
            state["step"] = (
                torch.zeros((), dtype=torch.float32, device=self.table.device)
                if fused
                else torch.tensor(0.0, dtype=torch.float32)
            )
            state["exp_avg"] = torch.zeros_like(self.table, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(self.table, memory_format=torch.preserve_format)
        return state

    def _group_of(self, param: nn.Parameter) -> dict[str, Any]:
        for group in self.param_groups:
            if any(p is param for p in group["params"]):
                return group
        raise ValueError("the table is not among the optimiser's parameters")
