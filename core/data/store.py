"""Read stored datasets back: manifest, vocabularies, and `EventSequences` for the model.

`load_sequences` is on the path of every training run and dashboard page, so it reads only the
integer columns it needs with pyarrow and builds the CSR offsets with numpy (no per-row Python).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    """All users' time-ordered events as flat numpy arrays + offsets (rows already sorted).

    Read one row group at a time into arrays allocated once, so the peak is the arrays plus
    one row group: reading the whole table first (100M user-id strings, timestamp casts,
    chunked-array copies) doubled the peak on a 100M-event log.
    """
    path = events_path(workspace, name)
    try:
        parts = pq.ParquetFile(path)
        columns = _SequenceColumns.allocate(parts.metadata.num_rows)
        for group in range(parts.num_row_groups):
            columns.add(parts.read_row_group(group, columns=_SEQUENCE_COLUMNS))
    except (pa.ArrowInvalid, KeyError, OSError) as error:
        raise InputError(
            f"unreadable events file ({error}); ingest the dataset again", file=path
        ) from error
    return EventSequences(
        user_ids=columns.user_ids(),
        offsets=columns.offsets(),
        items=columns.items,
        events=columns.events,
        categories=columns.categories,
        timestamps=columns.timestamps,
        sessions=columns.sessions,
        item_vocab=load_vocab(workspace, name, "items"),
        event_vocab=load_vocab(workspace, name, "events"),
        category_vocab=load_vocab(workspace, name, "categories"),
    )


@dataclass
class _SequenceColumns:
    """The flat arrays being filled, row group by row group, and where each user starts."""

    items: np.ndarray  # (N,) int32
    events: np.ndarray  # (N,) int32
    categories: np.ndarray  # (N,) int32
    timestamps: np.ndarray  # (N,) int64 ms
    sessions: np.ndarray  # (N,) int64
    filled: int = 0  # rows written so far
    last_user: int = -1  # user_idx of the last row written
    firsts: list[np.ndarray] = field(default_factory=list)  # first row of each user, per group
    ids: list[np.ndarray] = field(default_factory=list)  # those users' ids, per group

    @classmethod
    def allocate(cls, rows: int) -> _SequenceColumns:
        ints = [np.empty(rows, dtype=np.int32) for _ in range(3)]
        return cls(*ints, np.empty(rows, dtype=np.int64), np.empty(rows, dtype=np.int64))

    def add(self, table: pa.Table) -> None:
        rows = slice(self.filled, self.filled + table.num_rows)
        self.items[rows] = table.column("item_idx").to_numpy()
        self.events[rows] = table.column("event_idx").to_numpy()
        self.categories[rows] = table.column("category_idx").to_numpy()
        ts = pc.cast(table.column("ts"), pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        self.timestamps[rows] = ts.to_numpy()
        self.sessions[rows] = table.column("session_idx").to_numpy()
        users = table.column("user_idx").to_numpy()
        new = np.flatnonzero(np.r_[users[:1] != self.last_user, users[1:] != users[:-1]])
        self.firsts.append(new + self.filled)
        self.ids.append(table.column("user_id").take(pa.array(new)).to_numpy(zero_copy_only=False))
        if len(users):
            self.last_user = int(users[-1])
        self.filled += table.num_rows

    def offsets(self) -> np.ndarray:
        """(U + 1,) int64: each user's first row, then the row count."""
        firsts = np.concatenate(self.firsts) if self.firsts else np.zeros(0, dtype=np.int64)
        return np.r_[firsts, self.filled].astype(np.int64)

    def user_ids(self) -> np.ndarray:
        ids = np.concatenate(self.ids) if self.ids else np.zeros(0, dtype=object)
        return ids.astype(str)
