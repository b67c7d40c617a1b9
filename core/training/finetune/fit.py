"""Fine-tuning loop: train a `FineTuneModel` on labelled windows, early-stop on held-out users.

One explicit loop (AdamW, class-weighted cross-entropy, gradient clipping); after each epoch the
validation users are scored and the best weights kept, as in RecBole's fit. The test users are
touched once, at the end, by `predict`. Progress goes to `on_progress` like every long core task.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.data.sequences import EventSequences
from core.progress import ProgressCallback, ProgressEvent
from core.training.config import TrainConfig
from core.training.finetune.examples import TRAIN, VALID, Examples
from core.training.finetune.metrics import classification_metrics, selection_score
from core.training.finetune.model import FineTuneModel
from core.training.optim import build_optimizer
from core.training.windows import FlatInputs, gather, window_index

PREDICT_BATCH = 256  # windows per forward pass when scoring


@dataclass
class FineTuneConfig:
    """How to fine-tune; saved in the new run's config.json. Defaults suit a few thousand labels."""

    epochs: int = 20  # upper bound; early stopping usually ends sooner
    max_minutes: float | None = None  # wall-clock budget; stops after the batch that crosses it
    batch_size: int = 64  # windows per step
    lr: float = 5e-4  # AdamW learning rate (constant: fine-tuning runs are short)
    weight_decay: float = 0.01  # AdamW decay on weight matrices (not embeddings, norms, biases)
    dropout: float | None = None  # encoder dropout override; None keeps the parent's rate
    head_dropout: float = 0.1  # dropout before the classification head
    freeze_embeddings: bool = False  # keep the input embeddings as pre-trained
    freeze_blocks: int = 0  # keep the first N Transformer blocks as pre-trained
    class_weights: bool = True  # weight classes by inverse frequency (imbalanced labels)
    patience: int = 3  # epochs without a better validation score before stopping
    valid_fraction: float = 0.15  # share of users held out for early stopping
    test_fraction: float = 0.2  # share of users held out for the reported metrics
    grad_clip: float = 1.0  # max global gradient norm
    seed: int = 0  # seeds the split, the head's init, data order and dropout
    device: str = "auto"  # "auto" (cuda when present), "cpu" or "cuda"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(
                f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}"
            )
        if self.freeze_blocks < 0:
            raise ValueError(f"freeze_blocks must be >= 0, got {self.freeze_blocks}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FitHistory:
    """What the loop did, for config.json and the CLI summary."""

    epochs: int = 0  # epochs completed
    best_epoch: int = 0  # 1-based epoch whose weights were kept
    best_score: float = -np.inf  # its validation ROC-AUC (or accuracy)
    stop_reason: str = "completed"  # completed | early_stopping | budget
    seconds: float = 0.0  # training wall time
    epochs_log: list[dict[str, Any]] = field(default_factory=list)  # loss + val score per epoch


class FineTuner:
    """Trains `model` on the TRAIN examples, keeps the weights that score best on VALID."""

    def __init__(
        self,
        model: FineTuneModel,
        sequences: EventSequences,
        parts: dict[int, Examples],
        num_classes: int,
        config: FineTuneConfig,
        token_labels: np.ndarray | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.model, self.config, self.parts = model, config, parts
        self.num_classes = num_classes
        self.token_labels = token_labels  # (N,) per-row classes for token tasks, else None
        self.on_progress = on_progress
        self.device = next(model.parameters()).device
        self.flat = FlatInputs.from_sequences(sequences, model.encoder.config.gap_buckets)
        decay = TrainConfig(lr=config.lr, weight_decay=config.weight_decay)  # optimizer settings
        self.optimizer = build_optimizer(model, decay, self.device)
        self.class_weight = self._class_weight()

    def fit(self) -> FitHistory:
        """Epochs until done, early stopping, or the time budget; then restores the best weights."""
        history, started = FitHistory(), time.monotonic()
        budget = self.config.max_minutes
        deadline = started + 60.0 * budget if budget is not None else None
        best: dict[str, torch.Tensor] | None = None
        bad = 0
        for epoch in range(self.config.epochs):
            loss, over = self._train_epoch(epoch, deadline)
            score = selection_score(self.evaluate(self.parts[VALID]))
            history.epochs, history.seconds = epoch + 1, time.monotonic() - started
            history.epochs_log.append({"epoch": epoch + 1, "loss": loss, "val_score": score})
            self._report(epoch + 1, loss, score)
            if score > history.best_score:
                history.best_score, history.best_epoch, bad = score, epoch + 1, 0
                best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                bad += 1
            if bad >= self.config.patience or over:
                history.stop_reason = "budget" if over else "early_stopping"
                break
        if best is not None:
            self.model.load_state_dict(best)
        return history

    def _train_epoch(self, epoch: int, deadline: float | None) -> tuple[float, bool]:
        """One pass over the training windows; (mean loss, whether the time budget ran out).

        The budget is checked after every batch, so a huge epoch cannot overrun it.
        """
        self.model.train()
        torch.manual_seed(self.config.seed * 1_000_003 + epoch)
        train = self.parts[TRAIN]
        order = np.random.default_rng([self.config.seed, epoch]).permutation(len(train))
        losses = []
        for i in range(0, len(order), self.config.batch_size):
            batch = train.take(order[i : i + self.config.batch_size])
            logits, targets = self._logits_and_targets(batch)
            loss = F.cross_entropy(logits, targets, weight=self.class_weight)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            if deadline is not None and time.monotonic() > deadline:
                return float(np.mean(losses)), True
        return (float(np.mean(losses)) if losses else float("nan")), False

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

    def _report(self, epoch: int, loss: float, score: float) -> None:
        if self.on_progress is not None:
            self.on_progress(
                ProgressEvent(
                    "finetune",
                    epoch,
                    self.config.epochs,
                    f"epoch {epoch}/{self.config.epochs}",
                    {"loss": loss, "val_score": score},
                )
            )
