"""Ranking metrics (HR@K, NDCG@K, MRR) from where the target lands among the candidates.

Ties: a model that gives the target the same score as other candidates must not be credited
with the best position among them (a constant model would then score perfectly), nor punished
with the worst. We report the exact expected metric under uniformly random tie-breaking: with
`greater` candidates scored strictly above the target and `ties` others scored equal to it, the
target's 0-based rank is uniform on greater..greater+ties, and each metric is averaged over
those ranks. A constant scorer therefore gets exactly the HR@K of random guessing (K/N).
NaN scores count as -inf (worst), never as a win.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def rank_counts(
    scores: np.ndarray,
    target_scores: np.ndarray,
    candidates: np.ndarray | None = None,
    allow_absent_target: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: candidates scored strictly above the target, and others tied with it.

    `scores` is (B, C); `target_scores` is (B,) and must be included in `scores` exactly once per
    row among the candidates (it is subtracted from the tie count), unless `allow_absent_target`
    (then ties may come out as -1, meaning "none"). `candidates` is an optional (B, C) boolean
    mask of the entries that compete; the rest are ignored.
    """
    scores = _finite_or_worst(np.asarray(scores))  # (B, C)
    target = _finite_or_worst(np.asarray(target_scores))[:, None]  # (B, 1)
    above = scores > target  # (B, C)
    equal = scores == target  # (B, C)
    if candidates is not None:
        above &= candidates
        equal &= candidates
    greater = np.count_nonzero(above, axis=1)  # (B,) (faster than sum on booleans)
    ties = np.count_nonzero(equal, axis=1) - 1  # (B,) the target ties with itself
    if not allow_absent_target and (ties < 0).any():
        raise ValueError("a target score is not among its row's candidates")
    return greater.astype(np.int64), ties.astype(np.int64)


def expected_metrics(
    greater: np.ndarray, ties: np.ndarray, ks: Iterable[int] = (10,)
) -> dict[str, np.ndarray]:
    """Per-row expected HR@K, NDCG@K (for each K) and MRR under random tie-breaking."""
    greater = np.asarray(greater, dtype=np.int64)  # (B,)
    ties = np.asarray(ties, dtype=np.int64)  # (B,)
    span = ties + 1  # (B,) number of equally likely ranks
    last = greater + span  # (B,) one past the worst possible rank
    n = int(last.max(initial=0)) + 1
    ranks = np.arange(n, dtype=np.float64)
    # cumulative sums over 0-based ranks r of the per-rank gains, prefixed with 0
    discount = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(ranks + 2.0))])  # (n + 1,)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / (ranks + 1.0))])  # (n + 1,)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        lo, hi = np.minimum(greater, k), np.minimum(last, k)  # ranks r < k that are possible
        out[f"hr@{k}"] = (hi - lo) / span
        out[f"ndcg@{k}"] = (discount[hi] - discount[lo]) / span
    out["mrr"] = (harmonic[last] - harmonic[greater]) / span
    return out


def mean_metrics(
    greater: np.ndarray, ties: np.ndarray, ks: Iterable[int] = (10,)
) -> dict[str, float]:
    """Expected metrics averaged over rows, plus the mean 0-based rank (ties counted as half)."""
    per_row = expected_metrics(greater, ties, ks)
    means = {name: float(values.mean()) if len(values) else 0.0 for name, values in per_row.items()}
    means["mean_rank"] = float(np.mean(greater + ties / 2.0)) if len(greater) else 0.0
    return means


def _finite_or_worst(values: np.ndarray) -> np.ndarray:
    """Replace NaN by -inf so an undefined score can never outrank or tie a real one."""
    values = values.astype(np.result_type(values.dtype, np.float32), copy=False)
    return np.where(np.isnan(values), -np.inf, values) if np.isnan(values).any() else values
