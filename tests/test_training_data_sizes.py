"""Sizes read off the data: max_len from the history lengths, dropout from their density."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.training.config import ModelOptions
from core.training.data_sizes import (
    DENSE_DROPOUT,
    MAX_LEN_CEILING,
    MAX_LEN_FLOOR,
    SPARSE_DROPOUT,
    density_dropout,
    history_max_len,
    sized_for_data,
)


def sequences_with(lengths: list[int]) -> SimpleNamespace:
    return SimpleNamespace(offsets=np.concatenate([[0], np.cumsum(lengths)]))


@pytest.mark.parametrize(
    ("lengths", "expected"),
    [
        ([3] * 85 + [14] * 10 + [400] * 5, MAX_LEN_FLOOR),  # Beauty-like: sparse keeps 50
        (list(range(1, 101)), 100),  # p90 = 90.1, rounded up to a multiple of 10
        ([150] * 50 + [2000] * 50, MAX_LEN_CEILING),  # long histories stop at the ceiling
        ([1], MAX_LEN_FLOOR),  # one user, one event
    ],
)
def test_max_len_covers_most_histories_within_bounds(lengths: list[int], expected: int) -> None:
    choice = history_max_len(np.array(lengths))
    assert choice.name == "max_len" and choice.value == expected
    assert "90% of users" in choice.reason


def test_dense_logs_get_lighter_dropout() -> None:
    assert density_dropout(np.array([6, 9, 14])).value == SPARSE_DROPOUT
    dense = density_dropout(np.array([106] * 10))
    assert dense.value == DENSE_DROPOUT and "at or above" in dense.reason


def test_only_sizes_the_user_left_open_are_chosen() -> None:
    sequences = sequences_with([300] * 20)
    chosen, choices = sized_for_data(sequences, ModelOptions())
    assert (chosen.max_len, chosen.dropout) == (MAX_LEN_CEILING, DENSE_DROPOUT)
    assert [c.name for c in choices] == ["max_len", "dropout"]
    mine, none = sized_for_data(sequences, ModelOptions(max_len=30, dropout=0.5))
    assert (mine.max_len, mine.dropout, none) == (30, 0.5, [])


def test_bad_sizes_set_by_hand_are_still_refused() -> None:
    with pytest.raises(ValueError, match="max_len"):
        ModelOptions(max_len=0)
    with pytest.raises(ValueError, match="dropout"):
        ModelOptions(dropout=1.5)
