"""Tiny events.parquet files of exactly the contract schema, written without the ingest code.

The analytics and report tests build their fixtures here so they do not depend on `core.data`
(written in parallel) and so each expected number can be counted by hand from a few rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("user_idx", pa.int32()),
        ("user_id", pa.string()),
        ("session_idx", pa.int64()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("event", pa.string()),
        ("item", pa.string()),
        ("category", pa.string()),
        ("item_idx", pa.int32()),
        ("event_idx", pa.int32()),
        ("category_idx", pa.int32()),
        ("src_row", pa.int64()),
    ]
)

# Monday 2026-01-05 00:00 UTC: week boundaries in the fixtures are whole weeks from here.
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def write_events(path: Path, rows: list[tuple]) -> Path:
    """Write rows `(user_id, session, minutes_from_T0, event, item[, category])` as events.parquet.

    `session` is a per-user session number; it is made globally dense the way ingest does.
    Rows are sorted by (user, time) as the contract requires; user_idx follows first appearance.
    """
    users: dict[str, int] = {}
    for row in rows:
        users.setdefault(row[0], len(users))
    order = sorted(range(len(rows)), key=lambda i: (users[rows[i][0]], rows[i][2], i))
    sessions: dict[tuple[str, int], int] = {}
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for i in order:
        user, session, minutes, event, item = rows[i][:5]
        category = rows[i][5] if len(rows[i]) > 5 else None
        sessions.setdefault((user, session), len(sessions))
        columns["user_idx"].append(users[user])
        columns["user_id"].append(user)
        columns["session_idx"].append(sessions[(user, session)])
        columns["ts"].append(T0 + timedelta(minutes=minutes))
        columns["event"].append(event)
        columns["item"].append(item)
        columns["category"].append(category)
        columns["item_idx"].append(3)
        columns["event_idx"].append(3)
        columns["category_idx"].append(3 if category is not None else 0)
        columns["src_row"].append(i + 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns, schema=SCHEMA), path)
    return path


DAY = 24 * 60
WEEK = 7 * DAY
