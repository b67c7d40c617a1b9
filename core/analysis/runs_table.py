"""Runs side by side (`python -m core runs`, the Train page) and the dataset's default run.

One row per run, read from the files a run leaves (config.json, metrics.json, progress.jsonl,
status.json) without loading weights: model size, how long and how far it trained, and its
HR@10 / NDCG@10 beside the most-popular and Markov-chain baselines. Test figures come from
metrics.json (written by `evaluate`); a run never evaluated shows its best validation figures
from config.json instead, marked `figures = "validation"` (validation is easier than test on
most logs, so compare like with like).

The default run of a dataset is remembered in WORKSPACE/datasets/NAME/default_run.json
(`{"run": NAME, "updated": ISO time}`); pickers open on it, else on the dataset's newest run.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.analysis.run_info import METRICS_FILE, run_identity, run_meta
from core.errors import BehaviorLensError, NotFoundError
from core.workspace import Workspace, atomic_write_json, read_json

DEFAULT_RUN_FILE = "default_run.json"  # in the dataset folder: {"run", "updated"}
METRICS = ("hr@10", "ndcg@10")  # the figures compared
BASELINES = {"popular": "popular", "markov": "markov"}  # metrics.json key -> column prefix
TAIL_BYTES = 8192  # enough of progress.jsonl's end to hold its last line


def compare_runs(workspace: Workspace, dataset: str | None = None) -> pd.DataFrame:
    """One row per run (of `dataset`, or all), newest first; columns documented in the module.

    Columns: run, dataset, kind, objective, dim, layers, heads, parameters, minutes, epochs run,
    best epoch, protocol, figures, hr@10, ndcg@10, popular hr@10, popular ndcg@10, markov hr@10,
    markov ndcg@10, status, created, default.
    """
    rows = []
    for name in workspace.run_names():
        meta = run_meta(workspace, name)
        if dataset is None or meta.get("dataset") == dataset:
            rows.append(run_row(workspace, name, meta))
    defaults = {d: default_run(workspace, d) for d in {r["dataset"] for r in rows if r["dataset"]}}
    for row in rows:
        row["default"] = defaults.get(row["dataset"]) == row["run"]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values("created", ascending=False, kind="stable").reset_index(drop=True)


COLUMNS = ["run", "dataset", "kind", "objective", "dim", "layers", "heads", "parameters",
           "minutes", "epochs run", "best epoch", "protocol", "figures", "hr@10", "ndcg@10",
           "popular hr@10", "popular ndcg@10", "markov hr@10", "markov ndcg@10", "status",
           "created", "default"]  # fmt: skip


def run_row(workspace: Workspace, name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The table row of one run (see `compare_runs`)."""
    folder = workspace.run_dir(name)
    model = meta.get("model_config") or {}
    row: dict[str, Any] = {
        **run_identity(name, meta),
        "dim": model.get("dim"),
        "layers": model.get("layers"),
        "heads": model.get("heads"),
        "parameters": parameter_count(json.dumps(model, sort_keys=True)) if model else None,
        "minutes": trained_minutes(folder),
        "status": _status(folder),
        "created": meta.get("created"),
    }
    return {**row, **_figures(folder, name, meta)}


def _figures(folder: Path, name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Test figures of the run and the baselines (metrics.json), else its validation figures."""
    path = folder / METRICS_FILE
    metrics = _json_or_none(path) if path.is_file() else None
    own = (metrics or {}).get(name)
    if isinstance(own, dict):
        out = {"protocol": own.get("protocol"), "figures": own.get("split", "test")}
        out.update({m: own.get(m) for m in METRICS})
        for key, prefix in BASELINES.items():
            base = metrics.get(key) if isinstance(metrics.get(key), dict) else {}
            out.update({f"{prefix} {m}": base.get(m) for m in METRICS})
        return out
    val = meta.get("metrics") or {}
    if not any(isinstance(val.get(m), int | float) for m in METRICS):
        return {"protocol": None, "figures": None}
    out = {"protocol": val.get("protocol"), "figures": "validation"}
    return {**out, **{m: val.get(m) for m in METRICS}}


@functools.lru_cache(maxsize=64)
def parameter_count(model_config_json: str) -> int | None:
    """Trainable parameters of a model config (built on the meta device: no memory, no weights)."""
    import torch

    from core.model import BehaviorTransformer, ModelConfig

    try:
        config = ModelConfig.from_dict(json.loads(model_config_json))
    except (KeyError, TypeError, ValueError):
        return None
    with torch.device("meta"):
        model = BehaviorTransformer(config)
    return sum(p.numel() for p in model.parameters())


def trained_minutes(folder: Path) -> float | None:
    """Training minutes (summed over resumes) from the last line of progress.jsonl."""
    path = folder / "progress.jsonl"
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - TAIL_BYTES))
        lines = handle.read().decode("utf-8", errors="replace").splitlines()
    for line in reversed(lines):
        try:
            elapsed = json.loads(line).get("elapsed")
        except (json.JSONDecodeError, AttributeError):
            continue  # a half-written last line, or the cut first one
        if isinstance(elapsed, int | float):
            return round(elapsed / 60.0, 2)
    return None


def _status(folder: Path) -> str:
    status = _json_or_none(folder / "status.json") or {}
    return str(status.get("state") or "finished")


def _json_or_none(path: Path) -> Any:
    try:
        return read_json(path)
    except (OSError, json.JSONDecodeError):
        return None


# --- the default run of a dataset -----------------------------------------------------------


def default_run(workspace: Workspace, dataset: str) -> str | None:
    """The remembered default run of `dataset`, if it still exists and was trained on it."""
    path = workspace.dataset_dir(dataset) / DEFAULT_RUN_FILE
    record = _json_or_none(path) if path.is_file() else None
    run = record.get("run") if isinstance(record, dict) else None
    if not isinstance(run, str) or run not in workspace.run_names():
        return None
    return run if run_meta(workspace, run).get("dataset") == dataset else None


def set_default_run(workspace: Workspace, dataset: str, run: str) -> None:
    """Remember `run` as the default of `dataset` (it must be a run trained on that dataset)."""
    folder = workspace.existing_dataset_dir(dataset)
    trained_on = run_meta(workspace, run).get("dataset")
    if trained_on != dataset:
        raise BehaviorLensError(
            f"run {run!r} was trained on dataset {trained_on!r}, not {dataset!r}"
        )
    updated = datetime.now(UTC).isoformat(timespec="seconds")
    atomic_write_json(folder / DEFAULT_RUN_FILE, {"run": run, "updated": updated})


def newest_run(workspace: Workspace, dataset: str) -> str | None:
    """The most recently created run of `dataset` that finished training, else its most recent
    one (None when it has none): a cancelled or failed run is not what pages should open on."""
    created = {
        name: (_status(workspace.run_dir(name)) == "finished", str(meta.get("created") or ""))
        for name in workspace.run_names()
        if (meta := run_meta(workspace, name)).get("dataset") == dataset
    }
    return max(created, key=lambda name: (*created[name], name)) if created else None


def preferred_run(workspace: Workspace, dataset: str) -> str | None:
    """What a run picker opens on: the dataset's default run, else its newest run."""
    try:
        return default_run(workspace, dataset) or newest_run(workspace, dataset)
    except NotFoundError:
        return None
