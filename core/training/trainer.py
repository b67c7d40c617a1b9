"""Pre-training on the shared loop (core.training.loop): what is particular to it is here,
the objective's batches, the item loss, the learning-rate schedule and validation NDCG@10;
progress, evaluation, early stopping and checkpoints hook in through callbacks (minGPT style).

Determinism: epoch e's data order comes from (seed, e) alone, and the mask/dropout RNGs are
re-seeded from (seed, e) when an epoch starts, so a run resumed at a checkpoint replays exactly
what an uninterrupted run would have done.

Under torchrun the loss module (`core.training.loss.TrainingLoss`) is wrapped in
DistributedDataParallel and each rank trains on its slice of every global batch
(`core.training.sampler`); in one process it is called as is (see core.training.distributed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.evaluation.leave_one_out import train_mask
from core.faults import fault_point
from core.model.losses import NegativeSampler
from core.model.precision import cpu_bf16_matmul_is_faster
from core.model.transformer import BehaviorTransformer
from core.training.budget import LR_DECAYED, planned_epochs
from core.training.config import TrainConfig
from core.training.data_sizes import sized_training
from core.training.distributed import DistContext, broadcast
from core.training.lazy_rows import LazyRowAdamW
from core.training.loop import STOP_CODES, Callback, TrainLoop, TrainState
from core.training.loss import TrainingLoss
from core.training.loss_choice import LossChoice, choose_by_timing, decided
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

__all__ = ["STOP_CODES", "Callback", "TrainState", "Trainer", "clip_gradients"]

# Validation metrics or None. Under torchrun it runs on every rank, so it may share the work
# (evaluate with a context); rank 0's result wins.
Evaluator = Callable[[BehaviorTransformer], dict[str, Any] | None]


class Trainer(TrainLoop):
    """Pre-trains a `BehaviorTransformer` on the training part of leave-one-out sequences."""

    def __init__(
        self,
        model: BehaviorTransformer,
        sequences: EventSequences,
        config: TrainConfig,
        callbacks: list[Callback] | None = None,
        evaluator: Evaluator | None = None,
        dist_context: DistContext | None = None,
        loss_choice: LossChoice | None = None,
    ) -> None:
        """`loss_choice`: full or sampled softmax decided before (a resumed run's); None =
        the config's `loss`, timed here when it is "auto" (core.training.loss_choice). Sizes
        the config leaves to the data (the masked share) are chosen here if not yet chosen."""
        config, _ = sized_training(sequences, config, model.config.max_len)
        self.model, self.config = model, config
        self._init_loop(callbacks, dist_context)  # torchrun: this rank's share of each batch
        self.stage, self.selection_name, self.eval_every = "train", "ndcg@10", config.eval_every
        self.device = next(model.parameters()).device
        if self.device.type == "cpu":
            set_training_threads(config.threads)
            self.thread_recheck = ThreadRecheck(config.threads)  # follows the idle cores
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
        self.bf16_matmuls = (
            config.amp and self.device.type == "cpu" and cpu_bf16_matmul_is_faster()
        )  # the item loss's big CPU matmuls in bf16 (autocast covers cuda)
        self.loss = TrainingLoss(
            model,
            config,
            self.first_real_item,
            None,
            self.bf16_matmuls,
            sparse_lookup=self.device.type == "cpu" and not self.dist.active,
        )
        self._sequences = sequences  # the caller's; counted for negatives only if a step needs them
        self._negatives: NegativeSampler | None = None
        self.sampler: NegativeSampler | None = None  # set by use_loss
        self.loss_choice = loss_choice or self._choose_item_loss(len(sequences.item_vocab))
        self.use_loss(self.loss_choice)
        self.step_loss = _parallel(self.loss, self.dist, self.device)  # DDP under torchrun
        self.lazy_rows = self._lazy_rows_apply()
        table = model.embed.item.weight if self.lazy_rows else None
        self.optimizer = build_optimizer(model, config, self.device, lazy_table=table)
        if isinstance(self.optimizer, LazyRowAdamW):
            self.loss.before_item_reads = self.optimizer.catch_up
        self.steps_per_epoch = len(self.batches)
        self.total_steps = self.steps_per_epoch * planned_epochs(config.epochs, config.max_minutes)
        self.rng = np.random.default_rng([config.seed, 0])
        self._lr = 0.0  # learning rate of the last step (early stopping waits for the decay)

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """Global user batches of one epoch (see `DistributedBatchSampler.global_batches`)."""
        return self.batches.global_batches(epoch)

    def start_epoch(self, epoch: int) -> None:
        self._seed_epoch(epoch)

    def train_batch(self, batch: np.ndarray) -> float:
        return self.train_step(self.batches.shard(batch))

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

    def validate(self) -> dict[str, Any] | None:
        """Leave-one-out validation metrics; under torchrun rank 0's, on every rank."""
        metrics = self.evaluator(self.model) if self.evaluator is not None else None
        return broadcast(metrics, self.dist)

    def selection_metric(self, metrics: dict[str, Any]) -> float:
        return float(metrics.get("ndcg@10", 0.0))

    def may_stop_early(self) -> bool:
        """Near the peak rate validation plateaus; it improves as the rate decays."""
        return self._lr <= LR_DECAYED * self.config.lr

    def sync_weights(self) -> None:
        if isinstance(self.optimizer, LazyRowAdamW):
            self.optimizer.sync()

    def _lazy_rows_apply(self) -> bool:
        """Whether the item table is updated row by row (core.training.lazy_rows).

        Only with the sampled softmax (the full one reads every row each step) and in one
        process (DDP averages dense gradients); "auto" keeps it to the CPU, whose memory
        bandwidth the dense (V, D) passes strain most (a GPU streams them in microseconds).
        """
        wanted = self.config.item_updates
        if wanted == "dense" or not self.loss_choice.sampled or self.dist.active:
            return False
        return wanted == "rows" or self.device.type == "cpu"

    def _seed_epoch(self, epoch: int) -> None:
        rank = self.dist.rank  # each rank masks and drops out its own share differently
        torch.manual_seed(self.config.seed * 1_000_003 + epoch + 7_919 * rank)
        self.rng = np.random.default_rng([self.config.seed, epoch, 2, rank])

    def _trainable_users(self) -> np.ndarray:
        lengths = self.ends - self.flat.offsets[:-1]
        users = np.flatnonzero(lengths >= self.objective.min_length)
        if len(users) == 0:
            raise BehaviorLensError(
                f"no user has {self.objective.min_length}+ training events; nothing to train on"
            )
        return users

    def _negative_sampler(self) -> NegativeSampler:
        """Popularity negatives of the sampled softmax; built once, the first time it is used
        (counting a 100M-event log's items is wasted on a run that trains with the full one)."""
        if self._negatives is None:
            sequences = self._sequences
            num_items = len(sequences.item_vocab)
            counts = np.bincount(self.flat.items[train_mask(sequences)], minlength=num_items)
            counts[: sequences.item_vocab.first_real_id] = 0  # NO_ITEM is never a useful negative
            self._negatives = NegativeSampler(counts, self.config.negatives).to(self.device)
        return self._negatives

    def use_loss(self, choice: LossChoice) -> None:
        """Trains from now on with the full or the sampled softmax, as `choice` says."""
        self.loss_choice = choice
        self.sampler = self._negative_sampler() if choice.sampled else None
        self.loss.sampler = self.sampler

    def _choose_item_loss(self, num_items: int) -> LossChoice:
        """The user's loss, the full softmax when the catalogue is no larger than the sampled
        step's negatives, else the one that wins a timing on a real batch (rank 0's verdict)."""
        kind, negatives = self.config.loss, self.config.negatives
        real_items = num_items - self.first_real_item
        if kind != "auto":
            return decided(kind == "sampled", f"{kind} softmax, as set")
        if real_items <= negatives:
            return decided(
                False, f"full softmax: {real_items:,} items, no more than the {negatives:,} "
                "negatives a sampled step would score",
            )  # fmt: skip
        choice = choose_by_timing(self._timed_step(), list(self.model.parameters()), self.device)
        return broadcast(choice, self.dist)

    def _timed_step(self) -> Callable[[bool], torch.Tensor]:
        """The loss of a typical batch (median length) with the sampled or the full softmax.

        Its masks come from their own generator, so timing leaves the run's draws untouched.
        """
        batches = self.epoch_batches(0)
        longest = [int(self.batches.lengths[b].max()) for b in batches]
        users = self.batches.shard(batches[int(np.argsort(longest)[len(longest) // 2])])
        rng = np.random.default_rng([self.config.seed, 99])
        batch = self.objective.make_batch(self.flat, self.ends, users, rng)
        pairs = self.nsp.make_batch(self.flat, self.ends, users, rng) if self.nsp else None

        def step(sampled: bool) -> torch.Tensor:
            self.loss.sampler = self._negative_sampler() if sampled else None
            with self._autocast():
                return self.loss(batch, pairs)

        return step

    def _autocast(self) -> torch.autocast:
        on_cuda = self.device.type == "cuda" and self.config.amp
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=on_cuda)


def clip_gradients(model: torch.nn.Module, max_norm: float) -> None:
    """Scale gradients to a global norm of at most `max_norm`.

    `clip_grad_norm_` multiplies every gradient by the clip factor even when it is 1, a full
    pass over the (V, D) item-table gradient each step; on a CPU, where reading the norm costs
    no device sync, we only scale when the norm is actually too large. A row-sparse gradient
    (lazy item rows) is coalesced first, so its norm counts each row once.
    """
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return
    for param in params:
        if param.grad.is_sparse:
            param.grad = param.grad.coalesce()
    if params[0].grad.device.type != "cpu" and not any(p.grad.is_sparse for p in params):
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        return
    values = [p.grad.values() if p.grad.is_sparse else p.grad for p in params]
    total = torch.nn.utils.get_total_norm(values)
    if float(total) > max_norm:
        scale = max_norm / (float(total) + 1e-6)  # as clip_grads_with_norm_
        for value in values:
            value.mul_(scale)


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
