"""Ranking metrics against hand-computed cases, ties included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.evaluation.metrics import expected_metrics, mean_metrics, rank_counts


def test_rank_counts_strictly_greater_and_ties() -> None:
    scores = np.array([[0.9, 0.5, 0.5, 0.1, 0.5]])
    greater, ties = rank_counts(scores, np.array([0.5]))
    assert greater.tolist() == [1]  # only 0.9 beats the target
    assert ties.tolist() == [2]  # two other items tie with the target (itself excluded)


def test_rank_counts_ignores_non_candidates() -> None:
    scores = np.array([[0.9, 0.5, 0.7, 0.1]])
    candidates = np.array([[False, True, True, True]])
    greater, ties = rank_counts(scores, np.array([0.5]), candidates)
    assert (greater.tolist(), ties.tolist()) == ([1], [0])


def test_nan_scores_never_win() -> None:
    scores = np.array([[np.nan, 0.2, 0.1], [0.3, np.nan, 0.1]])
    greater, ties = rank_counts(scores, np.array([0.1, np.nan]))
    assert greater.tolist() == [1, 2]  # NaN candidate ignored; NaN target loses to every number
    assert ties.tolist() == [0, 0]


def test_target_missing_from_candidates_is_an_error() -> None:
    with pytest.raises(ValueError, match="not among"):
        rank_counts(np.array([[0.1, 0.2]]), np.array([0.5]))


def test_single_rank_values_by_hand() -> None:
    # 0-based ranks 0, 1, 4, 12 without ties
    m = expected_metrics(np.array([0, 1, 4, 12]), np.zeros(4, dtype=int), ks=(5, 10))
    assert m["hr@5"].tolist() == [1, 1, 1, 0]
    assert m["hr@10"].tolist() == [1, 1, 1, 0]
    expected_ndcg = [1.0, 1 / math.log2(3), 1 / math.log2(6), 0.0]
    np.testing.assert_allclose(m["ndcg@10"], expected_ndcg)
    np.testing.assert_allclose(m["mrr"], [1.0, 0.5, 0.2, 1 / 13])


def test_ties_average_over_the_tied_ranks() -> None:
    # 1 item above, 2 tied: rank uniform on {1, 2, 3}
    m = expected_metrics(np.array([1]), np.array([2]), ks=(2,))
    assert m["hr@2"][0] == pytest.approx(1 / 3)  # only rank 1 is < 2
    assert m["ndcg@2"][0] == pytest.approx((1 / math.log2(3)) / 3)
    assert m["mrr"][0] == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)


def test_constant_scorer_gets_random_guess_not_perfect() -> None:
    num_items, k = 50, 10
    scores = np.zeros((3, num_items))
    greater, ties = rank_counts(scores, scores[:, 0])
    m = mean_metrics(greater, ties, ks=(k,))
    assert m["hr@10"] == pytest.approx(k / num_items)
    assert m["mrr"] == pytest.approx(sum(1 / r for r in range(1, num_items + 1)) / num_items)
    assert m["mean_rank"] == pytest.approx((num_items - 1) / 2)


def test_mean_metrics_empty_is_zero() -> None:
    m = mean_metrics(np.array([], dtype=int), np.array([], dtype=int))
    assert m["hr@10"] == 0.0 and m["mrr"] == 0.0
