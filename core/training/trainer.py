"""One explicit training loop; progress, evaluation, early stopping and checkpoints hook in
through callbacks (minGPT style), so a CLI bar or a dashboard can watch without the core
importing any UI.

Determinism: epoch e's data order comes from (seed, e) alone, and the mask/dropout RNGs are
re-seeded from (seed, e) when an epoch starts, so a run resumed at a checkpoint replays exactly
what an uninterrupted run would have done.

Under torchrun the loss module (`core.training.loss.TrainingLoss`) is wrapped in
DistributedDataParallel and each rank trains on its slice of every global batch
(`core.training.sampler`); in one process it is called as is (see core.training.distributed).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.evaluation.leave_one_out import train_mask
from core.faults import fault_point
from core.model.losses import NegativeSampler
from core.model.precision import cpu_bf16_matmul_is_faster
from core.model.transformer import BehaviorTransformer
from core.training.config import TrainConfig
from core.training.distributed import DistContext, broadcast, max_over_ranks
from core.training.loss import TrainingLoss
from core.training.objectives import (
    CausalObjective,
    MaskedObjective,
    NspBatch,
    NspObjective,
    ObjectiveBatch,
)
from core.training.optim import build_optimizer, lr_at
from core.training.sampler import DistributedBatchSampler
from core.training.threads import ThreadRecheck, set_training_threads
from core.training.windows import FlatInputs, training_ends

STOP_CODES = (None, "budget", "early_stopping", "cancelled")  # stronger reasons win across ranks


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
    sequences: int = 0  # sequences trained on, all ranks together
    step_seconds: float = 0.0  # this rank's seconds inside training steps (no evaluation)
    data_seconds: float = 0.0  # of those, building batches (objective + NSP pairs) from arrays


class Callback(Protocol):
    """Hooks the trainer calls; implement any subset (missing methods are skipped)."""

    def on_batch_end(self, trainer: Trainer) -> None: ...

    def on_epoch_end(self, trainer: Trainer) -> None: ...


# Callable[[BehaviorTransformer], dict | None]: validation metrics or None. Under torchrun it
# runs on every rank, so it may share the work (evaluate with a context); rank 0's result wins.
Evaluator = Any


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
        self.thread_recheck = None  # on a CPU: follows the idle cores during long runs
        if self.device.type == "cpu":
            set_training_threads(config.threads)
            self.thread_recheck = ThreadRecheck(config.threads)
        self.callbacks = list(callbacks or [])
        self.evaluator = evaluator
        self.flat = FlatInputs.from_sequences(sequences, model.config.gap_buckets)
        self.first_real_item = sequences.item_vocab.first_real_id  # lower ids are never targets
        self.ends = training_ends(self.flat.offsets)  # (U,)
        self.objective = _objective(config, model.config.max_len)
        self.nsp = NspObjective(model.config.max_len, sequences.sessions) if config.nsp else None
        self.users = self._trainable_users()
        lengths = self.ends - self.flat.offsets[:-1]  # (num_users,) training events of each
        self.batches = DistributedBatchSampler(
            self.users, lengths, config.batch_size, config.seed, self.dist
        )
        self.sampler = self._sampler(sequences)
        self.bf16_matmuls = (
            config.amp and self.device.type == "cpu" and cpu_bf16_matmul_is_faster()
        )  # the item loss's big CPU matmuls in bf16 (autocast covers cuda)
        self.loss = TrainingLoss(
            model,
            config,
            self.first_real_item,
            self.sampler,
            self.bf16_matmuls,
            sparse_lookup=self.device.type == "cpu" and not self.dist.active,
        )
        self.step_loss = _parallel(self.loss, self.dist, self.device)  # DDP under torchrun
        self.optimizer = build_optimizer(model, config, self.device)
        self.state = TrainState()
        self.steps_per_epoch = len(self.batches)
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
            self.state.last_loss = self.train_step(self.batches.shard(users))
            self.state.sequences += len(users)
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

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """Global user batches of one epoch (see `DistributedBatchSampler.global_batches`)."""
        return self.batches.global_batches(epoch)

    @property
    def parallel_engine(self) -> str | None:
        """The name of the wrapper that synchronises ranks ("DistributedDataParallel"), if any."""
        return None if self.step_loss is self.loss else type(self.step_loss).__name__

    def train_step(self, users: np.ndarray) -> float:
        """One optimizer step on a batch of users (this rank's share); returns the loss."""
        started = time.perf_counter()
        self._lr = lr_at(self.state.step, self.total_steps, self.config, self._budget_used())
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr
        batch, pairs = self.make_batches(users)
        built = time.perf_counter()
        with self._autocast():
            loss = self.step_loss(batch, pairs)
        loss.backward()  # under DDP this also averages the gradients over ranks
        fault_point("train.step")
        if self.config.grad_clip > 0:
            clip_gradients(self.model, self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())  # waits for the device: the step's time is all in
        self.state.data_seconds += built - started
        self.state.step_seconds += time.perf_counter() - started
        return value

    def make_batches(self, users: np.ndarray) -> tuple[ObjectiveBatch, NspBatch | None]:
        """The objective's batch and, with NSP, segment pairs of the same users (CPU tensors)."""
        batch = self.objective.make_batch(self.flat, self.ends, users, self.rng)
        pairs = None
        if self.nsp is not None:
            pairs = self.nsp.make_batch(self.flat, self.ends, users, self.rng)
        return batch, pairs

    def batch_loss(self, users: np.ndarray) -> torch.Tensor:
        """Item loss (+ event-type loss, + NSP) of a batch, in this process (no DDP)."""
        return self.loss(*self.make_batches(users))

    def _evaluate(self) -> None:
        """Validation every `eval_every` epochs and when stopping early, tracking NDCG@10."""
        epoch = self.state.epoch
        due = epoch % self.config.eval_every == 0 or epoch == self.config.epochs
        if not (due or self._stop is not None):
            self.improved = False
            return
        metrics = self.evaluator(self.model) if self.evaluator is not None else None
        self._record(broadcast(metrics, self.dist))  # rank 0's result; every rank records

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


def _parallel(loss: TrainingLoss, context: DistContext, device: torch.device) -> torch.nn.Module:
    """`loss` wrapped in DistributedDataParallel under torchrun; itself in one process.

    Unless every step uses every parameter (NSP and the event loss both on), DDP looks for the
    unused ones after each forward (a walk over a small autograd graph) instead of waiting for
    their gradients forever. Their gradients stay None, as in one process, so AdamW leaves them
    alone.
    """
    if not context.active:
        return loss
    return torch.nn.parallel.DistributedDataParallel(
        loss,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=not loss.uses_every_parameter,
    )


def _objective(config: TrainConfig, max_len: int) -> CausalObjective | MaskedObjective:
    if config.objective == "causal":
        return CausalObjective(max_len)
    return MaskedObjective(max_len, config.mask_ratio, config.last_only_prob)
