"""From the `staged` table to the stored dataset: validate rows, index users, build vocabularies,
sessionize, and write events.parquet + vocab_*.parquet straight from DuckDB (no pandas copy).

Each step is one SQL statement over the whole table (sort, group, window), so the cost is a few
parallel passes no matter how many users or events there are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from core.data.reader import MAX_REJECT_EXAMPLES, quote_str
from core.data.timeparse import MAX_MS, MIN_MS
from core.data.vocab import MASK, PAD, RESERVED_TOKENS, UNK

VOCAB_ROLES = {"items": "item", "events": "event", "categories": "category"}  # file -> column
_VALID = f"user_id IS NOT NULL AND item IS NOT NULL AND ts_ms BETWEEN {MIN_MS} AND {MAX_MS}"
_REASON = "CASE WHEN user_id IS NULL THEN 'user' WHEN item IS NULL THEN 'item' ELSE 'time' END"
_REASON_TEXT = {
    "user": "missing user id",
    "item": "missing item id",
    "time": "missing or unparseable time (expected unix s/ms/us or ISO 8601, 1900..2300)",
}


def validate_rows(con: duckdb.DuckDBPyConnection) -> tuple[int, list[dict[str, Any]]]:
    """Table `ok` = valid staged rows; returns (rejected count, first examples by line)."""
    con.execute(f"CREATE TABLE ok AS SELECT * FROM staged WHERE {_VALID}")
    bad = con.execute(f"SELECT count(*) FROM staged WHERE NOT coalesce({_VALID}, false)").fetchone()
    rows = con.execute(
        f"SELECT src_row, {_REASON} FROM staged WHERE NOT coalesce({_VALID}, false) "
        f"ORDER BY src_row LIMIT {MAX_REJECT_EXAMPLES}"
    ).fetchall()
    examples = [{"row": int(r), "column": c, "reason": _REASON_TEXT[c]} for r, c in rows]
    return int(bad[0]) if bad else 0, examples


def index_users(con: duckdb.DuckDBPyConnection) -> None:
    """Table `users`: dense user_idx in order of first appearance in the file."""
    con.execute(
        "CREATE TABLE users AS SELECT user_id, "
        "(row_number() OVER (ORDER BY first_row) - 1)::INTEGER AS user_idx "
        "FROM (SELECT user_id, min(src_row) AS first_row FROM ok GROUP BY user_id)"
    )


def build_vocabs(con: duckdb.DuckDBPyConnection, min_item_count: int) -> dict[str, int]:
    """Tables vocab_items/events/categories(token, cnt, idx): most frequent first, ids from 3.

    Items seen fewer than `min_item_count` times get no id and map to UNK.
    """
    sizes = {}
    for name, column in VOCAB_ROLES.items():
        floor = min_item_count if name == "items" else 1
        con.execute(
            f"CREATE TABLE vocab_{name} AS SELECT token, cnt, "
            f"(row_number() OVER (ORDER BY cnt DESC, token) + {UNK})::INTEGER AS idx FROM "
            f"(SELECT {column} AS token, count(*) AS cnt FROM ok WHERE {column} IS NOT NULL "
            f"GROUP BY {column}) WHERE cnt >= {int(floor)}"
        )
        count = con.execute(f"SELECT count(*) FROM vocab_{name}").fetchone()
        sizes[name] = len(RESERVED_TOKENS) + (int(count[0]) if count else 0)
    return sizes


def write_vocabs(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """vocab_NAME.parquet (token, count): row i is id i, reserved tokens first with count 0."""
    reserved = ", ".join(
        f"({quote_str(token)}, 0, {i})"
        for i, token in zip((PAD, MASK, UNK), RESERVED_TOKENS, strict=True)
    )
    for name in VOCAB_ROLES:
        path = quote_str(str(folder / f"vocab_{name}.parquet"))
        con.execute(
            f"COPY (SELECT token, count FROM (SELECT * FROM (VALUES {reserved}) "
            f"r(token, count, idx) UNION ALL SELECT token, cnt, idx FROM vocab_{name}) "
            f"ORDER BY idx) TO {path} (FORMAT parquet)"
        )


def sessionize(con: duckdb.DuckDBPyConnection, gap_ms: int, has_session_column: bool) -> None:
    """Table `sessioned` = `ok` + user_idx + session_idx; `ok` is dropped to free memory.

    Gap sessions use only windows partitioned by user (one shared, parallel sort); the global
    index is the per-user session number plus a per-user offset from a small prefix sum.
    """
    w = "PARTITION BY user_idx ORDER BY ts_ms, src_row"
    if has_session_column:
        key = "coalesce(session_key, '')"
        local = f"dense_rank() OVER (PARTITION BY user_idx ORDER BY session_first, {key})"
        inner = (
            f"SELECT *, min(ts_ms) OVER (PARTITION BY user_idx, {key}) AS session_first FROM joined"
        )
    else:
        local = f"sum(new_session) OVER ({w} ROWS UNBOUNDED PRECEDING)"
        inner = (
            f"SELECT *, CASE WHEN ts_ms - lag(ts_ms) OVER ({w}) <= {int(gap_ms)} "
            "THEN 0 ELSE 1 END AS new_session FROM joined"
        )
    con.execute(
        "CREATE TABLE sessioned AS WITH joined AS (SELECT o.*, u.user_idx FROM ok o "
        f"JOIN users u USING (user_id)) SELECT src_row, user_idx, user_id, ts_ms, event, item, "
        f"category, ({local})::BIGINT AS local_session FROM ({inner})"
    )
    con.execute("DROP TABLE ok")
    con.execute(
        "CREATE TABLE session_offsets AS SELECT user_idx, "
        "(sum(n) OVER (ORDER BY user_idx) - n)::BIGINT AS offset_ FROM "
        "(SELECT user_idx, max(local_session) AS n FROM sessioned GROUP BY user_idx)"
    )


def write_events(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """events.parquet sorted by (user_idx, ts, src_row), columns as in docs/contracts.md."""
    con.execute(
        "COPY (SELECT f.user_idx, f.user_id, "
        "(f.local_session - 1 + so.offset_)::BIGINT AS session_idx, "
        "epoch_ms(f.ts_ms)::TIMESTAMPTZ AS ts, f.event, f.item, f.category, "
        f"coalesce(vi.idx, {UNK})::INTEGER AS item_idx, "
        f"coalesce(ve.idx, {UNK})::INTEGER AS event_idx, "
        f"coalesce(vc.idx, {UNK})::INTEGER AS category_idx, f.src_row::BIGINT AS src_row "
        "FROM sessioned f JOIN session_offsets so USING (user_idx) "
        "LEFT JOIN vocab_items vi ON vi.token = f.item "
        "LEFT JOIN vocab_events ve ON ve.token = f.event "
        "LEFT JOIN vocab_categories vc ON vc.token = f.category "
        "ORDER BY f.user_idx, f.ts_ms, f.src_row) "
        f"TO {quote_str(str(path))} (FORMAT parquet, COMPRESSION snappy)"
    )


def dataset_stats(con: duckdb.DuckDBPyConnection, events_file: Path) -> dict[str, Any]:
    """Counts and time range of the written dataset (read back from the Parquet file)."""
    scan = f"read_parquet({quote_str(str(events_file))})"
    events, sessions, start, end = con.execute(
        f"SELECT count(*), coalesce(max(session_idx) + 1, 0), min(ts), max(ts) FROM {scan}"
    ).fetchone()  # type: ignore[misc]
    users = con.execute("SELECT count(*) FROM users").fetchone()[0]  # type: ignore[index]
    items = con.execute("SELECT count(DISTINCT item) FROM sessioned").fetchone()[0]  # type: ignore[index]
    types = con.execute("SELECT token, cnt FROM vocab_events ORDER BY cnt DESC, token").fetchall()
    return {
        "events": int(events),
        "users": int(users),
        "items": int(items),
        "sessions": int(sessions),
        "event_types": {str(token): int(count) for token, count in types},
        "start": start.isoformat() if start is not None else None,
        "end": end.isoformat() if end is not None else None,
    }
