"""Read stored datasets back: manifest, vocabularies, and `EventSequences` for the model.

`load_sequences` is on the path of every training run and dashboard page, so it reads only the
integer columns it needs with pyarrow and builds the CSR offsets with numpy (no per-row Python).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.data.build import VOCAB_ROLES
from core.data.sequences import EventSequences
from core.data.vocab import Vocab
from core.errors import InputError
from core.workspace import Workspace, read_json

_SEQUENCE_COLUMNS = [
    "user_idx",
    "user_id",
    "session_idx",
    "ts",
    "item_idx",
    "event_idx",
    "category_idx",
]


def events_path(workspace: Workspace, name: str) -> Path:
    """The dataset's events.parquet, for DuckDB queries in place."""
    return workspace.existing_dataset_dir(name) / "events.parquet"


def load_manifest(workspace: Workspace, name: str) -> dict[str, Any]:
    return read_json(workspace.existing_dataset_dir(name) / "manifest.json")


def load_vocab(workspace: Workspace, name: str, kind: str) -> Vocab:
    """One vocabulary: kind is 'items', 'events' or 'categories'."""
    if kind not in VOCAB_ROLES:
        raise ValueError(f"unknown vocabulary {kind!r}; use one of {', '.join(VOCAB_ROLES)}")
    path = workspace.existing_dataset_dir(name) / f"vocab_{kind}.parquet"
    table = pq.read_table(path)
    return Vocab(table.column("token").to_pylist(), table.column("count").to_pylist())


def list_datasets(workspace: Workspace) -> list[dict[str, Any]]:
    """Name, source and stats of every complete dataset, for `python -m core datasets`."""
    result = []
    for name in workspace.dataset_names():
        manifest = load_manifest(workspace, name)
        stats = manifest.get("stats", {})
        result.append(
            {
                "name": name,
                "source": manifest.get("source", {}).get("path"),
                "format": manifest.get("source", {}).get("format"),
                "has_time": manifest.get("has_time"),
                "created": manifest.get("created"),
                **{
                    k: stats.get(k)
                    for k in ("events", "users", "items", "sessions", "start", "end")
                },
            }
        )
    return result


def load_sequences(workspace: Workspace, name: str) -> EventSequences:
    """All users' time-ordered events as flat numpy arrays + offsets (rows already sorted)."""
    path = events_path(workspace, name)
    try:
        table = pq.read_table(path, columns=_SEQUENCE_COLUMNS)
    except (pa.ArrowInvalid, KeyError, OSError) as error:
        raise InputError(
            f"unreadable events file ({error}); ingest the dataset again", file=path
        ) from error
    user_idx = table.column("user_idx").to_numpy()
    num_users = int(user_idx[-1]) + 1 if len(user_idx) else 0
    offsets = np.zeros(num_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(user_idx, minlength=num_users), out=offsets[1:])
    firsts = pa.array(offsets[:-1])
    ts = pc.cast(table.column("ts"), pa.timestamp("ms", tz="UTC")).cast(pa.int64())
    return EventSequences(
        user_ids=table.column("user_id").take(firsts).to_numpy(zero_copy_only=False).astype(str),
        offsets=offsets,
        items=table.column("item_idx").to_numpy().astype(np.int32, copy=False),
        events=table.column("event_idx").to_numpy().astype(np.int32, copy=False),
        categories=table.column("category_idx").to_numpy().astype(np.int32, copy=False),
        timestamps=ts.to_numpy().astype(np.int64, copy=False),
        sessions=table.column("session_idx").to_numpy().astype(np.int64, copy=False),
        item_vocab=load_vocab(workspace, name, "items"),
        event_vocab=load_vocab(workspace, name, "events"),
        category_vocab=load_vocab(workspace, name, "categories"),
    )
