"""Exact top-k next items with their softmax probabilities, without a (users, items) matrix.

Why its own module: scoring every user against every item is the cost of `predict --all`
(200k users x 171k items = 34 billion logits on the 10M-event scale log), and the obvious
`softmax(h @ W.T + b).topk(k)` spends most of its time in passes over the logits, not in the
matmul: a `topk` and a `logsumexp` (max, subtract, exp, sum) per block of items. Here each block
of logits is made and read as few times as possible:

- the bias and a per-row shift are folded into the matmul (`[h, 1, -shift] @ [W, b, 1].T`), so
  the block comes out as `logit - shift`, ready for `exp`;
- one `max` pass per block tells which rows have a logit above their current k-th best; only
  those rows run `topk` (after the first blocks, almost none);
- the normaliser is an online log-sum-exp (the FlashAttention trick): `exp` in place and a row
  sum, with the running sum rescaled on the rare rows whose maximum moved up.

The numbers are those of `head.predict(hidden).topk(k)` (probabilities to float32 rounding).
Ids below `head.never_ranked` (reserved, no-item) are never candidates.
"""

from __future__ import annotations

from typing import Any

import torch

ITEM_BLOCK = 4096  # items scored at once: the (rows, block) logits and weight block stay in cache


class ItemTopK:
    """Prepared once per item head: the augmented weight `[W, b, 1]` over the rankable items."""

    def __init__(self, head: Any, item_block: int = ITEM_BLOCK) -> None:
        weight = head.embedding.weight.detach()  # (V, D)
        first = head.never_ranked
        rankable = weight[first:].float()  # (V', D)
        bias = head.bias
        bias = (
            bias.detach()[first:].float() if bias is not None else rankable.new_zeros(len(rankable))
        )
        ones = rankable.new_ones(len(rankable))
        self.weight = torch.cat([rankable, bias[:, None], ones[:, None]], dim=1)  # (V', D + 2)
        self.first = first
        self.item_block = item_block

    @property
    def num_items(self) -> int:
        return self.weight.shape[0]

    def __call__(self, hidden: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(r, k) best item ids (vocabulary ids) and their probabilities, from (r, D) states."""
        rows = hidden.shape[0]
        k = min(k, self.num_items)
        shift = hidden.new_zeros(rows, dtype=torch.float32)  # (r,) max logit so far
        query = torch.cat(  # (r, D + 2): [h, 1, -shift]
            [hidden.float(), shift.new_ones(rows, 1), -shift[:, None]], dim=1
        )
        best = _Best(rows, k, hidden.device)
        total = shift.new_zeros(rows)  # (r,) sum of exp(logit - shift)
        for start in range(0, self.num_items, self.item_block):
            block = self.weight[start : start + self.item_block]  # (b, D + 2)
            logits = query @ block.T  # (r, b) logit - shift used for this block
            top = torch.amax(logits, dim=1) + shift  # (r,) the block's best logit (no argmax)
            best.update(logits, shift, top, start + self.first)
            # The first block sets the shift (logits may all be far below 0); later ones raise it.
            new_shift = top if start == 0 else torch.maximum(shift, top)  # (r,)
            delta = new_shift - shift  # (r,)
            if bool((delta != 0).any()):  # rescale the sum and this block's logits
                if start > 0:  # the first block has no sum yet (exp(-delta) may be inf)
                    total = total * torch.exp(-delta)
                logits.sub_(delta[:, None])
                shift = new_shift
                query[:, -1] = -shift
            total = total + logits.exp_().sum(dim=1)
        return best.ids, torch.exp(best.values - shift[:, None]) / total[:, None]


class _Best:
    """The running k best (absolute) logits per row and their ids."""

    def __init__(self, rows: int, k: int, device: torch.device) -> None:
        self.k = k
        self.values = torch.full((rows, k), float("-inf"), device=device)  # (r, k) best first
        self.ids = torch.zeros((rows, k), dtype=torch.int64, device=device)  # (r, k)

    def update(self, logits: torch.Tensor, shift: torch.Tensor, top: torch.Tensor, first: int):
        """Merges a block's (r, b) `logits - shift` into the k best, on rows that can improve."""
        rows = torch.nonzero(top > self.values[:, -1]).flatten()  # rows with a new candidate
        if len(rows) == 0:
            return
        width = min(self.k, logits.shape[1])
        found = torch.topk(logits[rows], width, dim=1)  # (n, width)
        values = torch.cat([self.values[rows], found.values + shift[rows, None]], dim=1)
        ids = torch.cat([self.ids[rows], found.indices + first], dim=1)  # (n, k + width)
        keep = torch.topk(values, self.k, dim=1)  # (n, k)
        self.values[rows] = keep.values
        self.ids[rows] = ids.gather(1, keep.indices)
