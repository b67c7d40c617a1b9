"""A whole fine-tuning run: parent run + target -> new run folder with metrics vs a baseline.

    runs/NEW/model.safetensors   the fine-tuned encoder, under the parent's weight names, so
                                 `load_run` (explain, segment, predict) works on it unchanged
    runs/NEW/head.safetensors    the classification head
    runs/NEW/config.json         parent's model/train config + "kind": "finetune", "parent",
                                 "task", "target", "classes", "finetune_config", "metrics"
                                 (held-out test users), "baseline" (same users), "history"

The folder is written whole with `atomic_directory`, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file, save_model

from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.inference.loading import FORMAT_VERSION, LoadedRun, load_run, resolve_device
from core.model.transformer import BehaviorTransformer
from core.progress import ProgressCallback
from core.progress_record import JobFiles
from core.training import targets as tg
from core.training.callbacks import ProgressLog, StatusFile
from core.training.finetune.examples import (
    TEST,
    TRAIN,
    bag_of_events,
    baseline_metrics,
    sequence_examples,
    session_bag_of_events,
    split_examples,
    split_users,
    token_examples,
    token_rows,
)
from core.training.finetune.fit import FineTuneConfig, FineTuner, FitHistory
from core.training.finetune.model import FineTuneModel
from core.training.loop import Callback
from core.training.windows import vocab_hash
from core.workspace import Workspace, atomic_directory, atomic_write_json

SEQUENCE_TARGETS = ("next-session-purchase", "churn")  # derived sequence targets
TOKEN_TARGETS = ("precedes-purchase",)  # derived token tags


@dataclass
class TargetSpec:
    """What to predict: exactly one of a label file, a derived target, or a derived tag."""

    labels: str | None = None  # path of a KEY,label CSV (KEY: user_id, session_id or src_row)
    target: str | None = None  # derived sequence target, one of SEQUENCE_TARGETS
    tag: str | None = None  # derived token tag, one of TOKEN_TARGETS
    churn_days: float = 14.0  # churn: days without activity after the cut-off
    purchase_events: tuple[str, ...] | None = None  # event types meaning purchase; None: detect

    def name(self) -> str:
        chosen = [v for v in (self.labels, self.target, self.tag) if v]
        if len(chosen) != 1:
            raise BehaviorLensError("choose exactly one of --labels, --target or --tag")
        if self.target is not None and self.target not in SEQUENCE_TARGETS:
            raise BehaviorLensError(
                f"unknown --target {self.target!r}; use one of {', '.join(SEQUENCE_TARGETS)}"
            )
        if self.tag is not None and self.tag not in TOKEN_TARGETS:
            raise BehaviorLensError(f"unknown --tag {self.tag!r}; use {', '.join(TOKEN_TARGETS)}")
        if self.target == "churn":
            return f"churn-{self.churn_days:g}d"
        return str(chosen[0])


@dataclass
class FineTuneResult:
    """A trained head + encoder and how it and the baseline score on the held-out users."""

    model: FineTuneModel
    task: str  # "sequence" or "token"
    classes: list[str]  # class names; index 1 is positive for two classes
    description: str  # what a label means
    metrics: dict[str, Any]  # fine-tuned model on the test users
    baseline: dict[str, Any]  # bag-of-events logistic regression on the same test users
    history: FitHistory
    split: dict[str, int]  # examples per part


def build_targets(
    sequences: EventSequences, spec: TargetSpec, events_file: Any = None
) -> tg.SequenceTargets | tg.TokenTargets:
    """The examples' labels; `events_file` (events.parquet) is read only for src_row labels."""
    spec.name()
    if spec.target == "next-session-purchase":
        return tg.next_session_purchase(sequences, spec.purchase_events)
    if spec.target == "churn":
        return tg.churn(sequences, spec.churn_days)
    if spec.tag == "precedes-purchase":
        return tg.precedes_purchase(sequences, spec.purchase_events)
    src_rows = None
    if events_file is not None:
        src_rows = pq.read_table(events_file, columns=["src_row"]).column("src_row").to_numpy()
    return tg.labels_from_csv(sequences, spec.labels, src_rows)


def finetune_encoder(
    encoder: BehaviorTransformer,
    sequences: EventSequences,
    targets: tg.SequenceTargets | tg.TokenTargets,
    config: FineTuneConfig,
    on_progress: ProgressCallback | None = None,
    files: JobFiles | None = None,
) -> FineTuneResult:
    """Fine-tunes a copy of `encoder` on `targets`; scores it and the baseline on test users.

    Progress goes to `on_progress` and, given `files`, to a progress file and status file
    through the training callbacks, as in pre-training."""
    token = isinstance(targets, tg.TokenTargets)
    max_len = encoder.config.max_len
    examples = (
        token_examples(sequences, targets, max_len)
        if token
        else sequence_examples(sequences, targets, max_len)
    )
    parts = split_examples(
        examples,
        split_users(sequences.num_users, config.valid_fraction, config.test_fraction, config.seed),
    )
    if min(len(p) for p in parts.values()) == 0:
        raise BehaviorLensError(f"too few labelled users to split: {_counts(parts)} examples")
    torch.manual_seed(config.seed)
    model = FineTuneModel(
        copy.deepcopy(encoder),
        "token" if token else "sequence",
        len(targets.classes),
        config.head_dropout,
        causal=True if token and targets.causal else None,
    )
    model.to(next(encoder.parameters()).device)
    model.freeze(config.freeze_embeddings, config.freeze_blocks)
    if config.dropout is not None:
        model.set_dropout(config.dropout)
    labels = targets.labels if token else None
    callbacks: list[Callback] = [ProgressLog(files, on_progress)]
    if files is not None:
        callbacks.append(StatusFile(files))
    tuner = FineTuner(model, sequences, parts, len(targets.classes), config, labels, callbacks)
    tuner.fit()
    history = tuner.history
    baseline = _baseline(sequences, parts, targets, config)
    return FineTuneResult(
        model,
        model.task,
        list(targets.classes),
        targets.description,
        tuner.evaluate(parts[TEST]),
        baseline,
        history,
        _counts(parts),
    )


def _baseline(
    sequences: EventSequences,
    parts: dict,
    targets: tg.SequenceTargets | tg.TokenTargets,
    config: FineTuneConfig,
) -> dict[str, Any]:
    """Bag-of-events logistic regression trained on the TRAIN users, scored on the TEST users."""
    C = len(targets.classes)
    if isinstance(targets, tg.TokenTargets):
        train_rows = token_rows(parts[TRAIN], targets.labels)
        test_rows = token_rows(parts[TEST], targets.labels)
        return baseline_metrics(
            session_bag_of_events(sequences, train_rows),
            targets.labels[train_rows],
            session_bag_of_events(sequences, test_rows),
            targets.labels[test_rows],
            C,
            config.class_weights,
            config.seed,
        )
    train, test = parts[TRAIN], parts[TEST]
    return baseline_metrics(
        bag_of_events(sequences, train),
        train.labels,
        bag_of_events(sequences, test),
        test.labels,
        C,
        config.class_weights,
        config.seed,
    )


def _counts(parts: dict) -> dict[str, int]:
    return {name: len(parts[p]) for name, p in (("train", 0), ("valid", 1), ("test", 2))}


def finetune_run(
    workspace: Workspace,
    parent: str,
    name: str,
    spec: TargetSpec,
    config: FineTuneConfig,
    on_progress: ProgressCallback | None = None,
    files: JobFiles | None = None,
) -> dict[str, Any]:
    """Loads PARENT, fine-tunes on the target, writes runs/NAME; returns the CLI summary.

    `files`: where a background job reports progress and status (core.jobs.finetune_worker)."""
    from core.data.store import events_path, load_sequences

    run_dir = workspace.run_dir(name)
    if run_dir.exists():
        raise BehaviorLensError(
            f"run {name!r} already exists in {workspace.runs_dir}; choose another --name"
        )
    target_name = spec.name()
    loaded = load_run(workspace, parent, config.device)
    sequences = load_sequences(workspace, loaded.dataset)
    loaded.check_vocab(sequences)
    events_file = events_path(workspace, loaded.dataset) if spec.labels else None
    targets = build_targets(sequences, spec, events_file)
    result = finetune_encoder(loaded.model, sequences, targets, config, on_progress, files)
    meta = _meta(loaded, name, target_name, sequences, result, config)
    save_finetuned(run_dir, result, meta)
    summary = {
        "run": name,
        "parent": parent,
        "task": result.task,
        "target": target_name,
        "classes": result.classes,
        "examples": result.split,
        "metrics": result.metrics,
        "baseline": result.baseline,
        "best_epoch": result.history.best_epoch,
        "stopped": result.history.stop_reason,
    }
    unmatched = getattr(targets, "unmatched", 0)
    if unmatched:
        summary["unmatched_labels"] = unmatched
    return summary


def _meta(
    loaded: LoadedRun,
    name: str,
    target: str,
    sequences: EventSequences,
    result: FineTuneResult,
    config: FineTuneConfig,
) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "kind": "finetune",
        "run": name,
        "parent": loaded.name,
        "dataset": loaded.dataset,
        "vocab_hash": vocab_hash(sequences),
        "model_config": result.model.encoder.config.to_dict(),
        "train_config": loaded.train_config.to_dict(),
        "finetune_config": config.to_dict(),
        "task": result.task,
        "target": target,
        "description": result.description,
        "classes": result.classes,
        "causal_override": result.model.causal,
        "head": {"dim": result.model.encoder.config.dim, "num_classes": len(result.classes)},
        "metrics": result.metrics,
        "baseline": result.baseline,
        "split": result.split,
        "history": result.history.epochs_log,
        "best_epoch": result.history.best_epoch,
        "stopped": result.history.stop_reason,
    }


def save_finetuned(run_dir: Any, result: FineTuneResult, meta: dict[str, Any]) -> None:
    """Writes the run folder whole: weights, head, then config.json (the run's marker)."""
    head = {k: v.detach().cpu().contiguous() for k, v in result.model.head.state_dict().items()}
    with atomic_directory(run_dir) as tmp:
        save_model(result.model.encoder, str(tmp / "model.safetensors"))
        save_file(head, str(tmp / "head.safetensors"))
        atomic_write_json(tmp / "config.json", meta)


def load_finetuned(
    workspace: Workspace, name: str, device: str = "auto"
) -> tuple[LoadedRun, FineTuneModel]:
    """A fine-tuned run as (LoadedRun of its encoder, FineTuneModel with the head) in eval mode."""
    loaded = load_run(workspace, name, device)
    meta = loaded.meta
    if meta.get("kind") != "finetune":
        raise BehaviorLensError(f"run {name!r} is not a fine-tuned run (no head.safetensors)")
    model = FineTuneModel(
        loaded.model,
        meta["task"],
        int(meta["head"]["num_classes"]),
        causal=meta.get("causal_override"),
    )
    path = loaded.run_dir / "head.safetensors"
    try:
        model.head.load_state_dict(load_file(str(path), device=str(resolve_device(device))))
    except (OSError, SafetensorError, RuntimeError) as error:
        raise BehaviorLensError(f"{path}: cannot load the head ({error})") from error
    model.eval()
    return loaded, model
