"""When a run ends: the epoch cap and early stopping, made to follow a --max-minutes budget.

Without a budget the classic rules hold: at most DEFAULT_EPOCHS epochs, and early stopping
after `patience` evaluations without a better validation NDCG@10 once the learning rate has
decayed below half its peak (near the peak, validation plateaus and improves again as the rate
falls). With a budget the learning rate follows the clock (core.training.optim.lr_at) and
reaches its floor when the budget ends, which is where the best scores come from. Measured on
the public benchmarks, runs with a 12-minute budget ended after 7 and 10 minutes, by the
60-epoch cap or by early stopping during a plateau, with the budget unused (issue #15). So
with a budget:
- the epoch cap applies only when the user sets one;
- early stopping also needs the score to have been flat for PATIENCE_BUDGET_SHARE of the
  budget, so a plateau of a few evaluations on a fast epoch does not end a run that the
  decaying rate would still improve. A run that keeps getting worse for a quarter of its
  budget still stops, keeping its best checkpoint.
"""

from __future__ import annotations

import math

DEFAULT_EPOCHS = 60  # without a budget: enough for early stopping to end typical runs first
PATIENCE_BUDGET_SHARE = 0.25  # with a budget: no better score for this share of it to stop
LR_DECAYED = 0.5  # pre-training: early stopping waits until the rate is below this share of peak


def epoch_cap(epochs: int | None, max_minutes: float | None) -> float:
    """Most epochs to run: the user's cap, else DEFAULT_EPOCHS, else (budget) none."""
    if epochs is not None:
        return float(epochs)
    return math.inf if max_minutes is not None else float(DEFAULT_EPOCHS)


def planned_epochs(epochs: int | None, max_minutes: float | None) -> int:
    """Epochs the learning-rate schedule and the progress bar plan for.

    With a budget and no cap, the clock drives the schedule; the plan only sizes the warm-up
    (capped at a share of the planned steps), so DEFAULT_EPOCHS serves.
    """
    cap = epoch_cap(epochs, max_minutes)
    return DEFAULT_EPOCHS if math.isinf(cap) else int(cap)


def plateau_long_enough(seconds_since_best: float, max_minutes: float | None) -> bool:
    """With a budget, early stopping also needs the score flat for a share of the budget."""
    if max_minutes is None:
        return True
    return seconds_since_best >= PATIENCE_BUDGET_SHARE * max_minutes * 60.0
