"""Every user's next items and next event type, in one file (`predict --all`, the Predict page).

Layout: long format, one row per (user, rank), so a spreadsheet can filter and pivot it:

| column | meaning |
|---|---|
| user_id | user id as in the source file |
| rank | 1 = most likely next item |
| item_id / item_label | the item (its readable label; the id when the dataset has none) |
| prob | the model's probability that this item comes next |
| seen | the user already interacted with the item (repeats are real behaviour, so kept) |
| next_event / next_event_prob | the most likely next event type and its probability (same on all of a user's rows) |

Users are scored a chunk at a time: each block of query states is reduced to its top k inside
torch (`core.analysis.item_topk`: one pass per block of items, online log-sum-exp), so the
(users, items) probability matrix never exists, and
rows are streamed to the file chunk by chunk. Memory stays bounded by `chunk` whatever the
number of users. The item head gives reserved ids and the no-item token -inf, so neither is
ever listed; k is capped at the number of real items.

Under torchrun (`torchrun --nproc_per_node=N -m core -- predict --all …`) every rank encodes
its share of each chunk's forward batches, the per-user top k are gathered on rank 0, and rank
0 alone writes: the same batches as one process, so the same file.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as csv
import pyarrow.parquet as pq

from core import fs_atomic
from core.analysis.item_topk import ItemTopK
from core.data.items import ItemCatalog
from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.progress import ProgressCallback, ProgressEvent
from core.reports.csv_safe import neutralise_cell
from core.training.distributed import DistContext, gather_to_main

CHUNK_USERS = 4096  # users encoded per chunk: bounds memory (states + rows), not speed
BLOCK_ROWS = 256  # query states scored together against each block of items (ItemTopK)
COLUMNS = ("user_id", "rank", "item_id", "item_label", "prob", "seen", "next_event",
           "next_event_prob")  # fmt: skip
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}  # by the file's extension
SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("rank", pa.int16()),
        ("item_id", pa.string()),
        ("item_label", pa.string()),
        ("prob", pa.float32()),
        ("seen", pa.bool_()),
        ("next_event", pa.string()),
        ("next_event_prob", pa.float32()),
    ]
)


@dataclass
class ChunkTop:
    """Top-k next items and the top next event for a run of consecutive users."""

    users: np.ndarray  # (n,) user indices
    item_ids: np.ndarray  # (n, k) item vocabulary ids, best first
    item_probs: np.ndarray  # (n, k) float32 probabilities
    event_ids: np.ndarray  # (n,) most likely next event type id
    event_probs: np.ndarray  # (n,) its probability


def export_format(path: str | Path) -> str:
    """ "csv" or "parquet" from the file's extension; anything else is refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise BehaviorLensError(
            f"{path}: cannot tell the format from {suffix or 'no extension'!r}; "
            "name the file .csv or .parquet"
        )
    return FORMATS[suffix]


def top_k_chunks(
    loaded: Any,
    sequences: EventSequences,
    top_k: int,
    chunk: int = CHUNK_USERS,
    on_progress: ProgressCallback | None = None,
    context: DistContext | None = None,
) -> Iterator[ChunkTop]:
    """Top-k items (with probabilities) and the top event type after every user's whole history.

    `loaded` is a `core.inference.loading.LoadedRun` trained on `sequences`' vocabularies.
    Under torchrun (`context`) every rank scores its share of each chunk's forward batches and
    rank 0 alone yields the chunk, gathered (the other ranks yield nothing).
    """
    loaded.check_vocab(sequences)
    k = checked_top_k(top_k, sequences)
    context = context or DistContext()
    scorer = loaded.scorer()
    ranker = ItemTopK(scorer.model.item_head)
    total = sequences.num_users
    for start in range(0, total, chunk):
        users = np.arange(start, min(start + chunk, total), dtype=np.int64)
        shares = gather_to_main(_score_share(scorer, ranker, sequences, users, k, context), context)
        if shares is None:
            continue
        yield _merged(users, shares)
        if on_progress is not None:
            on_progress(ProgressEvent("predict", users[-1] + 1, total, "users scored"))


def _score_share(
    scorer: Any,
    ranker: ItemTopK,
    sequences: EventSequences,
    users: np.ndarray,
    k: int,
    context: DistContext,
) -> ChunkTop:
    """The top k of the users of `users` (consecutive) that this rank scores."""
    model = scorer.model
    ids = np.empty((len(users), k), dtype=np.int64)
    probs = np.empty((len(users), k), dtype=np.float32)
    events = np.empty(len(users), dtype=np.int64)
    event_probs = np.empty(len(users), dtype=np.float32)
    cutoffs = sequences.offsets[users + 1]
    scored = []
    for idx, hidden in scorer.query_states(sequences, users, cutoffs, context):  # (b, D)
        best_event = model.event_head.predict(hidden).float().max(dim=1)  # (b,)
        events[idx] = best_event.indices.cpu().numpy()
        event_probs[idx] = best_event.values.cpu().numpy()
        for s in range(0, len(idx), BLOCK_ROWS):
            best_ids, best_probs = ranker(hidden[s : s + BLOCK_ROWS], k)
            ids[idx[s : s + BLOCK_ROWS]] = best_ids.cpu().numpy()
            probs[idx[s : s + BLOCK_ROWS]] = best_probs.cpu().numpy()
        scored.append(idx)
    mine = np.sort(np.concatenate(scored)) if scored else np.zeros(0, dtype=np.int64)
    return ChunkTop(users[mine], ids[mine], probs[mine], events[mine], event_probs[mine])


def _merged(users: np.ndarray, shares: list[ChunkTop]) -> ChunkTop:
    """One `ChunkTop` for consecutive `users` from the ranks' shares (each user in one)."""
    if len(shares) == 1:
        return shares[0]
    names = [f.name for f in fields(ChunkTop)]  # users first
    columns = [np.concatenate([getattr(share, name) for share in shares]) for name in names]
    order = np.argsort(columns[0], kind="stable")  # user indices back in order
    merged = ChunkTop(*(values[order] for values in columns))
    if not np.array_equal(merged.users, users):
        raise ValueError(f"ranks scored users {merged.users[:5]}..., not {users[:5]}...")
    return merged


def checked_top_k(top_k: int, sequences: EventSequences) -> int:
    """`top_k` capped at the number of recommendable items; below 1 is refused."""
    if top_k < 1:
        raise BehaviorLensError(f"top k must be at least 1, got {top_k}")
    vocab = sequences.item_vocab
    real = len(vocab) - vocab.first_real_id
    if real < 1:
        raise BehaviorLensError("the dataset has no item that can be predicted")
    return min(top_k, real)


def seen_mask(sequences: EventSequences, users: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(n, k) bool: item ids[i, j] occurs in the history of consecutive users `users`."""
    first, last = int(users[0]), int(users[-1])
    offsets = sequences.offsets[first : last + 2]
    history = sequences.items[offsets[0] : offsets[-1]].astype(np.int64)  # (events,)
    owner = np.repeat(np.arange(len(users)), np.diff(offsets))  # (events,) row in the chunk
    width = len(sequences.item_vocab)
    known = np.unique(owner * width + history)
    wanted = np.arange(len(users))[:, None] * width + ids  # (n, k)
    return np.isin(wanted, known)


class RowBuilder:
    """Turns `ChunkTop`s into frames of the long layout; labels are looked up once per item id."""

    def __init__(self, sequences: EventSequences, catalog: ItemCatalog, csv_safe: bool) -> None:
        safe = np.vectorize(neutralise_cell, otypes=[object]) if csv_safe else None
        self.sequences = sequences

        def table(values: list[str]) -> np.ndarray:
            array = np.asarray(values, dtype=object)
            return safe(array) if safe is not None and len(array) else array

        tokens = sequences.item_vocab.tokens
        self.item_ids = table(list(tokens))
        self.item_labels = table(catalog.labels(tokens))
        self.events = table(list(sequences.event_vocab.tokens))
        self.user_ids = table([str(u) for u in sequences.user_ids])

    def frame(self, top: ChunkTop) -> pd.DataFrame:
        n, k = top.item_ids.shape
        users = np.repeat(top.users, k)  # (n * k,)
        flat = top.item_ids.ravel()
        seen = seen_mask(self.sequences, top.users, top.item_ids).ravel()
        return pd.DataFrame(
            {
                "user_id": self.user_ids[users],
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int16), n),
                "item_id": self.item_ids[flat],
                "item_label": self.item_labels[flat],
                "prob": top.item_probs.ravel(),
                "seen": seen,
                "next_event": np.repeat(self.events[top.event_ids], k),
                "next_event_prob": np.repeat(top.event_probs, k),
            }
        )


def write_frames(frames: Iterator[pd.DataFrame], handle: BinaryIO, fmt: str) -> int:
    """Streams frames into an open binary file as CSV (header once) or Parquet; returns rows.

    CSV cells must already be neutralised (`RowBuilder(csv_safe=True)`); `seen` reads true/false.
    """
    rows = 0
    if fmt == "parquet":
        with pq.ParquetWriter(handle, SCHEMA) as writer:
            for frame in frames:
                writer.write_table(pa.Table.from_pandas(frame, SCHEMA, preserve_index=False))
                rows += len(frame)
        return rows
    options = csv.WriteOptions(include_header=True)
    with csv.CSVWriter(handle, SCHEMA, write_options=options) as writer:
        for frame in frames:
            writer.write_table(pa.Table.from_pandas(frame, SCHEMA, preserve_index=False))
            rows += len(frame)
    return rows


def export_predictions(
    loaded: Any,
    sequences: EventSequences,
    catalog: ItemCatalog,
    path: str | Path,
    top_k: int = 10,
    chunk: int = CHUNK_USERS,
    on_progress: ProgressCallback | None = None,
    context: DistContext | None = None,
) -> dict[str, Any] | None:
    """Writes every user's predictions to `path` (.csv, formula-safe, or .parquet) atomically.

    Under torchrun (`context`) every rank scores its share and rank 0 alone writes the file and
    returns the summary; the other ranks return None.
    """
    target = Path(path)
    fmt = export_format(target)
    started = time.perf_counter()
    frames = prediction_frames(
        loaded, sequences, catalog, top_k, fmt == "csv", chunk, on_progress, context
    )
    if context is not None and not context.is_main:
        for _ in frames:  # scores this rank's share of each chunk and sends it to rank 0
            pass
        return None
    with fs_atomic.replacing(target) as tmp, open(tmp, "wb") as handle:
        rows = write_frames(frames, handle, fmt)
        handle.flush()
        os.fsync(handle.fileno())  # on disk before the rename makes it the file
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; an export is an ordinary file
    return {
        "users": sequences.num_users,
        "rows": rows,
        "top_k": checked_top_k(top_k, sequences),
        "format": fmt,
        "out": str(target),
        "bytes": target.stat().st_size,
        "seconds": round(time.perf_counter() - started, 2),
    }


def predictions_csv(
    loaded: Any,
    sequences: EventSequences,
    catalog: ItemCatalog,
    top_k: int = 10,
    on_progress: ProgressCallback | None = None,
) -> bytes:
    """The same export as formula-safe CSV bytes (the dashboard's download)."""
    buffer = io.BytesIO()
    frames = prediction_frames(loaded, sequences, catalog, top_k, True, on_progress=on_progress)
    write_frames(frames, buffer, "csv")
    return buffer.getvalue()


def prediction_frames(
    loaded: Any,
    sequences: EventSequences,
    catalog: ItemCatalog,
    top_k: int,
    csv_safe: bool,
    chunk: int = CHUNK_USERS,
    on_progress: ProgressCallback | None = None,
    context: DistContext | None = None,
) -> Iterator[pd.DataFrame]:
    """One long-format frame per chunk of users (see the module docstring for the columns);
    under torchrun only rank 0 gets frames (see `top_k_chunks`)."""
    builder = RowBuilder(sequences, catalog, csv_safe)
    for top in top_k_chunks(loaded, sequences, top_k, chunk, on_progress, context):
        yield builder.frame(top)
