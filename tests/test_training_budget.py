"""A --max-minutes budget is used: the epoch cap and early stopping follow it."""

from __future__ import annotations

import math

import pytest

from core.training.budget import (
    DEFAULT_EPOCHS,
    PATIENCE_BUDGET_SHARE,
    epoch_cap,
    planned_epochs,
    plateau_long_enough,
)


def test_the_epoch_cap_applies_without_a_budget_or_when_the_user_sets_one() -> None:
    assert epoch_cap(None, None) == DEFAULT_EPOCHS
    assert epoch_cap(5, None) == 5
    assert epoch_cap(5, 12.0) == 5  # the user's own cap is kept
    assert math.isinf(epoch_cap(None, 12.0))  # the budget ends the run, not a default cap
    assert planned_epochs(None, 12.0) == DEFAULT_EPOCHS
    assert planned_epochs(7, 12.0) == 7


def test_without_a_budget_patience_alone_decides() -> None:
    assert plateau_long_enough(0.0, None)


def test_with_a_budget_a_short_plateau_does_not_end_the_run() -> None:
    budget_minutes = 12.0
    flat_for = PATIENCE_BUDGET_SHARE * budget_minutes * 60.0
    assert not plateau_long_enough(flat_for - 1.0, budget_minutes)
    assert plateau_long_enough(flat_for, budget_minutes)


def test_a_budgeted_run_uses_its_budget_and_its_schedule_follows_the_clock() -> None:
    from core.training.config import TrainConfig
    from core.training.optim import lr_at

    config = TrainConfig(max_minutes=10.0)  # no epoch cap: the budget ends the run
    planned = planned_epochs(config.epochs, config.max_minutes) * 100  # steps planned
    past_the_plan = 5 * planned  # many more steps than planned, half the budget used
    assert lr_at(past_the_plan, planned, config, time_used=0.5) > 0.5 * config.lr
    assert lr_at(200, planned, config, time_used=1.0) == pytest.approx(
        config.lr * config.min_lr_ratio
    )
    capped = TrainConfig(max_minutes=10.0, epochs=3)  # the user's cap: steps count too
    assert lr_at(planned, planned, capped, time_used=0.1) == pytest.approx(
        capped.lr * capped.min_lr_ratio
    )
