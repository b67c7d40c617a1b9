"""The dashboard's calls into `core`, in one place, with a polite answer when a part is missing.

Behavior Lens grows issue by issue; a page must render before every core part exists. Each
function here imports its core module when called and raises `NotReady` (a BehaviorLensError,
so pages show it as a friendly message) when that module has not landed yet — never fake data.
No Streamlit here: caching lives in dashboard/state.py, which calls these functions.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from core.errors import BehaviorLensError
from core.workspace import Workspace, read_json

UPLOAD_CHUNK = 16 << 20  # bytes copied per read when saving an upload


class NotReady(BehaviorLensError):
    """A core part this view needs is not installed in this version of Behavior Lens."""


def part(module: str) -> ModuleType | None:
    """The core module, or None when it (not one of its own imports) does not exist."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name and module.startswith(error.name):
            return None
        raise


def require(module: str, what: str) -> ModuleType:
    found = part(module)
    if found is None:
        raise NotReady(f"{what} is not available in this version yet ({module} is missing).")
    return found


# ---------------------------------------------------------------- data


def ensure_demo(ws: Workspace) -> Any:
    """DemoInfo(dataset, run) from core.demo, or None until that part exists."""
    demo = part("core.demo")
    return None if demo is None else demo.ensure_demo(ws)


def load_manifest(ws: Workspace, name: str) -> dict[str, Any]:
    store = part("core.data.store")
    if store is not None:
        return store.load_manifest(ws, name)
    return read_json(ws.existing_dataset_dir(name) / "manifest.json")


def events_path(ws: Workspace, name: str) -> Path:
    store = part("core.data.store")
    if store is not None:
        return Path(store.events_path(ws, name))
    return ws.existing_dataset_dir(name) / "events.parquet"


def load_sequences(ws: Workspace, name: str) -> Any:
    return require("core.data.store", "Loading event sequences").load_sequences(ws, name)


@dataclass
class MappingProposal:
    """What the Data page shows before an ingest: the file's columns and detected roles."""

    columns: list[str]  # column names as the ingest will know them
    mapping: dict[str, str | None]  # role -> column (None = absent)
    detected_by: dict[str, str]  # role -> "override" | "name" | "content"
    preview: pd.DataFrame  # first rows, as text
    format: str  # csv | parquet | recbole | sequences


def detect_mapping(path: Path, overrides: dict[str, str | None] | None = None) -> MappingProposal:
    """Auto-detected column roles of an uploaded file (core.data.mapping), raising InputError."""
    mapping = require("core.data.mapping", "Column detection")
    found = mapping.detect_mapping(path, overrides=overrides, preview_rows=20)
    return MappingProposal(
        columns=list(found.source.columns),
        mapping=found.mapping.as_dict(),
        detected_by=dict(found.detected_by),
        preview=pd.DataFrame(found.preview, columns=found.source.columns),
        format=found.source.format,
    )


def save_upload(stream: BinaryIO, filename: str, folder: Path) -> Path:
    """Copy an uploaded file to disk in 16 MB chunks (never `.getvalue()`: no second copy).

    Written under a temp name and renamed, so a half-copied upload is never ingested.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(filename).name) or "upload"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe
    partial = folder / f".{safe}.partial"
    stream.seek(0)
    with open(partial, "wb") as out:
        shutil.copyfileobj(stream, out, length=UPLOAD_CHUNK)
    os.replace(partial, target)
    return target


def dataset_name_for(filename: str) -> str:
    """A valid dataset name proposed from an uploaded file's name."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(filename).stem).strip("._-")
    return (stem or "dataset")[:100]


def ingest_file(
    ws: Workspace, path: Path, name: str, mapping: dict[str, str | None], on_progress: Any = None
) -> dict[str, Any]:
    """Ingest a saved upload with the analyst's mapping; returns the CLI's summary dict."""
    ingest = require("core.data.ingest", "Ingesting data")
    overrides = {role: column for role, column in mapping.items() if column}
    options = ingest.IngestOptions(**overrides)
    return ingest.ingest(path, name, ws, options, on_progress=on_progress)


def analytic(ws: Workspace, dataset: str, kind: str, params: dict[str, Any]) -> Any:
    """One behaviour analytic of core.analysis over the dataset's events.parquet."""
    path = events_path(ws, dataset)
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    if kind == "summary":
        module = require("core.analysis.summary", "The data summary")
        return module.data_summary(path, load_manifest(ws, dataset))
    if kind == "volume":
        return require("core.analysis.volume", "Event volume").event_volume(path, **params)
    if kind == "funnel":
        return require("core.analysis.funnels", "Funnels").funnel(path, **params)
    if kind == "paths":
        return require("core.analysis.paths", "Top paths").top_paths(path, **params)
    if kind == "retention":
        return require("core.analysis.retention", "Retention").retention(path, **params)
    if kind == "events":
        return _known_events(path)
    raise ValueError(f"unknown analytic {kind!r}")


def _known_events(path: Path) -> list[str]:
    events_db = require("core.analysis.events_db", "Event types")
    con = events_db.open_events(path)
    try:
        return events_db.known_events(con)
    finally:
        con.close()


# ---------------------------------------------------------------- runs


def load_run(ws: Workspace, run: str) -> Any:
    checkpoint = require("core.training.checkpoint", "Loading a trained model")
    return checkpoint.load_run(ws, run)


def run_config(ws: Workspace, run: str) -> dict[str, Any]:
    """The run's config.json (configs, dataset, metrics) without loading the weights."""
    return read_json(ws.existing_run_dir(run) / "config.json")


def run_dataset(config: dict[str, Any]) -> str | None:
    """Which dataset a run was trained on, from its config.json."""
    for key in ("dataset", "dataset_name"):
        if isinstance(config.get(key), str):
            return config[key]
    train = config.get("train") or config.get("train_config") or {}
    return train.get("dataset") if isinstance(train, dict) else None


def run_result(ws: Workspace, run: str, kind: str, params: dict[str, Any]) -> Any:
    if kind == "quality":
        return quality(ws, run, **params)
    raise ValueError(f"unknown run result {kind!r}")


def quality(ws: Workspace, run: str, max_users: int = 2000) -> pd.DataFrame:
    """Test-split leave-one-out metrics of the run and both baselines, in one table."""
    loo = require("core.evaluation.leave_one_out", "Evaluation")
    baselines = require("core.evaluation.baselines", "Baselines")
    loaded = load_run(ws, run)
    sequences = load_sequences(ws, _loaded_dataset(loaded, ws, run))
    scorers = {
        "Transformer": loaded.scorer(),
        "Most popular": baselines.PopularityBaseline().fit(sequences),
        "Markov chain": baselines.MarkovBaseline().fit(sequences),
    }
    rows = []
    for label, scorer in scorers.items():
        metrics = loo.evaluate(
            scorer, sequences, split="test", protocol="full", max_users=max_users
        )
        rows.append({"model": label, **{k: v for k, v in metrics.items() if k != "split"}})
    return pd.DataFrame(rows)


def _loaded_dataset(loaded: Any, ws: Workspace, run: str) -> str:
    name = getattr(loaded, "dataset", None) or run_dataset(run_config(ws, run))
    if not name:
        raise BehaviorLensError(f"run {run!r}: config.json does not name its dataset")
    return name


@dataclass
class NextActions:
    """Top next items and event types for one history, with probabilities."""

    items: pd.DataFrame  # item, probability
    events: pd.DataFrame  # event, probability


def predict_next(loaded: Any, sequences: Any, user: int, top_k: int = 10) -> NextActions:
    """What the model expects after the user's full history."""
    cutoffs = np.asarray([sequences.offsets[user + 1]])
    prediction = loaded.predict_next(sequences, np.asarray([user]), cutoffs)
    return _next_actions(prediction, sequences, top_k)


def _next_actions(prediction: Any, sequences: Any, top_k: int) -> NextActions:
    """Top-k of NextPrediction (probabilities over items and event types; reserved ids are 0)."""
    return NextActions(
        items=_top(np.asarray(prediction.item_scores)[0], sequences.item_vocab, top_k, "item"),
        events=_top(np.asarray(prediction.event_probs)[0], sequences.event_vocab, top_k, "event"),
    )


def _top(probs: np.ndarray, vocab: Any, top_k: int, label: str) -> pd.DataFrame:
    from core.data.vocab import NUM_RESERVED

    probs = np.asarray(probs, dtype=np.float64).copy()
    probs[:NUM_RESERVED] = 0.0
    order = np.argsort(-probs, kind="stable")[: min(top_k, len(probs) - NUM_RESERVED)]
    return pd.DataFrame(
        {label: [vocab.token_of(int(i)) for i in order], "probability": probs[order]}
    )


def what_if(
    loaded: Any, sequences: Any, user: int, appended: list[tuple[str, str]], top_k: int = 10
) -> NextActions:
    """Predictions after the user's history plus hypothetical (item, event) steps."""
    extended = with_appended(sequences, user, appended)
    cutoffs = np.asarray([extended.offsets[1]])
    prediction = loaded.predict_next(extended, np.asarray([0]), cutoffs)
    return _next_actions(prediction, extended, top_k)


def with_appended(sequences: Any, user: int, appended: list[tuple[str, str]]) -> Any:
    """A one-user EventSequences: the user's history plus what-if (item, event) steps, 1 min apart."""
    from core.data.sequences import EventSequences

    rows = slice(int(sequences.offsets[user]), int(sequences.offsets[user + 1]))
    items = [sequences.item_vocab.id_of(item) for item, _ in appended]
    events = [sequences.event_vocab.id_of(event) for _, event in appended]
    last_ts = int(sequences.timestamps[rows][-1]) if rows.stop > rows.start else 0
    last_session = int(sequences.sessions[rows][-1]) if rows.stop > rows.start else 0
    extra = len(appended)
    return EventSequences(
        user_ids=np.asarray([sequences.user_ids[user]]),
        offsets=np.asarray([0, rows.stop - rows.start + extra], dtype=np.int64),
        items=np.concatenate([sequences.items[rows], np.asarray(items, dtype=np.int32)]),
        events=np.concatenate([sequences.events[rows], np.asarray(events, dtype=np.int32)]),
        categories=np.concatenate([sequences.categories[rows], _categories_of(sequences, items)]),
        timestamps=np.concatenate(
            [sequences.timestamps[rows], last_ts + 60_000 * np.arange(1, extra + 1)]
        ),
        sessions=np.concatenate([sequences.sessions[rows], np.full(extra, last_session)]),
        item_vocab=sequences.item_vocab,
        event_vocab=sequences.event_vocab,
        category_vocab=sequences.category_vocab,
    )


def _categories_of(sequences: Any, items: list[int]) -> np.ndarray:
    """Category id of each item as last seen in the data (UNK when the item never occurred)."""
    from core.data.vocab import UNK

    out = np.full(len(items), UNK, dtype=sequences.categories.dtype)
    for i, item in enumerate(items):
        rows = np.flatnonzero(sequences.items == item)
        if len(rows):
            out[i] = sequences.categories[rows[-1]]
    return out


def run_outputs(ws: Workspace, run: str) -> Any:
    """Segments, assignments, anomalies and metrics a run's analyses wrote (core.reports.build)."""
    build = require("core.reports.build", "Run outputs")
    return build.load_run_outputs(ws, run)


def user_timeline(ws: Workspace, dataset: str, user_id: str, limit: int = 500) -> pd.DataFrame:
    """One user's events (time, session, event, item, category), read from events.parquet."""
    import duckdb

    query = (
        "SELECT ts, session_idx AS session, event, item, category, src_row FROM read_parquet(?) "
        f"WHERE user_id = ? ORDER BY ts, src_row LIMIT {int(limit)}"
    )
    with duckdb.connect() as con:
        return con.execute(query, [str(events_path(ws, dataset)), str(user_id)]).df()


def build_report(
    ws: Workspace,
    dataset: str,
    run: str | None,
    sections: list[str],
    segment: str | None,
    metrics: dict[str, Any] | None,
) -> tuple[str, dict[str, pd.DataFrame]]:
    """HTML report and its tables; `metrics` (model vs baselines) fills the quality section."""
    build = require("core.reports.build", "Reports")
    outputs = build.load_run_outputs(ws, run) if run else build.ModelOutputs()
    if metrics and outputs.metrics is None:
        outputs = build.ModelOutputs(
            metrics, outputs.segments, outputs.assignments, outputs.anomalies
        )
    html, parts = build.build_report_parts(
        ws, dataset, run=run, sections=sections or None, segment_filter=segment, outputs=outputs
    )
    return html, parts["tables"]


def csv_zip(tables: dict[str, pd.DataFrame]) -> bytes:
    """The report's tables as a zip of spreadsheet-safe CSVs (core.reports.csv_safe)."""
    import tempfile
    import zipfile
    from io import BytesIO

    csv_safe = require("core.reports.csv_safe", "CSV export")
    buffer = BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buffer, "w") as archive:
        for name, table in tables.items():
            path = Path(tmp) / f"{name}.csv"
            csv_safe.write_csv_safe(table, path)
            archive.write(path, arcname=path.name)
    return buffer.getvalue()


def quality_metrics(quality: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The quality table as {model: {metric: value}}, the shape reports expect."""
    metric_columns = [c for c in quality.columns if "@" in c or c == "mrr"]
    return {
        row["model"]: {c: float(row[c]) for c in metric_columns} for _, row in quality.iterrows()
    }
