"""Sizes read off the data: dropout and the masked share from the length of the histories."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.training.config import ModelOptions, TrainConfig
from core.training.data_sizes import (
    DENSE_DROPOUT,
    MASKED_DROPOUT,
    SPARSE_DROPOUT,
    density_dropout,
    hidden_share,
    sized_for_data,
    sized_training,
)


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


def test_the_masked_objective_takes_its_own_dropout_on_any_log() -> None:
    for lengths in ([8] * 20, [300] * 20):
        chosen, choices = sized_for_data(sequences_with(lengths), ModelOptions(), "masked")
        assert chosen.dropout == MASKED_DROPOUT and "masked" in choices[0].reason
    mine, none = sized_for_data(sequences_with([8] * 20), ModelOptions(dropout=0.3), "masked")
    assert (mine.dropout, none) == (0.3, [])


def test_bad_sizes_set_by_hand_are_still_refused() -> None:
    with pytest.raises(ValueError, match="max_len"):
        ModelOptions(max_len=0)
    with pytest.raises(ValueError, match="dropout"):
        ModelOptions(dropout=1.5)


def test_masked_share_hides_about_five_events_per_history_read() -> None:
    # BERT4Rec's own per-dataset choices come out: Beauty 0.6, Steam 0.4, MovieLens 0.2
    assert hidden_share(np.array([8, 9, 9]), max_len=50).value == 0.6  # 0.58, to a tenth
    assert hidden_share(np.array([2, 3, 3]), max_len=50).value == 0.6  # capped
    assert hidden_share(np.array([12, 13]), max_len=50).value == 0.4
    assert hidden_share(np.array([160, 170]), max_len=200).value == 0.2  # floor
    assert hidden_share(np.array([160, 170]), max_len=10).value == 0.5  # only 10 are read
    assert "hides 40%" in hidden_share(np.array([12, 13]), max_len=50).reason


def test_masked_share_is_chosen_only_for_the_masked_objective_left_open() -> None:
    sequences = sequences_with([10] * 20)
    masked, choices = sized_training(sequences, TrainConfig(objective="masked"), max_len=50)
    assert masked.mask_ratio == 0.5 and [c.name for c in choices] == ["mask_ratio"]
    mine, none = sized_training(
        sequences, TrainConfig(objective="masked", mask_ratio=0.3), max_len=50
    )
    assert (mine.mask_ratio, none) == (0.3, [])
    causal, none = sized_training(sequences, TrainConfig(), max_len=50)
    assert (causal.mask_ratio, none) == (None, [])
    with pytest.raises(ValueError, match="mask_ratio"):
        TrainConfig(mask_ratio=1.0)
