"""What the run folders say, without loading weights: run table, quality vs baselines, headline.

The dashboard's Home and Train pages and the reports need these numbers instantly, so they come
from the files the commands wrote (config.json, metrics.json, segments.parquet,
anomalies.parquet) — never from a live evaluation on first view. `evaluate_run` is the one
function here that computes, and it writes metrics.json in the `evaluate` command's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from core.analysis.anomaly_flags import RATE_COLUMN, FlagConfig, FlagSummary, summarize, with_flags
from core.errors import BehaviorLensError
from core.evaluation.user_budget import evaluated_users
from core.locks import folder_lock
from core.progress import ProgressCallback
from core.workspace import Workspace, json_bytes, read_json, write_together

if TYPE_CHECKING:
    from core.training.distributed import DistContext

METRICS_FILE = "metrics.json"  # {run_or_baseline: {metric: value}}, written by `evaluate`
QUALITY_METRICS = ("hr@10", "ndcg@10", "mrr")  # columns of the quality table
BASELINE_LABELS = {"popular": "Most popular", "markov": "Markov chain"}  # metrics.json keys
ANOMALIES_FILE = "anomalies.parquet"  # one row per user: score, false-alarm rate, reason
# Columns of the flagged-users table (those the file has), in the order they are shown.
FLAG_TABLE_COLUMNS = ("user_id", "score", RATE_COLUMN, "flagged", "reason", "events", "seconds")
ANOMALY_COLUMNS = tuple(c for c in FLAG_TABLE_COLUMNS if c != "flagged")  # read from the file


def run_meta(workspace: Workspace, run: str) -> dict[str, Any]:
    """The run's config.json (configs, dataset, metrics, history)."""
    return read_json(workspace.existing_run_dir(run) / "config.json")


def training_choices(workspace: Workspace, run: str) -> list[str]:
    """What the run chose for itself and why, one sentence each (config.json): the sizes read
    off the data (dropout, the masked share) and the full or sampled softmax. [] for runs
    that recorded none (older runs, fine-tuned ones) or whose folder is not there yet."""
    path = workspace.run_dir(run) / "config.json"
    if not path.is_file():
        return []
    meta = read_json(path)
    sentences = [
        f"{choice['name'].replace('_', ' ')} {choice['value']}: {choice['reason']}"
        for choice in meta.get("sized_from_data") or []
        if isinstance(choice, dict) and {"name", "value", "reason"} <= choice.keys()
    ]
    item_loss = meta.get("item_loss")
    if isinstance(item_loss, dict) and item_loss.get("reason"):
        sentences.append(f"item loss: {item_loss['reason']}")
    return sentences


def runs_of(workspace: Workspace, dataset: str) -> list[str]:
    """Finished runs trained on `dataset`, in name order."""
    return [r for r in workspace.run_names() if run_meta(workspace, r).get("dataset") == dataset]


def quality_table(workspace: Workspace, run: str) -> pd.DataFrame | None:
    """Model vs baselines from metrics.json (None when the run was never evaluated).

    Columns: model, hr@10, ndcg@10, mrr, split, users; the run's own row first.
    """
    path = workspace.existing_run_dir(run) / METRICS_FILE
    if not path.is_file():
        return None
    metrics = read_json(path)
    rows = []
    for key, values in metrics.items():
        if not isinstance(values, dict) or "ndcg@10" not in values:
            continue
        label = "Transformer" if key == run else BASELINE_LABELS.get(key, key)
        row = {"model": label, **{m: values.get(m) for m in QUALITY_METRICS}}
        rows.append({**row, "split": values.get("split"), "users": values.get("users")})
    rows.sort(key=lambda r: r["model"] != "Transformer")
    return pd.DataFrame(rows) if rows else None


def evaluate_run(
    workspace: Workspace,
    run: str,
    max_users: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Leave-one-out test metrics of the run and both baselines; writes metrics.json."""
    if run_meta(workspace, run).get("kind") == "finetune":
        raise BehaviorLensError(f"run {run!r} is fine-tuned: its quality is in the run table")
    options = {"split": "test", "protocol": "full", "max_users": max_users}
    evaluate_and_save(workspace, run, on_progress=on_progress, **options)
    table = quality_table(workspace, run)
    assert table is not None
    return table


def evaluate_and_save(
    workspace: Workspace,
    run: str,
    baselines: bool = True,
    dataset: str | None = None,
    on_progress: ProgressCallback | None = None,
    context: DistContext | None = None,
    **options: Any,
) -> dict[str, dict[str, Any]]:
    """Evaluate a run (and the baselines) on its dataset; keep the rows in metrics.json.

    `options` go to `core.evaluation.leave_one_out.evaluate` (split, protocol, ks, ...); past
    `evaluated_users(items)` users a seeded sample is ranked (`max_users=0`: every user). A
    `dataset` that is not the run's is refused: item ids only fit the dataset trained on.
    The `evaluate` command and the dashboard both come here, so the file has one shape.
    Under torchrun (`context`) each rank scores its share on its own device, every rank gets
    the rows, and rank 0 alone writes the file.
    """
    from core.data.store import load_sequences
    from core.evaluation.leave_one_out import evaluate
    from core.evaluation.report import evaluate_baselines
    from core.inference.loading import load_run, resolve_device
    from core.training.distributed import DistContext, device_for

    context = context or DistContext()
    loaded = load_run(workspace, run, device_for(context, resolve_device("auto")))
    if dataset and dataset != loaded.dataset:
        raise BehaviorLensError(
            f"run {run!r} was trained on dataset {loaded.dataset!r}, not {dataset!r}; "
            "its item ids only fit its own dataset"
        )
    sequences = load_sequences(workspace, loaded.dataset)
    loaded.check_vocab(sequences)
    limit = options.get("max_users")  # None: the default cap, a stated sample past it
    default = evaluated_users(len(sequences.item_vocab))
    options["max_users"] = default if limit is None else (limit or None)  # 0: every user
    options = {**options, "on_progress": on_progress, "context": context}
    rows = {run: evaluate(loaded.scorer(), sequences, **options)}
    if baselines:
        rows.update(evaluate_baselines(sequences, **options))
    if context.is_main:
        write_together(loaded.run_dir, {METRICS_FILE: json_bytes(rows)})  # readers: reports
    return rows


def run_table(workspace: Workspace) -> pd.DataFrame:
    """One row per finished run: dataset, kind, objective, epochs run, best epoch, headline
    metrics (`core.analysis.runs_table.compare_runs` adds size, time and the baselines)."""
    rows = [_run_row(workspace, name) for name in workspace.run_names()]
    return pd.DataFrame(rows)


def run_identity(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """What a run is (both run tables start with this): dataset, kind, objective, epochs."""
    train = meta.get("train_config") or {}
    return {
        "run": name,
        "dataset": meta.get("dataset"),
        "kind": "fine-tune" if meta.get("kind") == "finetune" else "pre-train",
        "objective": meta.get("target") or train.get("objective"),
        "epochs run": meta.get("epoch"),  # how far it trained, not the best epoch
        "best epoch": meta.get("best_epoch"),
    }


def _run_row(workspace: Workspace, name: str) -> dict[str, Any]:
    meta = run_meta(workspace, name)
    row = run_identity(name, meta)
    metrics = meta.get("metrics") or {}
    row.update({f"val {k}": v for k, v in metrics.items() if k in QUALITY_METRICS})
    for key in ("roc_auc", "pr_auc", "f1", "accuracy"):
        if isinstance(metrics.get(key), int | float):
            row[key] = metrics[key]
            baseline = (meta.get("baseline") or {}).get(key)
            if isinstance(baseline, int | float):
                row[f"baseline {key}"] = baseline
    quality = quality_table(workspace, name)
    if quality is not None:
        row["test ndcg@10"] = float(quality["ndcg@10"].iloc[0])
    return row


@dataclass
class Headline:
    """The Home page's cards; None where the workspace has no such output yet."""

    users: int  # users in the dataset
    events: int  # accepted events
    model_ndcg: float | None = None  # the run's test NDCG@10 (metrics.json)
    baseline_name: str | None = None  # best baseline by NDCG@10
    baseline_ndcg: float | None = None  # its NDCG@10
    segments: int | None = None  # segments found (segments.parquet rows)
    flagged: int | None = None  # users flagged at flag_rate (anomalies.parquet)
    scored: int | None = None  # users with an anomaly score
    flag_rate: float = FlagConfig().false_alarm_rate  # the false-alarm rate flagged at


def headline(workspace: Workspace, dataset: str, run: str | None) -> Headline:
    """Cards from the manifest and the run folder's files: fast, no model loaded."""
    stats = read_json(workspace.existing_dataset_dir(dataset) / "manifest.json").get("stats", {})
    result = Headline(users=int(stats.get("users", 0)), events=int(stats.get("events", 0)))
    if run is None:
        return result
    folder = workspace.existing_run_dir(run)
    quality = quality_table(workspace, run)
    if quality is not None and (quality["model"] == "Transformer").any():
        result.model_ndcg = float(quality["ndcg@10"].iloc[0])
        baselines = quality[quality["model"] != "Transformer"]
        if not baselines.empty:
            best = baselines.loc[baselines["ndcg@10"].idxmax()]
            result.baseline_name, result.baseline_ndcg = str(best["model"]), float(best["ndcg@10"])
    if (folder / "segments.parquet").is_file():
        result.segments = pq.ParquetFile(folder / "segments.parquet").metadata.num_rows
    if (folder / ANOMALIES_FILE).is_file():
        path = folder / ANOMALIES_FILE
        stored = set(pq.ParquetFile(path).schema_arrow.names)
        columns = ["score"] + ([RATE_COLUMN] if RATE_COLUMN in stored else [])  # older files: none
        flags = flag_summary(pd.read_parquet(path, columns=columns), result.flag_rate)
        result.scored, result.flagged = flags.scored, flags.flagged
    return result


def flag_summary(scores: pd.DataFrame, rate: float) -> FlagSummary:
    """How many of a run's users are flagged at the false-alarm `rate` (the Home card and the
    Anomalies page both count here). `scores`: every user's `score`, with or without stored
    `false_alarm_rate` (older files: computed from the scores, core.analysis.anomaly_flags)."""
    return summarize(scores, rate)


def flagged_top(top: pd.DataFrame, rate: float, n: int) -> pd.DataFrame:
    """The first `n` rows of `top` (highest scores first) with `flagged` at `rate`, in the
    columns of FLAG_TABLE_COLUMNS that they have: the Anomalies page's table."""
    ranked = with_flags(top.head(n), rate)
    return ranked[[c for c in FLAG_TABLE_COLUMNS if c in ranked]]


def named_segments(workspace: Workspace, run: str) -> pd.DataFrame | None:
    """segments.parquet with the analyst's renames (segment_names.json) applied to `name`."""
    from core.analysis.naming import read_renames

    folder = workspace.existing_run_dir(run)
    if not (folder / "segments.parquet").is_file():
        return None
    with folder_lock(folder, shared=True):  # not between a rename's read and write
        profiles = pd.read_parquet(folder / "segments.parquet")
        renames = read_renames(folder)
    names = [
        renames.get(int(s), n) for s, n in zip(profiles["segment"], profiles["name"], strict=True)
    ]
    return profiles.assign(name=names)


def training_score(run_dir: Path) -> float | None:
    """The run's NDCG@10 on its own data: the test split of metrics.json when evaluated, else
    the best validation score saved with the weights (what new periods are compared with)."""
    metrics = run_dir / METRICS_FILE
    if metrics.is_file():
        row = read_json(metrics).get(run_dir.name, {})
        if row.get("ndcg@10") is not None:
            return float(row["ndcg@10"])
    config = run_dir / "config.json"
    value = read_json(config).get("metrics", {}).get("ndcg@10") if config.is_file() else None
    return None if value is None else float(value)
