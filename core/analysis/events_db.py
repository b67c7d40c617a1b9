"""DuckDB over one dataset's events.parquet: the shared entry point of the behaviour analytics.

Every analytic (funnels, paths, retention, volume, summary) queries the Parquet file in place
instead of loading it into pandas, so they stay fast on logs of millions of rows. This module
opens the file once, checks the columns the analytics rely on (naming the file and the missing
column when the data layer's contract is broken), and exposes the views `events` and
`events_ordered` (with a global position `pos` in the file's order: user_idx, ts, src_row).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import duckdb
import pandas as pd

from core.errors import BehaviorLensError, InputError

# Columns of the events.parquet contract (docs/contracts.md) that the analytics read.
REQUIRED_COLUMNS = (
    "user_idx",
    "user_id",
    "session_idx",
    "ts",
    "event",
    "item",
    "category",
    "src_row",
)


def open_events(
    events_path: str | Path, user_ids: Collection[str] | None = None
) -> duckdb.DuckDBPyConnection:
    """Return an in-memory DuckDB connection with a view `events` over the Parquet file.

    `user_ids`, when given, restricts every query to those users (e.g. one segment), so the same
    analytic answers "what does the funnel look like for cart abandoners". A second view,
    `events_ordered`, adds `pos`: a global event order consistent with time within each user,
    which makes "A before B" one integer comparison even when two events share a timestamp.
    It is the file's row number: ingest writes the rows in that order, so no query pays for a
    global sort (1-2 s per query on a 10M-event log).
    """
    path = Path(events_path)
    if not path.is_file():
        raise BehaviorLensError(f"{path}: events file not found (ingest the dataset first)")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # it would print into the CLI and server log
    try:
        con.read_parquet(str(path), file_row_number=True).create_view("events_raw")
        columns = {row[0] for row in con.execute("DESCRIBE events_raw").fetchall()}
    except duckdb.Error as error:
        con.close()
        raise InputError(f"not a readable Parquet file ({error})", file=path) from error
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        con.close()
        raise InputError("missing column required by the analytics", file=path, column=missing[0])
    where = ""
    if user_ids is not None:
        ids = pd.DataFrame({"user_id": pd.Series([str(u) for u in user_ids], dtype="string")})
        con.register("user_filter", ids)
        where = "WHERE user_id IN (SELECT CAST(user_id AS VARCHAR) FROM user_filter)"
    con.execute(
        f"CREATE TEMP VIEW events AS SELECT * EXCLUDE (file_row_number) FROM events_raw {where}"
    )
    con.execute(  # ingest writes rows sorted by (user_idx, ts, src_row): the row number is pos
        "CREATE TEMP VIEW events_ordered AS SELECT * EXCLUDE (file_row_number), "
        f"file_row_number + 1 AS pos FROM events_raw {where}"
    )
    return con


def known_events(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Event types present in the (possibly filtered) view, most frequent first."""
    rows = con.execute(
        "SELECT event FROM events GROUP BY event ORDER BY count(*) DESC, event"
    ).fetchall()
    return [row[0] for row in rows]


def event_types(events_path: str | Path, user_ids: Collection[str] | None = None) -> list[str]:
    """Event types in the file (or among `user_ids`), most frequent first."""
    con = open_events(events_path, user_ids)
    try:
        return known_events(con)
    finally:
        con.close()


def check_events_exist(con: duckdb.DuckDBPyConnection, wanted: list[str], what: str) -> None:
    """Raise naming the first unknown event type: a typo should not read as zero conversion."""
    known = known_events(con)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        listed = ", ".join(repr(name) for name in known[:20]) or "none"
        raise BehaviorLensError(f"{what}: unknown event type {unknown[0]!r} (known: {listed})")
