"""Writing a built dataset: events.parquet and vocab_*.parquet, as docs/contracts.md describes.

Kept apart from `core.data.build` (which decides what the rows are) because this module only
decides how they are stored: the schema, Parquet encodings chosen for scan speed and size, and
row groups written one at a time so that only one group's strings ever exist in memory.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.data.build import VOCAB_ROLES, Events, Vocabulary, has_missing
from core.data.intern import MISSING
from core.data.vocab import RESERVED_TOKENS, UNK

ROW_GROUP_ROWS = 1 << 17  # events.parquet row group: small enough for parallel DuckDB scans
_STRING_COLUMNS = ("user_id", "event", "item", "category")
_UNSORTED_TEXT = ("event", "item", "category")  # no column statistics written for these
_DELTA_COLUMNS = ("user_idx", "session_idx", "ts", "src_row")  # sorted: delta-packed in Parquet
_DICTIONARY_COLUMNS = (*_STRING_COLUMNS, "item_idx", "event_idx", "category_idx")
SMALL_DICTIONARY = 4096  # vocabularies up to this size are given whole to every row group
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())
EVENTS_SCHEMA = pa.schema(
    [
        pa.field("user_idx", pa.int32(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("session_idx", pa.int64(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("event", pa.string(), nullable=False),
        pa.field("item", pa.string()),  # null: an event without an item (a search)
        pa.field("category", pa.string()),
        pa.field("item_idx", pa.int32()),
        pa.field("event_idx", pa.int32()),
        pa.field("category_idx", pa.int32()),
        pa.field("src_row", pa.int64(), nullable=False),
    ]
)

# What the writer is handed: strings as row-group dictionaries (stored as plain Parquet strings).
_WRITE_SCHEMA = pa.schema(
    [
        field.with_type(_DICTIONARY) if field.name in _STRING_COLUMNS else field
        for field in EVENTS_SCHEMA
    ]
)


def write_vocabs(vocabs: dict[str, Vocabulary], folder: Path) -> None:
    """vocab_NAME.parquet (token, count): row i is id i, reserved tokens first with count 0."""
    for name, vocab in vocabs.items():
        tokens = pa.concat_arrays([pa.array(RESERVED_TOKENS, pa.string()), vocab.tokens])
        counts = np.concatenate([np.zeros(len(RESERVED_TOKENS), np.int64), vocab.counts])
        table = pa.table({"token": tokens, "count": pa.array(counts, pa.int64())})
        pq.write_table(table, folder / f"vocab_{name}.parquet", compression="snappy")


def write_events(events: Events, path: Path) -> None:
    """events.parquet sorted by (user_idx, ts, src_row), columns as in docs/contracts.md.

    Written one row group at a time, so only one group's strings ever exist in memory; a worker
    thread encodes group i (the Parquet writer releases the GIL) while group i + 1 is gathered.
    """
    ids = {  # code -> vocabulary id, with MISSING (-1) landing on the appended missing id
        role: np.append(events.vocabs[name].ids, events.vocabs[name].missing_id).astype(np.int32)
        for name, role in VOCAB_ROLES.items()
        if role in events.columns
    }
    with (
        _writer(path) as out,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet") as pool,
    ):
        writing: Future[None] | None = None
        for start in range(0, len(events.ts), ROW_GROUP_ROWS):
            table = _row_group(events, ids, slice(start, start + ROW_GROUP_ROWS))
            if writing is not None:
                writing.result()
            writing = pool.submit(out.write_table, table, row_group_size=ROW_GROUP_ROWS)
        if writing is not None:
            writing.result()
        else:
            out.write_table(_WRITE_SCHEMA.empty_table())


def _writer(path: Path) -> pq.ParquetWriter:
    """Encodings chosen for CPU first, then size (bench/RESULTS.md, Ingest: -35% bytes).

    Sorted integers (user_idx, session_idx, ts; src_row within a user) are delta-packed and left
    uncompressed (snappy gains ~1% on delta-packed data); low-cardinality ids are dictionary pages.
    """
    return pq.ParquetWriter(
        path,
        _WRITE_SCHEMA,
        compression={n: "none" if n in _DELTA_COLUMNS else "snappy" for n in _WRITE_SCHEMA.names},
        use_dictionary=list(_DICTIONARY_COLUMNS),
        column_encoding=dict.fromkeys(_DELTA_COLUMNS, "DELTA_BINARY_PACKED"),
        # min/max of event/item/category prune nothing in a file sorted by user (-20% CPU)
        write_statistics=[f.name for f in EVENTS_SCHEMA if f.name not in _UNSORTED_TEXT],
        store_schema=False,  # readers see plain strings, as in EVENTS_SCHEMA
    )


def _row_group(events: Events, ids: dict[str, np.ndarray], part: slice) -> pa.Table:
    users = events.user_idx[part]
    arrays = {
        "user_idx": pa.array(users),
        "user_id": _user_ids(users, events.user_tokens),
        "session_idx": pa.array(events.session_idx[part].astype(np.int64)),
        "ts": pa.array(events.ts[part] * 1000, pa.timestamp("us", tz="UTC")),
    }
    codes = {role: column.codes[part] for role, column in events.columns.items()}
    for role in ("event", "item", "category"):
        column = events.columns.get(role)
        arrays[role] = (
            pa.nulls(len(users), _DICTIONARY)
            if column is None
            else _dictionary(codes[role], column.tokens)
        )
    for role in ("item", "event", "category"):
        arrays[f"{role}_idx"] = pa.array(
            ids[role][codes[role]] if role in ids else np.full(len(users), UNK, np.int32)
        )
    arrays["src_row"] = pa.array(events.lines.of(events.rows[part]))
    return pa.Table.from_pydict(arrays, schema=_WRITE_SCHEMA)


def _user_ids(users: np.ndarray, tokens: pa.Array) -> pa.DictionaryArray:
    """user_id of sorted rows: their user_idx are one contiguous range (every index has a row),
    so the group's dictionary is a zero-copy slice of the user tokens."""
    low = int(users[0]) if len(users) else 0
    count = int(users[-1]) - low + 1 if len(users) else 0
    return pa.DictionaryArray.from_arrays(pa.array(users - low), tokens.slice(low, count))


def _dictionary(codes: np.ndarray, tokens: pa.Array) -> pa.DictionaryArray:
    """The tokens of `codes` as a dictionary array, so the Parquet writer takes the dictionary as
    is instead of hashing every string again.

    A small vocabulary (event types, categories) goes whole into each group; a large one is cut to
    the tokens this group uses, so each row group's dictionary page stays small.
    """
    mask = codes == MISSING if has_missing(codes) else None
    if len(tokens) <= SMALL_DICTIONARY:
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), mask=mask), tokens)
    used = np.zeros(len(tokens) + 1, dtype=bool)  # last slot: MISSING (-1) lands there
    used[codes] = True
    used[-1] = False
    local = np.cumsum(used, dtype=np.int32) - 1  # code -> index among the used tokens
    indices = pa.array(local[codes], mask=mask)
    return pa.DictionaryArray.from_arrays(indices, tokens.take(pa.array(np.flatnonzero(used))))
