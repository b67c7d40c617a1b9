"""A whole training run: build or resume, train with callbacks, report a summary.

This is what `python -m core train` and the dashboard's background job call. It writes
runs/NAME/status.json for pollers and turns SIGTERM into "checkpoint, then exit cancelled".
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED
from core.errors import BehaviorLensError, disk_full
from core.evaluation.leave_one_out import eligible_users, evaluate
from core.evaluation.user_budget import validation_users
from core.inference.loading import resolve_device
from core.inference.scoring import ModelScorer
from core.model.config import ModelConfig
from core.model.transformer import BehaviorTransformer
from core.progress import ProgressCallback
from core.progress_record import JobFiles, ProgressRecord
from core.training import distributed
from core.training.callbacks import Checkpointer, ProgressLog, StatusFile, now
from core.training.checkpoint import (
    has_resume_state,
    read_resume_state,
    restore_resume,
    save_resume,
)
from core.training.config import ModelOptions, TrainConfig
from core.training.data_sizes import sized_for_data, sized_training
from core.training.loss_choice import LossChoice
from core.training.trainer import Callback, Trainer
from core.training.windows import vocab_hash
from core.workspace import Workspace, atomic_write_text


def model_config_for(
    sequences: EventSequences, options: ModelOptions, objective: str
) -> ModelConfig:
    """The model for `sequences`; sizes left as None in `options` are chosen from the data."""
    options, _ = sized_for_data(sequences, options, objective)
    has_categories = len(sequences.category_vocab) > NUM_RESERVED
    return ModelConfig(
        num_items=len(sequences.item_vocab),
        num_events=len(sequences.event_vocab),
        num_categories=len(sequences.category_vocab) if has_categories else 0,
        max_len=options.max_len,
        dim=options.dim,
        layers=options.layers,
        heads=options.heads,
        dropout=options.dropout,
        scale_ids=options.scale_ids,
        no_item=sequences.item_vocab.no_item_id is not None,
        mode="causal" if objective == "causal" else "bidirectional",
    )


def train_run(
    workspace: Workspace,
    dataset: str,
    run: str,
    train_config: TrainConfig,
    options: ModelOptions | None = None,
    resume: bool = False,
    on_progress: ProgressCallback | None = None,
    more_work: bool = False,
) -> dict[str, Any]:
    """Loads the dataset and trains runs/RUN on it (see `train_on_sequences`).

    `more_work`: the caller goes on with the run (analysis), so a completed training leaves
    status.json "analyzing" rather than "finished" and the dashboard keeps following the job.
    """
    from core.data.store import load_sequences

    run_dir = workspace.run_dir(run)
    if resume and has_resume_state(run_dir):
        dataset = read_resume_state(run_dir).get("dataset", dataset)
    sequences = load_sequences(workspace, dataset)
    return train_on_sequences(
        sequences, dataset, run_dir, train_config, options, resume, on_progress, None, more_work
    )


def train_on_sequences(
    sequences: EventSequences,
    dataset: str,
    run_dir: Path,
    train_config: TrainConfig,
    options: ModelOptions | None = None,
    resume: bool = False,
    on_progress: ProgressCallback | None = None,
    extra_callbacks: list[Callback] | None = None,
    more_work: bool = False,
) -> dict[str, Any]:
    """Trains (or resumes) a run; returns {"run", "epochs", "best_epoch", "val", "seconds", ...}.

    On resume, the configs saved in the run are used, except `max_minutes`, the budget of this
    session, taken from `train_config`; `options` are ignored.
    """
    started = time.monotonic()
    with distributed.process_group(resolve_device(train_config.device)) as context:
        state = _prepare(run_dir, resume)
        if state is not None:
            budget = train_config.max_minutes
            train_config = TrainConfig.from_dict({**state["train_config"], "max_minutes": budget})
            model_config = ModelConfig.from_dict(state["model_config"])
            sized = state.get("sized_from_data", [])
        else:
            objective = train_config.objective
            chosen, choices = sized_for_data(sequences, options or ModelOptions(), objective)
            model_config = model_config_for(sequences, chosen, objective)
            train_config, more = sized_training(sequences, train_config, model_config.max_len)
            sized = [asdict(choice) for choice in [*choices, *more]]
        saved_loss = state.get("loss_choice") if state is not None else None
        loss_choice = LossChoice.from_dict(saved_loss) if saved_loss else None
        trainer = _build_trainer(sequences, model_config, train_config, context, loss_choice)
        if state is not None:
            if state.get("vocab_hash") != vocab_hash(sequences):
                raise BehaviorLensError(
                    f"{run_dir}: dataset {dataset!r} changed since this run began"
                )
            restore_resume(run_dir, trainer, state)
            if context.is_main:
                _trim_progress(run_dir / "progress.jsonl", trainer.state.step)
        files = JobFiles.in_folder(run_dir, enabled=context.is_main)  # rank 0 alone writes
        status = StatusFile(files)
        meta = _meta_builder(run_dir.name, dataset, sequences, status.started, sized)
        trainer.callbacks = [
            ProgressLog(files, on_progress),
            Checkpointer(run_dir, meta),
            status,
            *(extra_callbacks or []),
        ] if context.is_main else []  # fmt: skip
        if state is None and context.is_main:
            save_resume(run_dir, trainer, meta(trainer))  # step 0: --resume works from the start
        final = _fit(trainer, status, "analyzing" if more_work else "finished", sequences)
    return {
        "run": run_dir.name,
        "dataset": dataset,
        "epochs": final.epoch,
        "best_epoch": final.best_epoch,
        "steps": final.step,
        "val": final.best_val,
        "stopped": final.stop_reason or "completed",
        "seconds": round(time.monotonic() - started, 1),
        "sized_from_data": sized,  # sizes read off the data (dropout, ...), each with its reason
        "item_loss": trainer.loss_choice.to_dict(),  # full or sampled softmax, and why
        **throughput(trainer),
    }


def throughput(trainer: Trainer) -> dict[str, Any]:
    """How the run spent its time, for the scale benchmark (the numbers of this rank).

    `data_share` is the part of the training steps spent building batches from the arrays
    (objective + NSP); `sequences_per_second` counts all ranks' sequences per second of
    training steps (evaluation and checkpoints excluded).
    """
    s = trainer.state
    return {
        "distributed": trainer.parallel_engine,  # "DistributedDataParallel" under torchrun
        "world_size": trainer.dist.world,
        "step_seconds": round(s.step_seconds, 2),
        "data_seconds": round(s.data_seconds, 2),
        "data_share": round(s.data_seconds / s.step_seconds, 4) if s.step_seconds else None,
        "sequences_per_second": round(s.sequences / s.step_seconds, 1) if s.step_seconds else None,
        "peak_gpu_memory_gb": _peak_gpu_memory_gb(trainer),
    }


def _peak_gpu_memory_gb(trainer: Trainer) -> float | None:
    """This rank's peak CUDA memory (None on a CPU), for bench/gpu.sh."""
    if trainer.device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(trainer.device) / 2**30, 3)


def _prepare(run_dir: Path, resume: bool) -> dict[str, Any] | None:
    """The resume state to continue from, or None to start afresh.

    `resume` on a run killed before its first checkpoint (a folder with no config.json and no
    resume/) starts it again from the beginning: nothing was kept to continue from.
    """
    if resume and (has_resume_state(run_dir) or (run_dir / "config.json").exists()):
        return read_resume_state(run_dir)  # config.json without resume/: not ours to restart
    if resume and not run_dir.is_dir():
        raise BehaviorLensError(f"{run_dir}: nothing to resume (no such run)")
    if not resume and ((run_dir / "config.json").exists() or (run_dir / "resume").exists()):
        raise BehaviorLensError(
            f"run {run_dir.name!r} already exists in {run_dir.parent}; pass --resume to continue "
            "it or choose another --run name"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "progress.jsonl").unlink(missing_ok=True)
    return None


def _trim_progress(path: Path, step: int) -> None:
    """On resume, drop the progress lines of steps the checkpoint does not hold (they are
    trained again) and a line half-written by a killed process, so the curves do not repeat."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
        try:
            record = ProgressRecord.from_json(line)
        except (ValueError, TypeError):
            continue
        trained = record.stage in ("train", "evaluate") and (record.step or 0) > step
        if line.endswith("\n") and not trained:
            kept.append(line)
    atomic_write_text(path, "".join(kept))


def _build_trainer(
    sequences: EventSequences,
    model_config: ModelConfig,
    config: TrainConfig,
    context: distributed.DistContext | None = None,
    loss_choice: LossChoice | None = None,
) -> Trainer:
    context = context or distributed.DistContext()
    torch.manual_seed(config.seed)  # the same initial weights on every rank
    device = distributed.device_for(context, resolve_device(config.device))
    model = BehaviorTransformer(model_config).to(device)
    validator = _validator(sequences, config, context)
    return Trainer(
        model, sequences, config, evaluator=validator, dist_context=context, loss_choice=loss_choice
    )


def _validator(
    sequences: EventSequences, config: TrainConfig, context: distributed.DistContext
) -> Any:
    """Leave-one-out validation NDCG@10 (full protocol), or None when no user can be evaluated.

    Under torchrun every rank validates its share of the users (see `evaluate`).
    """
    if len(eligible_users(sequences)) == 0:
        return None

    def validate(model: BehaviorTransformer) -> dict[str, Any]:
        return evaluate(
            ModelScorer(model),
            sequences,
            split="valid",
            protocol="full",
            ks=(10,),
            max_users=validation_users(config.eval_max_users, len(sequences.item_vocab)),
            seed=config.seed,
            context=context,
        )

    return validate


def _meta_builder(
    run: str, dataset: str, sequences: EventSequences, created: str, sized: list[dict[str, Any]]
) -> Any:
    digest = vocab_hash(sequences)

    def meta(trainer: Trainer) -> dict[str, Any]:
        s = trainer.state
        return {
            "run": run,
            "dataset": dataset,
            "vocab_hash": digest,
            "model_config": trainer.model.config.to_dict(),
            "train_config": trainer.config.to_dict(),
            "metrics": s.best_val,
            "best_epoch": s.best_epoch,
            "epoch": s.epoch,
            "step": s.step,
            "history": s.history,
            "sized_from_data": sized,
            "item_loss": trainer.loss_choice.to_dict(),
            "created": created,
            "updated": now(),
        }

    return meta


def _fit(
    trainer: Trainer,
    status: StatusFile,
    done_state: str = "finished",
    sequences: EventSequences | None = None,
) -> Any:
    status.write("running", "training started")
    try:
        with _sigterm_stops(trainer):
            final = trainer.fit()
    except BaseException as error:
        full = disk_full(error)
        status.write("failed", str(full) if full else f"{type(error).__name__}: {error}")
        raise
    if final.stop_reason == "cancelled":
        status.write("cancelled", f"stopped at epoch {final.epoch}, step {final.step}; --resume")
        return final
    if status.enabled:
        status.write("running", "checking the run against a Markov chain")
        _check_against_markov(status.path.parent, sequences)
    status.write(done_state, f"{final.stop_reason or 'completed'}; best epoch {final.best_epoch}")
    return final


def _check_against_markov(run_dir: Path, sequences: EventSequences | None) -> None:
    """Cache the "barely trained" check's Markov baseline now, while the job is still running:
    on a 10M-event log it takes minutes, which the first page showing the run used to wait."""
    from core.evaluation.training_check import training_check

    if run_dir.parent.name != "runs":
        return  # a run folder outside a workspace (tests, scripts): the pages never show it
    try:
        training_check(Workspace(run_dir.parent.parent), run_dir.name, sequences)
    except (BehaviorLensError, OSError, KeyError, ValueError):
        return  # only a cache: the page computes it later if it could not be done here


@contextmanager
def _sigterm_stops(trainer: Trainer) -> Iterator[None]:
    """SIGTERM asks the trainer to stop after the current batch (then checkpoint, cancelled)."""
    try:
        previous = signal.signal(signal.SIGTERM, lambda *_: trainer.request_stop("cancelled"))
    except ValueError:  # not the main thread: no signal handling, e.g. inside a test runner
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
