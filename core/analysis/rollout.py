"""Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020).

Raw attention of one layer says where that layer looked, not how much of each input event reaches
a position after all layers and the residual stream. Rollout estimates that flow: average the
heads, add the identity for the residual connection, renormalise rows, and multiply the layers:

    A_l' = normalise_rows(0.5 * mean_heads(A_l) + 0.5 * I)
    R    = A_L' @ ... @ A_1'

Each row of R is a distribution over input events (rows sum to 1), so R[t, s] reads "share of
position t's representation that flows from event s".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def attention_rollout(attentions: Sequence[np.ndarray], residual: float = 0.5) -> np.ndarray:
    """(T, T) rollout from per-layer attention, each (H, T, T) for one sequence (or (T, T)).

    `residual` is the weight of the identity (0.5 in the paper); 0 gives the plain product.
    """
    if len(attentions) == 0:
        raise ValueError("attention rollout needs at least one layer of attention")
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must be in [0, 1], got {residual}")
    rollout: np.ndarray | None = None
    for layer in attentions:
        a = np.asarray(layer, dtype=np.float64)
        a = a.mean(axis=0) if a.ndim == 3 else a  # (T, T) heads averaged
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"each layer must be (H, T, T) or (T, T), got {np.shape(layer)}")
        mixed = (1.0 - residual) * a + residual * np.eye(len(a))  # (T, T)
        mixed = mixed / mixed.sum(axis=-1, keepdims=True)  # (T, T) rows sum to 1
        rollout = mixed if rollout is None else mixed @ rollout  # (T, T)
    assert rollout is not None
    return rollout
