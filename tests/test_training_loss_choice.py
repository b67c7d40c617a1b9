"""Full vs sampled softmax chosen by timing: the rule, and that measuring leaves no trace."""

from __future__ import annotations

import time

import torch

from core.training.loss_choice import FULL_COST_LIMIT, choose_by_timing


def _step_costing(full_seconds: float, sampled_seconds: float, layer: torch.nn.Module):
    def step(sampled: bool) -> torch.Tensor:
        time.sleep(sampled_seconds if sampled else full_seconds)
        return torch.nn.functional.dropout(layer(torch.ones(4, 3)), 0.5).sum()

    return step


def test_an_expensive_full_softmax_loses_to_the_sampled_one() -> None:
    layer = torch.nn.Linear(3, 2)
    choice = choose_by_timing(
        _step_costing(0.06, 0.01, layer), list(layer.parameters()), torch.device("cpu")
    )
    assert choice.sampled
    assert choice.cost_ratio is not None and choice.cost_ratio > FULL_COST_LIMIT
    assert "sampled softmax" in choice.reason


def test_an_affordable_full_softmax_is_kept() -> None:
    layer = torch.nn.Linear(3, 2)
    choice = choose_by_timing(
        _step_costing(0.012, 0.01, layer), list(layer.parameters()), torch.device("cpu")
    )
    assert not choice.sampled
    assert choice.cost_ratio is not None and choice.cost_ratio <= FULL_COST_LIMIT
    assert choice.to_dict()["cost_ratio"] == choice.cost_ratio


def test_measuring_restores_the_rng_and_leaves_no_gradients() -> None:
    layer = torch.nn.Linear(3, 2)
    torch.manual_seed(7)
    expected = torch.rand(5)
    torch.manual_seed(7)
    choose_by_timing(_step_costing(0.0, 0.0, layer), list(layer.parameters()), torch.device("cpu"))
    assert torch.equal(torch.rand(5), expected)  # dropout draws during timing were undone
    assert all(p.grad is None for p in layer.parameters())


def _trainer(loss: str = "auto", negatives: int = 8, choice=None):
    from core.model import BehaviorTransformer, ModelConfig
    from core.training.config import TrainConfig
    from core.training.synthetic import synthetic_sequences
    from core.training.trainer import Trainer

    seqs = synthetic_sequences(num_users=12, num_items=40, num_event_types=3)
    config = ModelConfig(
        num_items=len(seqs.item_vocab), num_events=len(seqs.event_vocab), max_len=12, dim=16
    )
    torch.manual_seed(0)
    model = BehaviorTransformer(config)
    return Trainer(model, seqs, TrainConfig(loss=loss, negatives=negatives), loss_choice=choice)


def test_a_catalogue_no_larger_than_the_negatives_gets_the_full_softmax_untimed() -> None:
    trainer = _trainer(negatives=2048)
    assert not trainer.loss_choice.sampled and trainer.loss_choice.full_ms is None
    assert trainer.loss.sampler is None and "no more than" in trainer.loss_choice.reason
    assert trainer._negatives is None  # no item counting for a loss that never samples


def test_the_users_loss_is_kept_and_auto_is_timed_on_a_real_batch() -> None:
    assert _trainer("sampled").loss.sampler is not None
    assert _trainer("full", negatives=8).loss.sampler is None
    timed = _trainer("auto", negatives=8).loss_choice  # 40 items > 8 negatives: timed
    assert timed.full_ms is not None and timed.sampled_ms is not None


def test_a_timed_choice_trains_exactly_like_the_same_choice_given() -> None:
    """Timing draws no masks, dropout or negatives that the run would have drawn."""
    timed = _trainer("auto")
    told = _trainer("auto", choice=timed.loss_choice)
    assert told.loss_choice == timed.loss_choice
    for trainer in (timed, told):
        torch.manual_seed(1)  # what both draw next (dropout) must not depend on the timing...
        trainer.train_step(trainer.users[:6])  # ...nor the masks from the trainer's own rng
    for a, b in zip(timed.model.parameters(), told.model.parameters(), strict=True):
        assert torch.equal(a, b)
