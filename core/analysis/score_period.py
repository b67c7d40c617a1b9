"""Score next week's log with a trained run: predictions, segments, anomalies, and drift.

`score_new_data` writes one folder (atomically: it appears whole or not at all):

    predictions.parquet / predictions.csv   every user's top-K next items and next event type
    users.parquet / users.csv               per user: known or new, segment (the run's fitted
                                            segmenter: transform, never refit), anomaly score,
                                            false-alarm rate against the training period, reason
    drift.json                              unseen items / event types, event-mix change, the
                                            model's NDCG@10 on the new period's last events beside
                                            the baselines and the training split, and a verdict

CSV files are formula-safe. Default folder: runs/RUN/scored/DATASET/, where the dashboard and
the report's "New period" section find it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.analysis.new_period import NewPeriod, align
from core.errors import BehaviorLensError
from core.progress import ProgressCallback, ProgressEvent, ignore_progress
from core.workspace import Workspace, atomic_directory, atomic_write_json, read_json

if TYPE_CHECKING:
    from core.data.sequences import EventSequences
    from core.inference.loading import LoadedRun

SCORED_DIR = "scored"  # runs/RUN/scored/DATASET/
DRIFT_FILE = "drift.json"
USERS_FILE = "users.parquet"
CLEAR_MARGIN = 1.05  # the model "beats" a baseline when at least 5% above it
DROP_SHARE = 0.8  # below this share of the training score, quality has dropped
UNSEEN_SHARE = 0.2  # more new events on unseen items than this: the catalogue moved on
OVERLAP_SHARE = 0.1  # more new events than this dated inside the training period: say so
UNRELATED_ITEM_SHARE = 0.05  # no known user and fewer item events on known items: another log


@dataclass
class ScoreConfig:
    """How to score a new period."""

    top_k: int = 10  # next items per user
    with_history: bool = True  # known users read their training history before the new events


def scored_dir(workspace: Workspace, run: str, dataset: str) -> Path:
    return workspace.existing_run_dir(run) / SCORED_DIR / dataset


def score_new_data(
    workspace: Workspace,
    run: str,
    dataset: str,
    out: str | Path | None = None,
    config: ScoreConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Scores dataset `dataset` with run `run`; returns the drift summary (also in drift.json)."""
    from core.data.items import load_item_catalog
    from core.data.store import load_sequences
    from core.inference.loading import load_run

    config = config or ScoreConfig()
    progress = on_progress or ignore_progress
    loaded = load_run(workspace, run)
    if dataset == loaded.dataset:
        raise BehaviorLensError(
            f"dataset {dataset!r} is the one run {run!r} was trained on; score a new period"
        )
    train = load_sequences(workspace, loaded.dataset)
    new = load_sequences(workspace, dataset)
    period = align(new, train, config.with_history)
    _refuse_unrelated(period, new, run, dataset)
    catalog = load_item_catalog(workspace, loaded.dataset)
    target = Path(out) if out else scored_dir(workspace, run, dataset)
    steps = ("predictions", "segments", "anomalies", "drift")
    with atomic_directory(target) as staging:
        staging.chmod(0o755)
        progress(ProgressEvent("score", 0, len(steps), steps[0]))
        _predictions(loaded, period, catalog, config.top_k, staging)
        progress(ProgressEvent("score", 1, len(steps), steps[1]))
        users = _users_frame(period)
        users = users.join(_segments(workspace, loaded, period))
        progress(ProgressEvent("score", 2, len(steps), steps[2]))
        users = users.join(_anomalies(workspace, loaded, new, train))
        _write_table(users.reset_index(), staging, "users")
        progress(ProgressEvent("score", 3, len(steps), steps[3]))
        drift = drift_summary(loaded, period, train, new, run, dataset)
        drift["users"] = int(len(users))
        drift["known_users"] = int(period.known.sum())
        atomic_write_json(staging / DRIFT_FILE, drift)
    progress(ProgressEvent("score", len(steps), len(steps), "done"))
    return {**drift, "out": str(target)}


def _refuse_unrelated(period: NewPeriod, new: EventSequences, run: str, dataset: str) -> None:
    """Stops before writing anything when nothing links the new log to the run's: no user in
    common and (almost) no item the run knows. Scores on such a log would be confident numbers
    about a model that never saw any of it."""
    item_events = int(np.count_nonzero(new.items >= new.item_vocab.first_real_id))
    known_share = 1.0 - period.unseen_items / item_events if item_events else 0.0
    if period.known.any() or known_share >= UNRELATED_ITEM_SHARE:
        return
    raise BehaviorLensError(
        f"dataset {dataset!r} does not look like a later period of the log run {run!r} was "
        f"trained on: none of its users and {known_share:.1%} of its item events are known to "
        "the run. Pick the new period of that log, or train a run on this one."
    )


def _predictions(
    loaded: LoadedRun, period: NewPeriod, catalog: Any, top_k: int, folder: Path
) -> None:
    from core.analysis.all_predictions import export_predictions

    for name in ("predictions.parquet", "predictions.csv"):
        export_predictions(loaded, period.sequences, catalog, folder / name, top_k)


def _users_frame(period: NewPeriod) -> pd.DataFrame:
    sequences = period.sequences
    return pd.DataFrame(
        {
            "user_id": sequences.user_ids.astype(str),
            "known": period.known,
            "new_events": (sequences.offsets[1:] - period.new_start).astype(np.int64),
            "history_events": (period.new_start - sequences.offsets[:-1]).astype(np.int64),
        }
    ).set_index("user_id")


def _segments(workspace: Workspace, loaded: LoadedRun, period: NewPeriod) -> pd.DataFrame:
    """Each user's segment in the run's fitted segments; empty columns when it has none."""
    from core.analysis.run_info import named_segments
    from core.analysis.segments import SEGMENT_MODEL_FILE, assign_segments
    from core.analysis.user_features import user_behaviour
    from core.analysis.user_vectors import model_blocks

    ids = period.sequences.user_ids.astype(str)
    path = loaded.run_dir / SEGMENT_MODEL_FILE
    if not path.is_file():
        return pd.DataFrame({"segment": pd.NA, "segment_name": pd.NA}, index=ids)
    model = read_json(path)
    behaviour = user_behaviour(period.sequences, pace=bool(model.get("pace", True)))
    uses_model = set(model["space"]["weights"]) - {"behaviour"}
    blocks = model_blocks(loaded.model, period.sequences) if uses_model else None
    labels = assign_segments(model, behaviour, blocks)
    profiles = named_segments(workspace, loaded.run_dir.name)
    names = (
        {} if profiles is None else dict(zip(profiles["segment"], profiles["name"], strict=True))
    )
    return pd.DataFrame(
        {"segment": labels, "segment_name": [names.get(int(s), str(s)) for s in labels]},
        index=ids,
    )


def _anomalies(
    workspace: Workspace, loaded: LoadedRun, new: EventSequences, train: EventSequences
) -> pd.DataFrame:
    """The new period's own events scored against the training period's reference."""
    from core.analysis.anomalies import score_anomalies, training_reference
    from core.analysis.time_resolution import support_from_ms

    reference = training_reference(loaded.run_dir)
    only_new = align(new, train, with_history=False).sequences
    ids = only_new.user_ids.astype(str)
    if reference is None:
        return pd.DataFrame({"anomaly_score": np.nan, "reason": pd.NA}, index=ids)
    time = support_from_ms(only_new.timestamps)
    if time.pace != bool(reference.get("pace", True)):
        time = support_from_ms(only_new.timestamps, bool(reference.get("pace", True)))
    result = score_anomalies(loaded, only_new, time=time, reference=reference)
    users = result.users.set_index("user_id")
    return pd.DataFrame(
        {
            "anomaly_score": users["score"],
            "false_alarm_rate": users["false_alarm_rate"],
            "flagged": users["flagged"],
            "reason": users["reason"],
        }
    ).reindex(ids)


def _write_table(frame: pd.DataFrame, folder: Path, stem: str) -> None:
    from core.reports.csv_safe import write_csv_safe

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    (folder / f"{stem}.parquet").write_bytes(buffer.getvalue())
    write_csv_safe(frame, folder / f"{stem}.csv")


def drift_summary(
    loaded: LoadedRun,
    period: NewPeriod,
    train: EventSequences,
    new: EventSequences,
    run: str,
    dataset: str,
) -> dict[str, Any]:
    """Unseen shares, event-mix change, quality on the new period vs baselines and training."""
    events = max(period.new_events, 1)
    quality = _quality(loaded, period)
    summary = {
        "run": run,
        "dataset": dataset,
        "new_events": period.new_events,
        "unseen_item_share": period.unseen_items / events,
        "unseen_event_type_share": period.unseen_event_types / events,
        "unseen_category_share": period.unseen_categories / events,
        "event_mix": event_mix_change(train, new),
        "overlap_share": overlap_share(train, new),
        **quality,
    }
    summary["verdict"] = verdict(summary)
    return summary


def overlap_share(train: EventSequences, new: EventSequences) -> float:
    """Share of the new period's events dated before the training data ends: a "new" log that
    repeats the training period gives optimistic figures, and the verdict says so."""
    if not len(train.timestamps) or not len(new.timestamps):
        return 0.0
    return float(np.mean(new.timestamps <= train.timestamps.max()))


def event_mix_change(train: EventSequences, new: EventSequences) -> dict[str, Any]:
    """Share of each event type before and after, and the total variation distance."""
    before = _mix(train)
    after = _mix(new)
    names = sorted(set(before) | set(after))
    change = 0.5 * sum(abs(after.get(n, 0.0) - before.get(n, 0.0)) for n in names)
    return {"before": before, "after": after, "distance": round(change, 4)}


def _mix(sequences: EventSequences) -> dict[str, float]:
    counts = np.bincount(sequences.events, minlength=len(sequences.event_vocab))
    total = max(int(counts.sum()), 1)
    return {
        sequences.event_vocab.token_of(i): round(float(c) / total, 4)
        for i, c in enumerate(counts)
        if c
    }


def _quality(loaded: LoadedRun, period: NewPeriod) -> dict[str, Any]:
    """NDCG@10 on each user's last new event, beside the baselines and the training split."""
    from core.analysis.run_info import training_score
    from core.evaluation.leave_one_out import evaluate
    from core.evaluation.report import evaluate_baselines

    try:
        model = evaluate(loaded.scorer(), period.sequences, split="test")
        baselines = evaluate_baselines(period.sequences, split="test")
    except BehaviorLensError as error:
        return {"quality_note": str(error)}
    return {
        "evaluated_users": model["users"],
        "ndcg@10": model["ndcg@10"],
        "hr@10": model["hr@10"],
        "baselines": {
            k: {"ndcg@10": v["ndcg@10"], "hr@10": v["hr@10"]} for k, v in baselines.items()
        },
        "training_ndcg@10": training_score(loaded.run_dir),
    }


PERIOD_PERCENT = ("Events on unseen items", "Event-mix change")  # shown as percentages


def period_row(drift: dict[str, Any]) -> dict[str, Any]:
    """One table row per scored period (report and CSV export), in analyst words."""
    baselines = drift.get("baselines", {})
    return {
        "New period": drift.get("dataset"),
        "Users": drift.get("users"),
        "Known users": drift.get("known_users"),
        "NDCG@10": drift.get("ndcg@10"),
        "Markov NDCG@10": baselines.get("markov", {}).get("ndcg@10"),
        "Popular NDCG@10": baselines.get("popular", {}).get("ndcg@10"),
        "NDCG@10 in training": drift.get("training_ndcg@10"),
        "Events on unseen items": drift.get("unseen_item_share"),
        "Event-mix change": drift.get("event_mix", {}).get("distance"),
    }


def verdict(summary: dict[str, Any]) -> str:
    """One plain sentence: does the model still hold on the new period, or should it be retrained?"""
    if "ndcg@10" not in summary:
        return f"Not enough new history to measure the model: {summary.get('quality_note', '')}"
    ndcg = summary["ndcg@10"]
    best_name, best = max(
        ((n, v["ndcg@10"]) for n, v in summary["baselines"].items()), key=lambda p: p[1]
    )
    reasons = []
    if ndcg < CLEAR_MARGIN * best:
        reasons.append(
            f"it is not clearly above the {best_name} baseline ({ndcg:.3f} vs {best:.3f})"
        )
    trained = summary.get("training_ndcg@10")
    if trained and ndcg < DROP_SHARE * trained:
        reasons.append(f"its NDCG@10 fell from {trained:.3f} in training to {ndcg:.3f}")
    if summary["unseen_item_share"] > UNSEEN_SHARE:
        reasons.append(
            f"{summary['unseen_item_share']:.0%} of new events are on items it never saw"
        )
    if reasons:
        text = "Retrain: " + "; ".join(reasons) + "."
    else:
        text = (
            f"The model still beats the baselines on new data (NDCG@10 {ndcg:.3f} vs "
            f"{best_name} {best:.3f})."
        )
    overlap = summary.get("overlap_share", 0.0)
    if overlap > OVERLAP_SHARE:
        text += (
            f" Careful: {overlap:.0%} of this log's events are dated inside the training period, "
            "so these figures are optimistic; score a later period."
        )
    return text
