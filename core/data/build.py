"""From the reader's integer columns to the rows of a dataset: validate rows, index users, build
vocabularies, sort and sessionize (`core.data.write` then stores them as Parquet).

Everything here is numpy over int32/int64 arrays (strings were turned into codes while reading):
one stable sort by (user, time) with file order as the tie-break, sessions from one vectorised pass
over the sorted arrays, and tokens looked up per row only when a row group is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.data.intern import BINARY, MISSING, CleanColumn
from core.data.reader import MAX_REJECT_EXAMPLES, LineNumbers, ReadResult
from core.data.timeparse import MAX_MS, MIN_MS
from core.data.vocab import NO_ITEM, NUM_RESERVED, UNK

VOCAB_ROLES = {"items": "item", "events": "event", "categories": "category"}  # file -> column
_REASON_TEXT = {
    "user": "missing user id",
    "item": "missing item id",
    "item+event": "missing both item id and event type",
    "time": "missing or unparseable time (expected unix s/ms/us or ISO 8601, 1900..2300)",
    "binary": "binary data (a NUL byte) in the value",
}
FILLER_EVENT = "event"  # event type of rows that have none


@dataclass
class Vocabulary:
    """One vocabulary: real tokens most frequent first (ids from 3), and code -> id."""

    tokens: pa.Array  # (V,) tokens of ids 3..V+2
    counts: np.ndarray  # (V,) int64 occurrences among valid rows
    ids: np.ndarray  # (D,) int32 id of each code of the column (UNK below the min count)
    distinct: int = 0  # distinct tokens among valid rows, kept or not
    missing_id: int = UNK  # id of rows without a value (NUM_RESERVED = NO_ITEM for items)


@dataclass
class Events:
    """The valid rows sorted by (user_idx, ts, src_row), with everything needed to write them."""

    user_idx: np.ndarray  # (N,) int32
    user_tokens: pa.Array  # (U,) user id of each user_idx
    session_idx: np.ndarray  # (N,) int32, or int64 past 2**31 sessions (written as int64)
    ts: np.ndarray  # (N,) int64 ms
    rows: np.ndarray  # (N,) int32/int64 position of each row in the read (file order)
    lines: LineNumbers  # read position -> line in the file (src_row)
    columns: dict[str, CleanColumn]  # item, event, category: codes (N,) in sorted order
    vocabs: dict[str, Vocabulary]  # items, events, categories
    trimmed_events: int = 0  # older events dropped from users past max_events_per_user
    trimmed_users: int = 0  # users whose history was cut so


def validate_rows(read: ReadResult) -> tuple[np.ndarray | None, int, list[dict[str, Any]]]:
    """Drop invalid rows from `read` in place; returns (positions of the kept rows, or None when
    every row is kept; rejected count; first examples by line).

    A row needs a user, a valid time, and an item or an event type: a `search` row without an
    item is an event like any other. Filtering in place keeps one copy of each column alive.
    """
    user, item = read.columns["user"].codes, read.columns["item"].codes
    event = read.columns["event"].codes
    has_item = item != MISSING
    has_what = has_item | (event != MISSING) if read.has_events else has_item
    valid = (user != MISSING) & has_what & (read.ts >= MIN_MS) & (read.ts <= MAX_MS)
    binary = _binary_rows(read)
    if binary is not None:
        valid &= ~binary
    bad = np.flatnonzero(~valid)
    examples = []
    for position, line in zip(
        bad[:MAX_REJECT_EXAMPLES], read.lines.of(bad[:MAX_REJECT_EXAMPLES]), strict=True
    ):
        column, reason = _reject_reason(
            bool(user[position] != MISSING), bool(has_what[position]), read, int(position)
        )
        examples.append({"row": int(line), "column": column, "reason": _REASON_TEXT[reason]})
    if len(bad):
        for column in read.columns.values():
            column.codes = column.codes[valid]
        read.ts = read.ts[valid]
    _fill_missing_events(read.columns["event"])
    return (np.flatnonzero(valid) if len(bad) else None), len(bad), examples


def _binary_rows(read: ReadResult) -> np.ndarray | None:
    """Rows with a NUL byte in any role value (None when there are none: the usual case)."""
    flagged = [c.codes == BINARY for c in read.columns.values() if int(c.codes.min(initial=0)) < -1]
    if not flagged:
        return None
    return np.logical_or.reduce(flagged)


def _reject_reason(
    has_user: bool, has_what: bool, read: ReadResult, position: int
) -> tuple[str, str]:
    """(role at fault, key of _REASON_TEXT) of one rejected row."""
    for role, column in read.columns.items():
        if column.codes[position] == BINARY:
            return role, "binary"
    if not has_user:
        return "user", "user"
    if not has_what:
        return ("item", "item+event") if read.has_events else ("item", "item")
    return "time", "time"


def _fill_missing_events(event: CleanColumn) -> None:
    """Rows with an item but a blank event type are of type 'event' (as in a log without types)."""
    missing = event.codes == MISSING
    if not missing.any():
        return
    tokens = event.tokens.to_pylist()
    if FILLER_EVENT not in tokens:
        event.tokens = pa.array([*tokens, FILLER_EVENT], pa.string())
        tokens.append(FILLER_EVENT)
    codes = event.codes.astype(np.int32)
    codes[missing] = tokens.index(FILLER_EVENT)
    event.codes = codes


def index_users(codes: np.ndarray, tokens: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(user_idx per row, user id per user_idx): dense ids in order of first appearance."""
    first = np.full(len(tokens), len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes), dtype=np.int64))
    present = np.flatnonzero(first < len(codes))
    ranked = present[np.argsort(first[present], kind="stable")]
    idx_of_code = np.zeros(len(tokens), dtype=np.int32)
    idx_of_code[ranked] = np.arange(len(ranked), dtype=np.int32)
    return idx_of_code[codes], tokens.take(pa.array(ranked))


def build_vocab(column: CleanColumn | None, min_count: int) -> Vocabulary:
    """Tokens seen at least `min_count` times, by count descending then token (byte order)."""
    if column is None:
        return Vocabulary(pa.array([], pa.string()), np.zeros(0, np.int64), np.zeros(0, np.int32))
    codes = column.codes if not has_missing(column.codes) else column.codes[column.codes != MISSING]
    counts = np.bincount(codes, minlength=len(column.tokens)).astype(np.int64)
    kept = np.flatnonzero(counts >= max(min_count, 1))
    table = pa.table({"count": counts[kept], "token": column.tokens.take(pa.array(kept))})
    order = pc.sort_indices(table, [("count", "descending"), ("token", "ascending")]).to_numpy()
    ids = np.full(len(column.tokens), UNK, dtype=np.int32)
    ids[kept[order]] = np.arange(len(order), dtype=np.int32) + UNK + 1
    tokens = table.column("token").take(order).combine_chunks()
    return Vocabulary(tokens, counts[kept[order]], ids, int(np.count_nonzero(counts)))


def with_no_item(vocab: Vocabulary, codes: np.ndarray) -> Vocabulary:
    """The item vocabulary with NO_ITEM at id NUM_RESERVED when some rows have no item.

    Real items move up by one id; the no-item count is the number of item-less events.
    """
    missing = int(np.count_nonzero(codes == MISSING)) if has_missing(codes) else 0
    if not missing:
        return vocab
    return Vocabulary(
        tokens=pa.concat_arrays([pa.array([NO_ITEM], pa.string()), vocab.tokens]),
        counts=np.concatenate([[missing], vocab.counts]).astype(np.int64),
        ids=np.where(vocab.ids == UNK, UNK, vocab.ids + 1).astype(np.int32),
        distinct=vocab.distinct,
        missing_id=NUM_RESERVED,
    )


def has_missing(codes: np.ndarray) -> bool:
    return bool(len(codes)) and int(codes.min()) == MISSING


def sort_rows(user_idx: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, user_idx[order], ts[order]): the stable permutation by (user, time) and the two
    sorted keys. Rows come in file order, so ties keep it. `order` is intp, so gathers with it
    take numpy's fast path (an int32 index is converted to a full-size intp temporary per gather).
    """
    if not len(ts):
        return np.zeros(0, dtype=np.intp), user_idx[:0], ts[:0]
    packed = _packed_sort(user_idx, ts)
    if packed is not None:
        return packed
    low, span = int(ts.min()), int(ts.max()) - int(ts.min()) + 1
    if (int(user_idx.max()) + 1) * span < 2**62:  # one int64 key sorts twice as fast as lexsort
        key = user_idx.astype(np.int64)
        key *= span  # in place: one 8-byte temporary instead of three
        key += ts
        key -= low
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((ts, user_idx))
    return order, user_idx[order], ts[order]


def _packed_sort(
    user_idx: np.ndarray, ts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """`sort_rows` from one plain sort of (user | time | position) bit-packed keys.

    Positions make keys unique, so an unstable sort (numpy's SIMD quicksort, ~2x faster than the
    stable argsort) gives the stable order, and the sorted user and time are read back from the
    keys' high bits instead of gathered (two random-access passes saved). Fits when the bits add up
    to 63; logs stamped in whole seconds save 10 bits. None when it does not fit.
    """
    low = int(ts.min())
    rel = ts - low
    unit = 1000 if not np.any(rel % 1000) else 1
    rel //= unit
    pos_bits = (len(ts) - 1).bit_length()
    time_bits = int(rel.max()).bit_length()
    if int(user_idx.max()).bit_length() + time_bits + pos_bits > 63:
        return None
    key = user_idx.astype(np.int64)
    key <<= time_bits + pos_bits
    rel <<= pos_bits
    key |= rel
    del rel
    for start in range(0, len(ts), 1 << 20):  # positions, without a full-size temporary
        key[start : start + (1 << 20)] |= np.arange(start, min(start + (1 << 20), len(ts)))
    key.sort()
    users = (key >> (time_bits + pos_bits)).astype(user_idx.dtype)
    times = key >> pos_bits
    times &= (1 << time_bits) - 1
    times *= unit
    times += low
    key &= (1 << pos_bits) - 1
    return key, users, times


def narrow(values: np.ndarray) -> np.ndarray:
    """int64 indices as int32 when they fit: half the memory for the arrays kept until written."""
    if len(values) and (int(values.max()) >= 2**31 or int(values.min()) < 0):
        return values
    return values.astype(np.int32)


def gap_sessions(user_idx: np.ndarray, ts: np.ndarray, gap_ms: int) -> np.ndarray:
    """Global session index of sorted rows: a new one per user and after more than `gap_ms`."""
    starts = np.ones(len(ts), dtype=bool)
    starts[1:] = (user_idx[1:] != user_idx[:-1]) | (np.diff(ts) > gap_ms)
    return np.cumsum(starts, dtype=np.int64) - 1


def column_sessions(user_idx: np.ndarray, ts: np.ndarray, key: CleanColumn) -> np.ndarray:
    """Global session index from a session column: sessions of a user by first time, then key.

    A missing key is one more session of its user (sorted as the empty string, before any key).
    """
    key_rank = np.zeros(len(key.tokens) + 1, dtype=np.int64)  # slot 0: missing
    key_rank[1:] = pc.rank(key.tokens, sort_keys="ascending", tiebreaker="first").to_numpy()
    pair = user_idx.astype(np.int64) * (len(key.tokens) + 1) + (key.codes.astype(np.int64) + 1)
    groups, group_of_row = np.unique(pair, return_inverse=True)
    first = np.full(len(groups), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, group_of_row, ts)
    group_user, group_key = np.divmod(groups, len(key.tokens) + 1)
    order = np.lexsort((key_rank[group_key], first, group_user))
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups), dtype=np.int64)
    return rank[group_of_row]


def assemble(
    read: ReadResult,
    positions: np.ndarray | None,
    gap_ms: int,
    min_item_count: int,
    max_events_per_user: int = 0,
) -> Events:
    """Index, sort, trim, count and sessionize the valid rows of `read` (see `validate_rows`).

    Consumes `read`: each column is replaced by its sorted copy in turn, so at any time only one
    column exists twice. `positions` maps kept rows to read rows (None: all rows were kept).
    A user with more than `max_events_per_user` events (0: no limit) keeps the latest ones;
    vocabularies count what is kept.
    """
    users = read.columns.pop("user")
    if positions is None:  # codes are already in order of first appearance among kept rows
        user_idx, user_tokens = users.codes.astype(np.int32, copy=False), users.tokens
    else:
        user_idx, user_tokens = index_users(users.codes, users.tokens)
    del users
    order, user_idx, read.ts = sort_rows(user_idx, read.ts)
    for column in read.columns.values():
        column.codes = column.codes[order]
    rows = order if positions is None else narrow(positions[order])
    del order
    keep, trimmed_users = latest_per_user(user_idx, max_events_per_user)
    trimmed = 0
    if keep is not None:
        trimmed = len(keep) - int(np.count_nonzero(keep))
        user_idx, read.ts, rows = user_idx[keep], read.ts[keep], rows[keep]
        for column in read.columns.values():
            column.codes = column.codes[keep]
    vocabs = {
        name: build_vocab(read.columns.get(role), min_item_count if name == "items" else 1)
        for name, role in VOCAB_ROLES.items()
    }
    vocabs["items"] = with_no_item(vocabs["items"], read.columns["item"].codes)
    session = read.columns.pop("session", None)
    if session is None:
        sessions = gap_sessions(user_idx, read.ts, gap_ms)
    else:
        sessions = column_sessions(user_idx, read.ts, session)
    return Events(
        user_idx=user_idx,
        user_tokens=user_tokens,
        session_idx=narrow(sessions),
        ts=read.ts,
        rows=rows,
        lines=read.lines,
        columns=read.columns,
        vocabs=vocabs,
        trimmed_events=trimmed,
        trimmed_users=trimmed_users,
    )


def latest_per_user(user_idx: np.ndarray, limit: int) -> tuple[np.ndarray | None, int]:
    """(mask of the rows to keep, users cut) for rows sorted by (user, time): each user's last
    `limit` rows. None when no user has more (the usual case: nothing is copied)."""
    if limit <= 0 or len(user_idx) <= limit:
        return None, 0
    starts = np.flatnonzero(np.r_[True, user_idx[1:] != user_idx[:-1]])
    counts = np.diff(np.r_[starts, len(user_idx)])
    if int(counts.max()) <= limit:
        return None, 0
    ends = np.repeat(starts + counts, counts)  # (N,) end of each row's user block
    keep = ends - np.arange(len(user_idx)) <= limit
    return keep, int(np.count_nonzero(counts > limit))


def dataset_stats(events: Events) -> dict[str, Any]:
    """Counts and time range of the dataset, for the manifest and the CLI summary."""
    types = events.vocabs["events"]
    items = events.vocabs["items"]
    has_rows = len(events.ts) > 0
    return {
        "item_less_events": int(items.counts[0]) if items.missing_id != UNK else 0,
        "events": len(events.ts),
        "users": len(events.user_tokens),
        "items": events.vocabs["items"].distinct,
        "sessions": int(events.session_idx.max()) + 1 if has_rows else 0,
        "event_types": dict(zip(types.tokens.to_pylist(), types.counts.tolist(), strict=True)),
        "start": iso(int(events.ts.min())) if has_rows else None,
        "end": iso(int(events.ts.max())) if has_rows else None,
    }


def iso(ms: int | None) -> str | None:
    """ms since the epoch -> ISO 8601 with +00:00, as the manifest and the CLI print it."""
    if ms is None:
        return None
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms))).isoformat()
