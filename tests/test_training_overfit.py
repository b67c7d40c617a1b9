"""Every objective can overfit one small batch: the loss falls far and predictions follow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.model import BehaviorTransformer, ModelConfig
from core.model.losses import NegativeSampler, full_softmax_loss, sampled_softmax_loss
from core.training.config import TrainConfig
from core.training.synthetic import synthetic_sequences
from core.training.trainer import Trainer, clip_gradients

CASES = [
    ("causal", False, "full"),
    ("masked", False, "full"),
    ("causal", True, "full"),
    ("masked", True, "sampled"),
    ("causal", False, "sampled"),
]


@pytest.mark.parametrize(("objective", "nsp", "loss"), CASES)
def test_overfits_one_batch(objective: str, nsp: bool, loss: str) -> None:
    torch.manual_seed(0)
    seqs = synthetic_sequences(num_users=8, num_items=20, num_event_types=3)
    mode = "causal" if objective == "causal" else "bidirectional"
    model = BehaviorTransformer(
        ModelConfig(
            num_items=len(seqs.item_vocab),
            num_events=len(seqs.event_vocab),
            num_categories=len(seqs.category_vocab),
            max_len=12,
            dim=24,
            heads=2,
            layers=1,
            dropout=0.0,
            mode=mode,
        )
    )
    config = TrainConfig(
        objective=objective,
        nsp=nsp,
        loss=loss,
        negatives=16,
        lr=2e-2,
        warmup_fraction=0.0,
        epochs=1,
        mask_ratio=0.3,
        seed=0,
    )
    trainer = Trainer(model, seqs, config)
    users = trainer.users[:8]
    first = trainer.batch_loss(users).item()
    for _ in range(60):
        trainer._seed_epoch(0)  # the same masks and negatives every step: one fixed batch
        last = trainer.train_step(users)
    assert last < 0.1 * first, (first, last)


def test_sampled_softmax_approaches_full_softmax_with_many_negatives() -> None:
    """With many draws, sum_j exp(s_j) / (K Q_j) estimates the full softmax denominator."""
    torch.manual_seed(0)
    V, D, n = 12, 8, 5
    weight = torch.randn(V, D, requires_grad=True)
    hidden, targets = torch.randn(n, D), torch.randint(3, V, (n,))
    counts = np.zeros(V)
    counts[3:] = 5.0
    sampler = NegativeSampler(counts, negatives=4000, alpha=1.0)
    full = full_softmax_loss(hidden, weight, None, targets)
    sampled = sampled_softmax_loss(hidden, weight, None, targets, sampler)
    assert abs(full.item() - sampled.item()) < 0.05
    few = NegativeSampler(counts, negatives=2, alpha=1.0)
    assert abs(full.item() - sampled_softmax_loss(hidden, weight, None, targets, few).item()) > 0.05


def test_negative_sampler_never_draws_reserved_ids_and_prefers_popular_items() -> None:
    counts = np.array([0, 0, 0, 1000, 1, 1, 1])
    draws = NegativeSampler(counts, negatives=5000).sample()
    assert draws.min() >= 3
    assert (draws == 3).float().mean() > 0.5


@pytest.mark.parametrize("loss", ["full", "sampled"])
def test_sparse_input_gradient_gives_the_same_step_as_a_dense_one(loss: str) -> None:
    """The trainer's sparse item-lookup gradient is only a faster way to the same update."""
    seqs = synthetic_sequences(num_users=8, num_items=20, num_event_types=3)
    config = ModelConfig(
        num_items=len(seqs.item_vocab), num_events=len(seqs.event_vocab), max_len=12, dim=16
    )
    weights = []
    for sparse in (True, False):
        torch.manual_seed(0)
        trainer = Trainer(BehaviorTransformer(config), seqs, TrainConfig(loss=loss, negatives=8))
        trainer.loss.sparse_lookup = sparse  # on by default on a CPU
        trainer._seed_epoch(0)
        trainer.train_step(trainer.users)
        assert trainer.model.embed.item.sparse is False  # only inside the forward pass
        weights.append(trainer.model.embed.item.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1])


def test_gradients_are_clipped_only_above_the_limit() -> None:
    model = torch.nn.Linear(3, 2)
    model.weight.grad = torch.full((2, 3), 0.1)
    model.bias.grad = torch.zeros(2)
    clip_gradients(model, max_norm=1.0)  # norm ~0.24: untouched
    torch.testing.assert_close(model.weight.grad, torch.full((2, 3), 0.1))
    model.weight.grad = torch.full((2, 3), 10.0)
    clip_gradients(model, max_norm=1.0)
    norm = torch.cat([model.weight.grad.flatten(), model.bias.grad]).norm()
    assert norm.item() == pytest.approx(1.0, rel=1e-4)
