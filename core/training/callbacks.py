"""Training callbacks: progress (CLI bar, dashboard, progress.jsonl), status.json, checkpoints,
best weights kept in memory. They serve pre-training and fine-tuning alike (core.training.loop).

The dashboard runs training as a background process and polls two files that
`core.progress_record.JobFiles` writes: progress.jsonl (one `ProgressRecord` per line) and
status.json (a `JobState`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from core.progress import ProgressCallback, ProgressEvent
from core.progress_record import JobFiles, ProgressRecord, now
from core.training.checkpoint import save_best, save_resume
from core.training.loop import Callback, TrainLoop
from core.training.trainer import Trainer
from core.workspace import atomic_write_json, read_json

__all__ = ["Checkpointer", "KeepBestWeights", "ProgressLog", "StatusFile", "now"]

LOG_LINES_PER_EPOCH = 50  # progress.jsonl lines per epoch, besides one per evaluation


class ProgressLog(Callback):
    """Reports batches and evaluations to `on_progress` and, given `files`, appends them to
    progress.jsonl as `ProgressRecord`s."""

    def __init__(self, files: JobFiles | None, on_progress: ProgressCallback | None = None) -> None:
        self.files = files
        self.on_progress = on_progress

    def on_batch_end(self, trainer: TrainLoop) -> None:
        every = max(1, trainer.steps_per_epoch // LOG_LINES_PER_EPOCH)
        if trainer.state.batch % every == 0 or trainer.state.batch == trainer.steps_per_epoch:
            self._emit(trainer, val=None)

    def on_epoch_end(self, trainer: TrainLoop) -> None:
        self._emit(trainer, val=trainer.state.val)

    def _emit(self, trainer: TrainLoop, val: dict[str, Any] | None) -> None:
        record = progress_record(trainer, val)
        if self.files is not None:
            self.files.append(record)
        if self.on_progress is not None:
            s = trainer.state
            metrics = {"loss": s.last_loss} if s.last_loss is not None else {}
            if val:
                metrics[f"val_{trainer.selection_name}"] = trainer.selection_metric(val)
            message = f"epoch {record.epoch}" + (f"/{record.epochs}" if record.epochs else "")
            self.on_progress(
                ProgressEvent(trainer.stage, s.step, record.total_steps, message, metrics)
            )


def progress_record(trainer: TrainLoop, val: dict[str, Any] | None) -> ProgressRecord:
    """Where `trainer` is: a training line, or an evaluation line when `val` is given."""
    s = trainer.state
    return ProgressRecord(
        stage="evaluate" if val is not None else trainer.stage,
        epoch=s.epochs_begun,
        epochs=trainer.epochs_planned,
        step=s.step,
        total_steps=trainer.steps_expected(),
        loss=s.last_loss,
        val=val,
        elapsed=round(s.elapsed, 2),
        eta=trainer.eta_seconds(),
    )


class StatusFile(Callback):
    """status.json through `files` ({"state", "pid", "started", "updated", "message"}), with
    the epoch and its validation number after each evaluation."""

    def __init__(self, files: JobFiles) -> None:
        self.files = files
        self.path = files.status_path
        self.started = files.started
        self.enabled = files.enabled  # False on torchrun ranks other than 0: one writer

    def write(self, state: str, message: str = "") -> None:
        self.files.write_status(state, message)

    def on_epoch_end(self, trainer: TrainLoop) -> None:
        s = trainer.state
        value = trainer.selection_metric(s.val) if s.val else None
        name = trainer.selection_name
        of = f"/{trainer.epochs_planned}" if trainer.epochs_planned is not None else ""
        shown = f"{value:.4f}" if isinstance(value, float) else "not measured this epoch"
        self.write("running", f"epoch {s.epoch}{of}, val {name} {shown}")


class KeepBestWeights(Callback):
    """Keeps a copy of the weights at each improving evaluation and puts the best back when
    training ends (fine-tuning: its run folder is written once, from the best weights)."""

    def __init__(self) -> None:
        self.best: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, trainer: TrainLoop) -> None:
        if trainer.improved:
            self.best = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    def on_train_end(self, trainer: TrainLoop) -> None:
        if self.best is not None:
            trainer.model.load_state_dict(self.best)


class Checkpointer(Callback):
    """Saves the best weights + config.json at improving evaluations, and the resume state at
    every epoch end and when training stops early (cancelled, budget)."""

    def __init__(self, run_dir: Path, meta: Callable[[Trainer], dict[str, Any]]) -> None:
        self.run_dir = run_dir
        self.meta = meta  # builds config.json's content from the trainer

    def on_epoch_end(self, trainer: Trainer) -> None:
        meta = self.meta(trainer)
        if trainer.improved:
            save_best(self.run_dir, trainer.model, meta)
        elif (self.run_dir / "config.json").is_file():
            best = read_json(self.run_dir / "config.json")
            best.update(
                epoch=meta["epoch"],
                step=meta["step"],
                history=meta["history"],
                updated=meta["updated"],
            )
            atomic_write_json(self.run_dir / "config.json", best)
        save_resume(self.run_dir, trainer, meta)

    def on_train_end(self, trainer: Trainer) -> None:
        if trainer.state.stop_reason in ("cancelled", "budget"):
            save_resume(self.run_dir, trainer, self.meta(trainer))
