"""Length bucketing: the same loss per user whatever the batch-mates and padding, every user
once per epoch, seeded order, and shards under two ranks that partition each global batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.data.vocab import PAD
from core.model import BehaviorTransformer, ModelConfig
from core.model.transformer import EncoderInput
from core.training.bucketing import SORT_WINDOW, bucketed_batches, padding_share
from core.training.distributed import DistContext
from core.training.objectives import CausalObjective, MaskedObjective, ObjectiveBatch
from core.training.sampler import DistributedBatchSampler
from core.training.synthetic import synthetic_sequences
from core.training.windows import FlatInputs, training_ends

MAX_LEN = 12


@pytest.fixture(scope="module")
def data() -> tuple[FlatInputs, np.ndarray, np.ndarray]:
    seqs = synthetic_sequences(num_users=60, min_len=3, max_len=20, seed=3)
    flat = FlatInputs.from_sequences(seqs, num_gap_buckets=32)
    ends = training_ends(flat.offsets)
    users = np.flatnonzero(ends - flat.offsets[:-1] >= 2)
    return flat, ends, users


def _model(flat: FlatInputs, mode: str) -> BehaviorTransformer:
    torch.manual_seed(0)
    config = ModelConfig(
        num_items=int(flat.items.max()) + 1,
        num_events=int(flat.events.max()) + 1,
        max_len=MAX_LEN,
        dim=16,
        layers=2,
        heads=2,
        dropout=0.0,
        mode=mode,
    )
    return BehaviorTransformer(config).eval()


def _per_example_loss(model: BehaviorTransformer, batch: ObjectiveBatch) -> torch.Tensor:
    """(B,) item cross-entropy summed over each row's targets (full softmax)."""
    with torch.no_grad():
        hidden = model(batch.inputs).hidden  # (B, T, D)
    rows = batch.target_mask.nonzero()[:, 0]  # (n,) row of each target
    logits = model.item_head(hidden[batch.target_mask])  # (n, V)
    ce = F.cross_entropy(logits, batch.item_targets[batch.target_mask], reduction="none")  # (n,)
    return torch.zeros(len(batch.target_mask)).index_add_(0, rows, ce)  # (B,)


def _padded(batch: ObjectiveBatch, T: int) -> ObjectiveBatch:
    """The same batch right-padded to T positions: what an untrimmed batch computes."""

    def pad(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else F.pad(x, (0, T - x.shape[1]), value=PAD)  # (B, T)

    inputs = batch.inputs
    padded = EncoderInput(
        *(pad(x) for x in (inputs.items, inputs.events, inputs.categories, inputs.gaps))
    )
    mask = pad(batch.target_mask.long()).bool()  # (B, T)
    return ObjectiveBatch(padded, pad(batch.item_targets), pad(batch.event_targets), mask)


def _row(batch: ObjectiveBatch, b: int) -> ObjectiveBatch:
    """Row b alone, cut to its own length (no batch-mates, no padding)."""
    n = int(batch.inputs.valid[b].sum())
    inputs = batch.inputs
    cut = EncoderInput(
        *(
            None if x is None else x[b : b + 1, :n]
            for x in (inputs.items, inputs.events, inputs.categories, inputs.gaps)
        )
    )
    return ObjectiveBatch(
        cut,
        batch.item_targets[b : b + 1, :n],
        batch.event_targets[b : b + 1, :n],
        batch.target_mask[b : b + 1, :n],
    )


@pytest.mark.parametrize(
    ("objective", "mode"),
    [(CausalObjective(MAX_LEN), "causal"), (MaskedObjective(MAX_LEN), "bidirectional")],
    ids=["causal", "masked"],
)
def test_bucketed_batch_gives_each_user_the_loss_of_the_unpadded_sequence(data, objective, mode):
    flat, ends, users = data
    model = _model(flat, mode)
    lengths = objective.window_lengths(flat.offsets, ends)[users]  # (U,)
    batches = bucketed_batches(lengths, 8, np.random.default_rng(0), window=2)
    batch = objective.make_batch(flat, ends, users[batches[0]], np.random.default_rng(1))
    assert batch.inputs.items.shape[1] == lengths[batches[0]].max()  # trimmed to its longest
    bucketed = _per_example_loss(model, batch)  # (B,)
    padded = _per_example_loss(model, _padded(batch, MAX_LEN))  # (B,) unbucketed layout
    alone = torch.cat([_per_example_loss(model, _row(batch, b)) for b in range(len(bucketed))])
    torch.testing.assert_close(bucketed, padded, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bucketed, alone, rtol=1e-5, atol=1e-5)
    assert bucketed.sum() > 0


@pytest.mark.parametrize(
    "objective", [CausalObjective(MAX_LEN), MaskedObjective(MAX_LEN)], ids=["causal", "masked"]
)
def test_window_lengths_are_the_positions_make_batch_cuts(data, objective) -> None:
    flat, ends, users = data
    batch = objective.make_batch(flat, ends, users, np.random.default_rng(0))
    expected = objective.window_lengths(flat.offsets, ends)[users]
    assert batch.inputs.valid.sum(dim=1).tolist() == expected.tolist()


@pytest.mark.parametrize("window", [1, 3, None])
def test_every_user_appears_exactly_once_per_epoch(window) -> None:
    lengths = np.random.default_rng(5).integers(1, 50, size=1003)
    batches = bucketed_batches(lengths, 32, np.random.default_rng([0, 1]), window=window)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(len(lengths)))
    assert all(len(b) <= 32 for b in batches)


def test_order_is_seeded_and_bucketing_cuts_padding() -> None:
    lengths = np.random.default_rng(6).geometric(0.15, size=4000).clip(1, 50)
    first = bucketed_batches(lengths, 64, np.random.default_rng([7, 0]))
    again = bucketed_batches(lengths, 64, np.random.default_rng([7, 0]))
    other = bucketed_batches(lengths, 64, np.random.default_rng([7, 1]))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    unsorted = bucketed_batches(lengths, 64, np.random.default_rng([7, 0]), window=1)
    windowed = bucketed_batches(lengths, 64, np.random.default_rng([7, 0]), window=8)
    whole = bucketed_batches(lengths, 64, np.random.default_rng([7, 0]), window=None)
    assert (
        padding_share(lengths, whole)
        < padding_share(lengths, windowed)
        < padding_share(lengths, unsorted)
    )


def test_default_window_reproduces_the_trainer_sampler() -> None:
    """Wiring bucketed_batches into the trainer at the default window changes no batch."""
    lengths = np.random.default_rng(8).integers(0, 60, size=900)  # by user index
    users = np.flatnonzero(lengths >= 2)
    sampler = DistributedBatchSampler(users, lengths, 16, seed=4)
    rng = np.random.default_rng([4, 2, 1])  # the sampler's generator for (seed 4, epoch 2)
    ours = [users[b] for b in bucketed_batches(lengths[users], 16, rng, window=SORT_WINDOW)]
    assert all(np.array_equal(a, b) for a, b in zip(ours, sampler.global_batches(2), strict=True))


def test_two_ranks_shards_partition_each_global_batch() -> None:
    lengths = np.random.default_rng(9).integers(2, 40, size=301)
    batches = bucketed_batches(lengths, 10, np.random.default_rng([1, 0]), min_size=2)
    samplers = [
        DistributedBatchSampler(np.arange(301), lengths, 10, 1, DistContext(r, 2)) for r in (0, 1)
    ]
    assert all(len(b) >= 2 for b in batches)
    for batch in batches:
        shards = [s.shard(batch) for s in samplers]
        assert all(len(s) for s in shards)  # every rank gets a user
        assert sorted(np.concatenate(shards).tolist()) == sorted(batch.tolist())
        assert abs(len(shards[0]) - len(shards[1])) <= 1
