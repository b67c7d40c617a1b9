"""Fine-tuning: train a `FineTuneModel` on labelled windows, early-stop on held-out users.

It runs on pre-training's loop (core.training.loop) with the same callbacks: what is its own
here is the batches (shuffled windows), the step (AdamW, class-weighted cross-entropy, gradient
clipping) and the validation (classification metrics, selected on ROC-AUC). After each epoch the
validation users are scored and the best weights kept (`KeepBestWeights`), as in RecBole's fit.
The test users are touched once, at the end, by `predict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.data.sequences import EventSequences
from core.training.callbacks import KeepBestWeights
from core.training.config import FineTuneConfig, TrainConfig
from core.training.finetune.examples import TRAIN, VALID, Examples
from core.training.finetune.metrics import classification_metrics, selection_score
from core.training.finetune.model import FineTuneModel
from core.training.loop import Callback, TrainLoop
from core.training.optim import build_optimizer
from core.training.windows import FlatInputs, gather, window_index

PREDICT_BATCH = 256  # windows per forward pass when scoring


@dataclass
class FitHistory:
    """What the loop did, for config.json and the CLI summary."""

    epochs: int = 0  # epochs completed
    best_epoch: int = 0  # 1-based epoch whose weights were kept
    best_score: float = -np.inf  # its validation ROC-AUC (or accuracy)
    stop_reason: str = "completed"  # completed | early_stopping | budget
    seconds: float = 0.0  # training wall time
    epochs_log: list[dict[str, Any]] = field(default_factory=list)  # loss + val score per epoch


class FineTuner(TrainLoop):
    """Trains `model` on the TRAIN examples, keeps the weights that score best on VALID.

    `callbacks` (progress, status) are called after the loop's own: the epoch log and the
    best-weights keeper."""

    def __init__(
        self,
        model: FineTuneModel,
        sequences: EventSequences,
        parts: dict[int, Examples],
        num_classes: int,
        config: FineTuneConfig,
        token_labels: np.ndarray | None = None,
        callbacks: list[Callback] | None = None,
    ) -> None:
        self.model, self.config, self.parts = model, config, parts
        self.log = FitLog()
        self._init_loop([self.log, KeepBestWeights(), *(callbacks or [])], None)
        self.stage, self.selection_name, self.eval_every = "finetune", "score", 1
        self.num_classes = num_classes
        self.token_labels = token_labels  # (N,) per-row classes for token tasks, else None
        self.device = next(model.parameters()).device
        self.flat = FlatInputs.from_sequences(sequences, model.encoder.config.gap_buckets)
        decay = TrainConfig(lr=config.lr, weight_decay=config.weight_decay)  # optimizer settings
        self.optimizer = build_optimizer(model, decay, self.device)
        self.class_weight = self._class_weight()
        self.steps_per_epoch = math.ceil(len(parts[TRAIN]) / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs

    @property
    def history(self) -> FitHistory:
        """What `fit` did (epochs until done, early stopping, or the time budget); after it,
        the best weights are back in the model."""
        state = self.state
        return FitHistory(
            epochs=state.epochs_begun,
            best_epoch=self.log.best_epoch,
            best_score=state.best_metric,
            stop_reason=state.stop_reason or "completed",
            seconds=state.elapsed,
            epochs_log=self.log.epochs,
        )

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """Shuffled windows of the TRAIN users; the order comes from (seed, epoch) alone."""
        order = np.random.default_rng([self.config.seed, epoch]).permutation(len(self.parts[TRAIN]))
        size = self.config.batch_size
        return [order[i : i + size] for i in range(0, len(order), size)]

    def start_epoch(self, epoch: int) -> None:
        self.model.train()  # validation left it in eval mode
        torch.manual_seed(self.config.seed * 1_000_003 + epoch)

    def train_batch(self, batch: np.ndarray) -> float:
        logits, targets = self._logits_and_targets(self.parts[TRAIN].take(batch))
        loss = F.cross_entropy(logits, targets, weight=self.class_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def validate(self) -> dict[str, Any]:
        return self.evaluate(self.parts[VALID])

    def selection_metric(self, metrics: dict[str, Any]) -> float:
        return selection_score(metrics)

    def predict(self, examples: Examples) -> tuple[np.ndarray, np.ndarray]:
        """(labels (n,), probabilities (n, C)) over sequences or labelled events, eval mode."""
        self.model.eval()
        ys, ps = [], []
        with torch.inference_mode():
            for i in range(0, len(examples), PREDICT_BATCH):
                idx = np.arange(i, min(i + PREDICT_BATCH, len(examples)))
                logits, targets = self._logits_and_targets(examples.take(idx))
                ys.append(targets.cpu().numpy())
                ps.append(logits.float().softmax(-1).cpu().numpy())
        if not ys:
            return np.zeros(0, np.int64), np.zeros((0, self.num_classes), np.float32)
        return np.concatenate(ys), np.concatenate(ps)

    def evaluate(self, examples: Examples) -> dict[str, Any]:
        y, proba = self.predict(examples)
        return classification_metrics(y, proba)

    def _logits_and_targets(self, batch: Examples) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (n, C) and classes (n,) of the labelled positions of a batch of windows."""
        inputs = gather(self.flat, batch.starts, batch.lengths).to(self.device)
        logits = self.model(inputs).logits  # (n, C)
        if batch.labels is not None:
            return logits, torch.from_numpy(batch.labels).to(self.device)
        rows, valid = window_index(batch.starts, batch.lengths)
        labels = torch.from_numpy(self.token_labels[rows[valid]]).to(self.device)  # (n,)
        keep = labels >= 0
        return logits[keep], labels[keep]

    def _class_weight(self) -> torch.Tensor | None:
        if not self.config.class_weights:
            return None
        train = self.parts[TRAIN]
        if train.labels is not None:
            labels = train.labels
        else:
            rows, valid = window_index(train.starts, train.lengths)
            labels = self.token_labels[rows[valid]]
            labels = labels[labels >= 0]
        counts = np.bincount(labels, minlength=self.num_classes).astype(np.float64)
        weight = len(labels) / (self.num_classes * np.maximum(counts, 1.0))  # (C,) balanced
        return torch.tensor(weight, dtype=torch.float32, device=self.device)


class FitLog(Callback):
    """Fine-tuning's epoch log for config.json: mean batch loss and validation score per epoch,
    and the (1-based) epoch whose weights are kept."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, Any]] = []
        self.best_epoch = 0
        self._losses: list[float] = []

    def on_batch_end(self, trainer: TrainLoop) -> None:
        if trainer.state.last_loss is not None:
            self._losses.append(trainer.state.last_loss)

    def on_epoch_end(self, trainer: TrainLoop) -> None:
        epoch = trainer.state.epochs_begun
        loss = float(np.mean(self._losses)) if self._losses else float("nan")
        score = trainer.selection_metric(trainer.state.val)
        self.epochs.append({"epoch": epoch, "loss": loss, "val_score": score})
        self._losses = []
        if trainer.improved:
            self.best_epoch = epoch
