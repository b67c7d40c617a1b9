"""The one training loop (minGPT style) that pre-training and fine-tuning share.

epochs -> batches -> step -> (every `eval_every` epochs, or when stopping) evaluate -> keep
best / early stop, with the time budget, a stop request (SIGTERM) and torchrun's agreement on
stopping checked after every batch. Progress files, checkpoints and in-memory best weights hook
in as callbacks, so the core never imports a UI. What differs between the two trainings (how an
epoch's batches are made, one optimizer step, the validation and the number it selects on) is
what a subclass supplies: `core.training.trainer.Trainer` and
`core.training.finetune.fit.FineTuner`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from core.training.budget import epoch_cap, plateau_long_enough
from core.training.distributed import DistContext, max_over_ranks

STOP_CODES = (None, "budget", "early_stopping", "cancelled")  # stronger reasons win across ranks


class LoopConfig(Protocol):
    """The settings the loop reads (TrainConfig and FineTuneConfig both have them)."""

    epochs: int | None  # upper bound on epochs; None: core.training.budget.epoch_cap decides
    max_minutes: float | None  # wall-clock budget of this session
    patience: int  # evaluations without improvement before stopping


@dataclass
class TrainState:
    """Where training is; saved with each resume checkpoint (JSON-able)."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed within the current epoch
    step: int = 0  # optimizer steps completed
    best_metric: float = -math.inf  # best validation selection metric so far
    best_epoch: int = -1  # epoch (1-based count) of the best evaluation
    best_elapsed: float = 0.0  # training seconds at the best evaluation (budgeted patience)
    bad_evals: int = 0  # evaluations since the last improvement
    elapsed: float = 0.0  # training seconds, summed over resumed sessions
    last_loss: float | None = None  # loss of the last batch
    val: dict[str, Any] = field(default_factory=dict)  # metrics of the last evaluation
    best_val: dict[str, Any] = field(default_factory=dict)  # metrics of the best evaluation
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per evaluation
    stop_reason: str | None = None  # None, "early_stopping", "budget" or "cancelled"
    sequences: int = 0  # sequences (or windows) trained on, all ranks together
    step_seconds: float = 0.0  # this rank's seconds inside training steps (no evaluation)
    data_seconds: float = 0.0  # of those, building batches from arrays

    @property
    def epochs_begun(self) -> int:
        """Epochs done, counting one stopped part-way (the 1-based epoch of the last step)."""
        return self.epoch if self.batch == 0 else self.epoch + 1


class Callback:
    """Hooks the loop calls after each batch, after each evaluation, and once at the end.
    Subclasses override the ones they need; the others do nothing."""

    def on_batch_end(self, trainer: TrainLoop) -> None:
        """After every optimizer step (`trainer.state` is up to date)."""

    def on_epoch_end(self, trainer: TrainLoop) -> None:
        """After an epoch's evaluation (`trainer.state.val`, `trainer.improved`)."""

    def on_train_end(self, trainer: TrainLoop) -> None:
        """Once, after the loop stopped (`trainer.state.stop_reason`)."""


class TrainLoop:
    """The loop; subclasses set the attributes below and implement the four methods marked so.

    Subclass `__init__` sets: model, config (a `LoopConfig`), callbacks, dist, optimizer,
    steps_per_epoch, total_steps, eval_every, stage (progress stage of training lines),
    selection_name (the validation number kept best, e.g. "ndcg@10").
    """

    model: torch.nn.Module
    config: LoopConfig
    callbacks: list[Callback]
    dist: DistContext
    steps_per_epoch: int
    total_steps: int
    eval_every: int
    stage: str
    selection_name: str

    def _init_loop(self, callbacks: list[Callback] | None, dist: DistContext | None) -> None:
        self.callbacks = list(callbacks or [])
        self.dist = dist or DistContext()
        self.state = TrainState()
        self.thread_recheck: Any = None  # CPU pre-training: follows the idle cores
        self.improved = False  # set at each evaluation for the checkpoint callbacks
        self._stop: str | None = None
        self._budget_from = 0.0

    # --- what a training supplies -------------------------------------------------------

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The batches (index arrays) of one epoch, in training order."""
        raise NotImplementedError

    def start_epoch(self, epoch: int) -> None:
        """Called before an epoch's first batch (not when resuming inside one)."""

    def train_batch(self, batch: np.ndarray) -> float:
        """One optimizer step on `batch`; returns its loss."""
        raise NotImplementedError

    def validate(self) -> dict[str, Any] | None:
        """Validation metrics (the same on every rank), or None when nothing can be scored."""
        raise NotImplementedError

    def selection_metric(self, metrics: dict[str, Any]) -> float:
        """The validation number that is kept best and early-stopped on (higher is better)."""
        raise NotImplementedError

    def may_stop_early(self) -> bool:
        """Whether a non-improving evaluation counts towards patience now."""
        return True

    def sync_weights(self) -> None:
        """Brings weights up to date before anything outside a step reads them (evaluation,
        checkpoints, the end); an optimiser that updates lazily applies what is pending."""

    # --- the plan: epochs, steps, time left ------------------------------------------

    @property
    def max_epochs(self) -> float:
        """The epoch cap: the user's, else 60, else (with a time budget) none."""
        return epoch_cap(self.config.epochs, self.config.max_minutes)

    @property
    def epochs_planned(self) -> int | None:
        """The cap as progress lines show it ("epoch 3/60"); None when the budget ends the run."""
        return None if math.isinf(self.max_epochs) else int(self.max_epochs)

    def eta_seconds(self) -> float | None:
        """Seconds left: by the remaining steps, by the remaining budget, whichever is sooner."""
        s = self.state
        by_steps = None
        if s.step and self.epochs_planned is not None:
            by_steps = s.elapsed / s.step * max(0, self.total_steps - s.step)
        used = self._budget_used()
        if used is None or self.config.max_minutes is None:
            return None if by_steps is None else round(by_steps, 1)
        by_budget = max(0.0, (1.0 - used) * self.config.max_minutes * 60.0)
        return round(by_budget if by_steps is None else min(by_steps, by_budget), 1)

    def steps_expected(self) -> int:
        """Steps the run will take, as far as one can tell now (for progress bars)."""
        eta, s = self.eta_seconds(), self.state
        if eta is None or not s.step or not s.elapsed:
            return self.total_steps
        return s.step + round(eta / (s.elapsed / s.step))

    # --- the loop ---------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop after the current batch (e.g. SIGTERM -> "cancelled")."""
        self._stop = reason

    def fit(self) -> TrainState:
        """Runs until the epochs are done, early stopping, the time budget, or a stop request."""
        self.model.train()
        started = time.monotonic() - self.state.elapsed
        self._budget_from = self.state.elapsed  # the budget counts this session only
        while self.state.epoch < self.max_epochs and self._stop is None:
            self._run_epoch(started)
            if self.state.batch == 0 or self._stop == "budget":
                self.sync_weights()
                self._evaluate()
                self._notify("on_epoch_end")
        self.state.stop_reason = self._stop
        self.sync_weights()
        self._notify("on_train_end")
        return self.state

    def _run_epoch(self, started: float) -> None:
        batches = self.epoch_batches(self.state.epoch)
        if self.state.batch == 0:
            self.start_epoch(self.state.epoch)
        for batch in batches[self.state.batch :]:
            self.state.last_loss = self.train_batch(batch)
            self.state.sequences += len(batch)
            self.state.batch += 1
            self.state.step += 1
            self.state.elapsed = time.monotonic() - started
            self._notify("on_batch_end")
            if self.thread_recheck is not None:
                self.thread_recheck.maybe_update()
            if self._over_budget():
                self._stop = self._stop or "budget"
            self._agree_on_stop()
            if self._stop is not None:
                return
        self.state.epoch += 1
        self.state.batch = 0

    def _evaluate(self) -> None:
        """Validation every `eval_every` epochs and when stopping early."""
        epoch = self.state.epoch
        due = epoch % self.eval_every == 0 or epoch == self.max_epochs
        if not (due or self._stop is not None):
            self.improved = False
            return
        self._record(self.validate())

    def _record(self, metrics: dict[str, Any] | None) -> None:
        metric = self.selection_metric(metrics) if metrics else math.inf
        self.state.val = dict(metrics or {})
        self.state.history.append(
            {
                "epoch": self.state.epoch,
                "step": self.state.step,
                "loss": self.state.last_loss,
                **self.state.val,
            }
        )
        self.improved = metric > self.state.best_metric or metrics is None
        if self.improved:
            self.state.best_metric, self.state.best_epoch = metric, self.state.epoch
            self.state.best_val = dict(self.state.val)
            self.state.best_elapsed = self.state.elapsed
            self.state.bad_evals = 0
            return
        if not self.may_stop_early():
            return
        self.state.bad_evals += 1
        flat_for = self.state.elapsed - self.state.best_elapsed
        if (
            self.state.bad_evals >= self.config.patience
            and plateau_long_enough(flat_for, self.config.max_minutes)
            and self._stop is None
        ):
            self._stop = "early_stopping"

    def _agree_on_stop(self) -> None:
        """torchrun: a stop on any rank (budget, cancel, early stop) stops every rank, with the
        strongest reason, at the same step."""
        if not self.dist.active:
            return
        code = STOP_CODES.index(self._stop) if self._stop in STOP_CODES else 0
        agreed = max_over_ranks(code, self.dist)
        if agreed:
            self._stop = STOP_CODES[agreed]

    def _budget_used(self) -> float | None:
        """Share of this session's max_minutes budget spent, or None without a budget."""
        budget = self.config.max_minutes
        if budget is None:
            return None
        return (self.state.elapsed - self._budget_from) / max(budget * 60.0, 1e-9)

    def _over_budget(self) -> bool:
        used = self._budget_used()
        return used is not None and used > 1.0

    def _notify(self, hook: str) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self)
