"""One explicit training loop; progress, evaluation, early stopping and checkpoints hook in
through callbacks (minGPT style), so a CLI bar or a dashboard can watch without the core
importing any UI.

Determinism: epoch e's data order comes from (seed, e) alone, and the mask/dropout RNGs are
re-seeded from (seed, e) when an epoch starts, so a run resumed at a checkpoint replays exactly
what an uninterrupted run would have done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.evaluation.leave_one_out import train_mask
from core.model.losses import NegativeSampler
from core.model.precision import cpu_bf16_matmul_is_faster
from core.model.transformer import BehaviorTransformer
from core.training.config import TrainConfig
from core.training.distributed import (
    DistContext,
    average_gradients,
    broadcast,
    max_over_ranks,
    shard,
)
from core.training.objectives import CausalObjective, MaskedObjective, NspObjective
from core.training.optim import build_optimizer, lr_at
from core.training.threads import set_training_threads
from core.training.windows import FlatInputs, training_ends

STOP_CODES = (None, "budget", "early_stopping", "cancelled")  # stronger reasons win across ranks
SORT_CHUNK = 64  # batches per length-sorted chunk: enough to trim padding, little order bias


@dataclass
class TrainState:
    """Where training is; saved with each resume checkpoint (JSON-able)."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed within the current epoch
    step: int = 0  # optimizer steps completed
    best_metric: float = -math.inf  # best validation NDCG@10 so far
    best_epoch: int = -1  # epoch (1-based count) of the best evaluation
    bad_evals: int = 0  # evaluations since the last improvement
    elapsed: float = 0.0  # training seconds, summed over resumed sessions
    last_loss: float | None = None  # loss of the last batch
    val: dict[str, Any] = field(default_factory=dict)  # metrics of the last evaluation
    best_val: dict[str, Any] = field(default_factory=dict)  # metrics of the best evaluation
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per evaluation
    stop_reason: str | None = None  # None, "early_stopping", "budget" or "cancelled"


class Callback(Protocol):
    """Hooks the trainer calls; implement any subset (missing methods are skipped)."""

    def on_batch_end(self, trainer: Trainer) -> None: ...

    def on_epoch_end(self, trainer: Trainer) -> None: ...


Evaluator = Any  # Callable[[BehaviorTransformer], dict | None]: validation metrics or None


class Trainer:
    """Pre-trains a `BehaviorTransformer` on the training part of leave-one-out sequences."""

    def __init__(
        self,
        model: BehaviorTransformer,
        sequences: EventSequences,
        config: TrainConfig,
        callbacks: list[Any] | None = None,
        evaluator: Evaluator | None = None,
        dist_context: DistContext | None = None,
    ) -> None:
        self.model, self.config = model, config
        self.dist = dist_context or DistContext()  # torchrun: this rank's share of each batch
        self.device = next(model.parameters()).device
        if self.device.type == "cpu":
            set_training_threads(config.threads)
        self.callbacks = list(callbacks or [])
        self.evaluator = evaluator
        self.flat = FlatInputs.from_sequences(sequences, model.config.gap_buckets)
        self.first_real_item = sequences.item_vocab.first_real_id  # lower ids are never targets
        self.ends = training_ends(self.flat.offsets)  # (U,)
        self.objective = _objective(config, model.config.max_len)
        self.nsp = NspObjective(model.config.max_len, sequences.sessions) if config.nsp else None
        self.users = self._trainable_users()
        self.sampler = self._sampler(sequences)
        self.bf16_matmuls = (
            config.amp and self.device.type == "cpu" and cpu_bf16_matmul_is_faster()
        )  # the item loss's big CPU matmuls in bf16 (autocast covers cuda)
        self.optimizer = build_optimizer(model, config, self.device)
        self.state = TrainState()
        self.steps_per_epoch = math.ceil(len(self.users) / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.rng = np.random.default_rng([config.seed, 0])
        self.improved = False  # set at each evaluation for the checkpoint callback
        self._stop: str | None = None
        self._budget_from = 0.0
        self._lr = 0.0  # learning rate of the last step (early stopping waits for the decay)

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop after the current batch (e.g. SIGTERM -> "cancelled")."""
        self._stop = reason

    def fit(self) -> TrainState:
        """Runs until the epochs are done, early stopping, the time budget, or a stop request."""
        self.model.train()
        started = time.monotonic() - self.state.elapsed
        self._budget_from = self.state.elapsed  # the budget counts this session only
        while self.state.epoch < self.config.epochs and self._stop is None:
            self._run_epoch(started)
            if self.state.batch == 0 or self._stop == "budget":
                self._evaluate()
                self._notify("on_epoch_end")
        self.state.stop_reason = self._stop
        self._notify("on_train_end")
        return self.state

    def _run_epoch(self, started: float) -> None:
        batches = self.epoch_batches(self.state.epoch)
        if self.state.batch == 0:
            self._seed_epoch(self.state.epoch)
        for users in batches[self.state.batch :]:
            self.state.last_loss = self.train_step(shard(users, self.dist))
            self.state.batch += 1
            self.state.step += 1
            self.state.elapsed = time.monotonic() - started
            self._notify("on_batch_end")
            if self._over_budget():
                self._stop = self._stop or "budget"
            self._agree_on_stop()
            if self._stop is not None:
                return
        self.state.epoch += 1
        self.state.batch = 0

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """User batches of one epoch: shuffled by (seed, epoch), similar lengths together."""
        rng = np.random.default_rng([self.config.seed, epoch, 1])
        users = rng.permutation(self.users)
        lengths = self.ends[users] - self.flat.offsets[users]
        size, chunk = self.config.batch_size, self.config.batch_size * SORT_CHUNK
        batches = []
        for i in range(0, len(users), chunk):
            part = users[i : i + chunk][np.argsort(-lengths[i : i + chunk], kind="stable")]
            batches += [part[j : j + size] for j in range(0, len(part), size)]
        batches = [batches[k] for k in rng.permutation(len(batches))]
        return [b for b in batches if len(b) >= self.dist.world]  # every rank gets a user

    def train_step(self, users: np.ndarray) -> float:
        """One optimizer step on a batch of users; returns the loss."""
        self._lr = lr_at(self.state.step, self.total_steps, self.config, self._budget_used())
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr
        with self._autocast():
            loss = self.batch_loss(users)
        loss.backward()
        average_gradients(self.model, self.dist)  # torchrun: the mean over ranks, then clip
        if self.config.grad_clip > 0:
            clip_gradients(self.model, self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def batch_loss(self, users: np.ndarray) -> torch.Tensor:
        """Item loss (+ event-type loss, + NSP) computed only at positions with targets."""
        batch = self.objective.make_batch(self.flat, self.ends, users, self.rng)
        with sparse_item_lookup(self.model, self.device.type == "cpu"):
            out = self.model(batch.inputs.to(self.device))
        mask = batch.target_mask.to(self.device)  # (B, T)
        hidden = out.hidden[mask]  # (n, D) only positions with a target
        targets = batch.item_targets.to(self.device)[mask]  # (n,)
        real = targets >= self.first_real_item  # (n,) never NO_ITEM (a search) nor UNK
        if bool(real.all()):
            loss = self.model.item_head.loss(hidden, targets, self.sampler, self.bf16_matmuls)
        elif bool(real.any()):
            loss = self.model.item_head.loss(
                hidden[real], targets[real], self.sampler, self.bf16_matmuls
            )
        else:  # only item-less targets in this batch: the event head still learns from them;
            # a zero dense term keeps the item table's gradient dense (the sparse input lookup
            # alone would leave a sparse one, which clipping cannot take)
            loss = hidden.sum() * 0.0 + self.model.item_head.embedding.weight.sum() * 0.0
        if self.config.event_weight > 0 and self.model.config.num_events > 4:
            events = batch.event_targets.to(self.device)[mask]  # (n,)
            loss = loss + self.config.event_weight * self.model.event_head.loss(hidden, events)
        if self.nsp is not None:
            pairs = self.nsp.make_batch(self.flat, self.ends, users, self.rng)
            pooled = self.model.pooled(self.model(pairs.inputs.to(self.device)))  # (B, D)
            nsp = self.model.nsp_head.loss(pooled, pairs.labels.to(self.device))
            loss = loss + self.config.nsp_weight * nsp
        return loss

    def _evaluate(self) -> None:
        """Validation every `eval_every` epochs and when stopping early, tracking NDCG@10."""
        epoch = self.state.epoch
        due = epoch % self.config.eval_every == 0 or epoch == self.config.epochs
        if not (due or self._stop is not None):
            self.improved = False
            return
        metrics = None
        if self.evaluator is not None and self.dist.is_main:
            metrics = self.evaluator(self.model)
        self._record(broadcast(metrics, self.dist))  # rank 0 evaluates; every rank records

    def _record(self, metrics: dict[str, Any] | None) -> None:
        metric = float(metrics.get("ndcg@10", 0.0)) if metrics else math.inf
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
            self.state.bad_evals = 0
            return
        if self._lr > 0.5 * self.config.lr:
            return  # near the peak rate validation plateaus; it improves as the rate decays
        self.state.bad_evals += 1
        if self.state.bad_evals >= self.config.patience and self._stop is None:
            self._stop = "early_stopping"

    def _seed_epoch(self, epoch: int) -> None:
        rank = self.dist.rank  # each rank masks and drops out its own share differently
        torch.manual_seed(self.config.seed * 1_000_003 + epoch + 7_919 * rank)
        self.rng = np.random.default_rng([self.config.seed, epoch, 2, rank])

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
        """Share of this session's --max-minutes budget spent, or None without a budget."""
        budget = self.config.max_minutes
        if budget is None:
            return None
        return (self.state.elapsed - self._budget_from) / max(budget * 60.0, 1e-9)

    def _over_budget(self) -> bool:
        used = self._budget_used()
        return used is not None and used > 1.0

    def _notify(self, hook: str) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(self)

    def _trainable_users(self) -> np.ndarray:
        lengths = self.ends - self.flat.offsets[:-1]
        users = np.flatnonzero(lengths >= self.objective.min_length)
        if len(users) == 0:
            raise BehaviorLensError(
                f"no user has {self.objective.min_length}+ training events; nothing to train on"
            )
        return users

    def _sampler(self, sequences: EventSequences) -> NegativeSampler | None:
        num_items = len(sequences.item_vocab)
        if not self.config.use_sampled_loss(num_items, on_cpu=self.device.type == "cpu"):
            return None
        counts = np.bincount(self.flat.items[train_mask(sequences)], minlength=num_items)
        counts[: sequences.item_vocab.first_real_id] = 0  # NO_ITEM is never a useful negative
        return NegativeSampler(counts, self.config.negatives).to(self.device)

    def _autocast(self) -> torch.autocast:
        on_cuda = self.device.type == "cuda" and self.config.amp
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=on_cuda)


@contextmanager
def sparse_item_lookup(model: BehaviorTransformer, enabled: bool) -> Iterator[None]:
    """Forward passes inside give the item table's input lookup a sparse gradient.

    The tied item table also gets a dense (V, D) gradient from the item loss, so the lookup's
    gradient can be added into it in place instead of zero-filling and adding a second (V, D)
    tensor every step (a few ms of a ~20 ms CPU step on Beauty). The optimizer only ever sees
    the dense sum. Scoped to the pre-training forward: a fine-tuning run without the item loss
    must keep dense gradients.
    """
    table = model.embed.item
    previous, table.sparse = table.sparse, enabled
    try:
        yield
    finally:
        table.sparse = previous


def clip_gradients(model: torch.nn.Module, max_norm: float) -> None:
    """Scale gradients to a global norm of at most `max_norm`.

    `clip_grad_norm_` multiplies every gradient by the clip factor even when it is 1, a full
    pass over the (V, D) item-table gradient each step; on a CPU, where reading the norm costs
    no device sync, we only scale when the norm is actually too large.
    """
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    if grads[0].device.type != "cpu":
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        return
    total = torch.nn.utils.get_total_norm(grads)
    if float(total) > max_norm:
        torch.nn.utils.clip_grads_with_norm_(model.parameters(), max_norm, total)


def _objective(config: TrainConfig, max_len: int) -> CausalObjective | MaskedObjective:
    if config.objective == "causal":
        return CausalObjective(max_len)
    return MaskedObjective(max_len, config.mask_ratio, config.last_only_prob)
