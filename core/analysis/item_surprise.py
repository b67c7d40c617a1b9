"""-log p(observed item) under the model, exact on small catalogues and estimated on large ones.

The exact value needs the log-sum-exp of the logits of every item, (n, V) per batch: at 170k
items that is ~22 MFLOP per scored event, an hour for a 10M-event log on a laptop CPU. Above
`EXACT_ITEMS` the normaliser is estimated by importance sampling (one shared draw of `SAMPLES`
items per batch from q = half popularity, half uniform, so popular items, which carry most of
the mass, are seldom missed and every item can be drawn):
    Z ≈ exp(s_target) + mean_k exp(s_k) / q_k   over the K sampled k
(a draw of the target itself is not removed: at K/V ≈ 1% it adds well under 1% to Z).
Measured on the 10M-event scale log (170k items; 11k events of 500 users): mean
|estimate - exact| 0.067 nats on a mean of 8.27, correlation 0.9997. Anomaly scores use
surprise only through robust z-scores (median / MAD over sessions), which that noise does not
move.
"""

from __future__ import annotations

import numpy as np
import torch

from core.model.transformer import BehaviorTransformer

EXACT_ITEMS = 20_000  # catalogues up to this size get the exact normaliser
SAMPLES = 1_024  # items drawn per batch (~6k events) for the estimate


class ItemSurprise:
    """Per-event item NLL for one model and one log's item popularity."""

    def __init__(self, model: BehaviorTransformer, item_counts: np.ndarray, seed: int = 0):
        self.model = model
        self.never = model.item_head.never_ranked  # reserved ids and NO_ITEM are never items
        num_items = len(item_counts)
        self.exact = num_items - self.never <= EXACT_ITEMS
        self.generator = torch.Generator().manual_seed(seed)
        weights = np.asarray(item_counts, dtype=np.float64).copy()
        weights[: self.never] = 0.0
        popular = weights / max(weights.sum(), 1.0)
        uniform = np.zeros(num_items)
        uniform[self.never :] = 1.0 / max(num_items - self.never, 1)
        self.q = torch.from_numpy(0.5 * popular + 0.5 * uniform)  # (V,) float64, drawn on CPU
        device = model.item_head.embedding.weight.device
        with np.errstate(divide="ignore"):  # never-ranked ids have q = 0 and are never drawn
            log_qk = np.log(self.q.numpy() * SAMPLES)
        self.log_qk = torch.from_numpy(log_qk).float().to(device)  # (V,) once, not per batch

    def nll(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(n,) -log p(target | state); +inf where the head never predicts the target."""
        if self.exact:
            logp = torch.log_softmax(self.model.item_head(hidden).float(), dim=-1)  # (n, V)
            return -logp.gather(1, targets[:, None]).squeeze(1)
        weight = self.model.item_head.embedding.weight  # (V, D)
        bias = self.model.item_head.bias
        target_logit = (hidden * weight[targets]).sum(-1).float()  # (n,)
        if bias is not None:
            target_logit = target_logit + bias[targets].float()
        drawn = torch.multinomial(self.q, SAMPLES, replacement=True, generator=self.generator)
        drawn = drawn.to(hidden.device)  # (K,)
        logits = (hidden @ weight[drawn].T).float()  # (n, K)
        if bias is not None:
            logits = logits + bias[drawn].float()
        others = torch.logsumexp(logits - self.log_qk[drawn], dim=1)  # (n,) sampled estimate
        nll = torch.logaddexp(target_logit, others) - target_logit  # (n,)
        return nll.masked_fill(targets < self.never, float("inf"))
