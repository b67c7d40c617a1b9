"""Objectives: causal targets are the next events; masking keeps >= 1 masked and >= 1 visible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.vocab import MASK, PAD
from core.model import BehaviorTransformer, ModelConfig
from core.training.config import TrainConfig
from core.training.objectives import CausalObjective, MaskedObjective, NspObjective
from core.training.synthetic import synthetic_sequences
from core.training.trainer import Trainer
from core.training.windows import FlatInputs, training_ends


def trainable(flat: FlatInputs, ends: np.ndarray) -> np.ndarray:
    """Users with >= 2 training events, the only ones the trainer feeds to an objective."""
    return np.flatnonzero(ends - flat.offsets[:-1] >= 2)


@pytest.fixture
def data() -> tuple[FlatInputs, np.ndarray, np.ndarray]:
    seqs = synthetic_sequences(num_users=40, min_len=3, max_len=15, seed=1)
    flat = FlatInputs.from_sequences(seqs, num_gap_buckets=32)
    return flat, training_ends(flat.offsets), seqs.sessions


def test_causal_targets_are_the_next_training_events(data) -> None:
    flat, ends, _ = data
    users = trainable(flat, ends)[:10]
    batch = CausalObjective(max_len=6).make_batch(flat, ends, users, np.random.default_rng(0))
    for b, u in enumerate(users):
        history = flat.items[flat.offsets[u] : ends[u]][-7:]  # last max_len + 1 training events
        n = len(history) - 1
        assert batch.inputs.items[b, :n].tolist() == history[:-1].tolist()
        assert batch.item_targets[b, :n].tolist() == history[1:].tolist()
        assert batch.target_mask[b].sum() == n
        assert (batch.inputs.items[b, n:] == PAD).all()


def test_causal_batch_never_sees_validation_or_test_events(data) -> None:
    flat, ends, _ = data
    users = trainable(flat, ends)
    batch = CausalObjective(max_len=50).make_batch(flat, ends, users, np.random.default_rng(0))
    last = batch.target_mask.sum(1) - 1
    last_targets = batch.item_targets[torch.arange(len(users)), last]
    assert last_targets.tolist() == flat.items[ends[users] - 1].tolist()


@pytest.mark.parametrize("seed", range(5))
def test_masking_keeps_one_masked_and_one_visible_event(data, seed: int) -> None:
    flat, ends, _ = data
    users = trainable(flat, ends)
    objective = MaskedObjective(max_len=8, mask_ratio=0.5, last_only_prob=0.3)
    batch = objective.make_batch(flat, ends, users, np.random.default_rng(seed))
    valid = batch.inputs.valid
    masked = batch.target_mask
    assert (masked.sum(1) >= 1).all()
    assert ((valid & ~masked).sum(1) >= 1).all()
    assert not (masked & ~valid).any()
    assert (batch.inputs.items[masked] == MASK).all()
    assert (batch.inputs.events[masked] == MASK).all()
    assert (batch.item_targets[masked] >= 3).all() and (batch.item_targets[~masked] == PAD).all()


def test_some_sequences_mask_only_their_last_event(data) -> None:
    flat, ends, _ = data
    objective = MaskedObjective(max_len=8, mask_ratio=0.2, last_only_prob=1.0)
    users = trainable(flat, ends)
    batch = objective.make_batch(flat, ends, users, np.random.default_rng(0))
    lengths = batch.inputs.valid.sum(1)
    assert (batch.target_mask.sum(1) == 1).all()
    assert (batch.target_mask[torch.arange(len(users)), lengths - 1]).all()


def test_nsp_pairs_are_labelled_consecutive_or_not(data) -> None:
    flat, ends, sessions = data
    batch = NspObjective(max_len=8, sessions=sessions).make_batch(
        flat, ends, trainable(flat, ends)[:20], np.random.default_rng(0)
    )
    segments = batch.inputs.segments
    assert set(batch.labels.tolist()) == {0, 1}
    assert ((segments == 1).sum(1) >= 1).all() and ((segments == 2).sum(1) >= 1).all()
    assert ((segments > 0) == batch.inputs.valid).all()
    first_b = (segments == 2).int().argmax(1)  # segment B follows segment A
    assert ((segments == 1).sum(1) == first_b).all()


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    seqs = synthetic_sequences(num_users=50)
    config = ModelConfig(num_items=len(seqs.item_vocab), dim=8, heads=1, layers=1, max_len=8)
    trainer = Trainer(BehaviorTransformer(config), seqs, TrainConfig(batch_size=8))
    first, again = trainer.epoch_batches(3), trainer.epoch_batches(3)
    assert all((a == b).all() for a, b in zip(first, again, strict=True))
    covered = np.sort(np.concatenate(first))
    assert covered.tolist() == sorted(trainer.users.tolist())
    assert not all((a == b).all() for a, b in zip(first, trainer.epoch_batches(4), strict=False))
