"""Trainer callbacks: progress (CLI bar, dashboard, progress.jsonl), status.json, checkpoints.

The dashboard runs training as a background process and polls two files in the run folder:
`progress.jsonl` (one JSON object per line) and `status.json` (overall state).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.progress import ProgressCallback, ProgressEvent
from core.training.checkpoint import save_best, save_resume
from core.training.trainer import Trainer
from core.workspace import atomic_write_json, read_json

LOG_LINES_PER_EPOCH = 50  # progress.jsonl lines per epoch, besides one per evaluation


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ProgressFile:
    """progress.jsonl: one JSON object per line, appended (the dashboard reads it back)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "progress.jsonl"

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


class ProgressLog:
    """Reports batches and evaluations to `on_progress` and appends them to progress.jsonl."""

    def __init__(self, run_dir: Path, on_progress: ProgressCallback | None = None) -> None:
        self.file = ProgressFile(run_dir)
        self.on_progress = on_progress

    def on_batch_end(self, trainer: Trainer) -> None:
        every = max(1, trainer.steps_per_epoch // LOG_LINES_PER_EPOCH)
        if trainer.state.batch % every == 0 or trainer.state.batch == trainer.steps_per_epoch:
            self._emit(trainer, val=None)

    def on_epoch_end(self, trainer: Trainer) -> None:
        self._emit(trainer, val=trainer.state.val)

    def _emit(self, trainer: Trainer, val: dict[str, Any] | None) -> None:
        s = trainer.state
        eta = _eta(s.elapsed, s.step, trainer.total_steps)
        record = {
            "stage": "evaluate" if val is not None else "train",
            "epoch": s.epoch if s.batch == 0 else s.epoch + 1,
            "epochs": trainer.config.epochs,
            "step": s.step,
            "total_steps": trainer.total_steps,
            "loss": s.last_loss,
            "val": val,
            "elapsed": round(s.elapsed, 2),
            "eta": eta,
        }
        self.file.append(record)
        if self.on_progress is not None:
            metrics = {"loss": s.last_loss} if s.last_loss is not None else {}
            if val:
                metrics["val_ndcg@10"] = val.get("ndcg@10")
            message = f"epoch {record['epoch']}/{trainer.config.epochs}"
            self.on_progress(ProgressEvent("train", s.step, trainer.total_steps, message, metrics))


def _eta(elapsed: float, step: int, total: int) -> float | None:
    if step == 0:
        return None
    return round(elapsed / step * max(0, total - step), 1)


class StatusFile:
    """status.json: {"state", "pid", "started", "updated", "message"}; written atomically."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.path = run_dir / "status.json"
        self.started = now()
        self.enabled = enabled  # False on torchrun ranks other than 0: one writer

    def write(self, state: str, message: str = "") -> None:
        if not self.enabled:
            return
        atomic_write_json(
            self.path,
            {
                "state": state,
                "pid": os.getpid(),
                "started": self.started,
                "updated": now(),
                "message": message,
            },
        )

    def on_epoch_end(self, trainer: Trainer) -> None:
        s = trainer.state
        ndcg = s.val.get("ndcg@10") if s.val else None
        self.write("running", f"epoch {s.epoch}/{trainer.config.epochs}, val ndcg@10 {ndcg}")


class Checkpointer:
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
