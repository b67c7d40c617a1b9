"""Sizes read off the data: dropout from the density of the histories."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.training.config import ModelOptions
from core.training.data_sizes import DENSE_DROPOUT, SPARSE_DROPOUT, density_dropout, sized_for_data


def sequences_with(lengths: list[int]) -> SimpleNamespace:
    return SimpleNamespace(offsets=np.concatenate([[0], np.cumsum(lengths)]))


def test_dense_logs_get_lighter_dropout() -> None:
    assert density_dropout(np.array([6, 9, 14])).value == SPARSE_DROPOUT
    dense = density_dropout(np.array([106] * 10))
    assert dense.value == DENSE_DROPOUT and "at or above" in dense.reason


def test_only_sizes_the_user_left_open_are_chosen() -> None:
    sequences = sequences_with([300] * 20)
    chosen, choices = sized_for_data(sequences, ModelOptions())
    assert (chosen.max_len, chosen.dropout) == (ModelOptions.max_len, DENSE_DROPOUT)
    assert [c.name for c in choices] == ["dropout"]
    mine, none = sized_for_data(sequences, ModelOptions(max_len=30, dropout=0.5))
    assert (mine.max_len, mine.dropout, none) == (30, 0.5, [])


def test_bad_sizes_set_by_hand_are_still_refused() -> None:
    with pytest.raises(ValueError, match="max_len"):
        ModelOptions(max_len=0)
    with pytest.raises(ValueError, match="dropout"):
        ModelOptions(dropout=1.5)
