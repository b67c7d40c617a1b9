"""Event volume over time: events and active users per calendar period, gaps filled with zeros.

Zero-filling matters for charts: a line drawn straight across a missing day hides an outage.
Periods are UTC calendar periods (weeks start on Monday). Which period suits a log is decided by
`core.analysis.time_resolution.volume_unit` from its span.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Literal

import pandas as pd

from core.analysis.events_db import open_events
from core.errors import BehaviorLensError

Freq = Literal["minute", "hour", "day", "week"]
_FREQS = ("minute", "hour", "day", "week")
MAX_PERIODS = 50_000  # refuse series longer than this: ask for a coarser frequency instead

VOLUME_COLUMNS = [
    "period",  # start of the period (naive UTC timestamp)
    "event",  # event type; "(all)" when by_event is False
    "events",  # events in the period
    "users",  # distinct users active in the period
]


def event_volume(
    events_path: str | Path,
    freq: Freq = "day",
    by_event: bool = True,
    user_ids: Collection[str] | None = None,
) -> pd.DataFrame:
    """Long time series: one row per (period, event type), zero rows included."""
    if freq not in _FREQS:
        raise BehaviorLensError(f"volume: freq must be one of {_FREQS}, got {freq!r}")
    con = open_events(events_path, user_ids)
    try:
        _check_length(con, freq)
        frame = con.execute(_volume_sql(freq, by_event)).df()
    finally:
        con.close()
    frame["period"] = pd.to_datetime(frame["period"])
    for column in ("events", "users"):
        frame[column] = frame[column].astype("int64")
    return frame[VOLUME_COLUMNS]


def _trunc(freq: str) -> str:
    return f"date_trunc('{freq}', ts AT TIME ZONE 'UTC')"


def _check_length(con, freq: str) -> None:
    first = f"date_trunc('{freq}', min(ts) AT TIME ZONE 'UTC')"  # truncation is monotonic:
    last = f"date_trunc('{freq}', max(ts) AT TIME ZONE 'UTC')"  # min/max first, no per-row pass
    (periods,) = con.execute(
        f"SELECT coalesce(date_diff('{freq}', {first}, {last}) + 1, 0) FROM events"
    ).fetchone()
    if periods > MAX_PERIODS:
        raise BehaviorLensError(
            f"volume: {periods} {freq}s between first and last event; use a coarser freq"
        )


def _volume_sql(freq: str, by_event: bool) -> str:
    event = "event" if by_event else "'(all)'"
    return f"""
    WITH binned AS (
        SELECT {_trunc(freq)} AS period, {event} AS event, user_idx FROM events
    ), counts AS (
        SELECT period, event, count(*) AS events, count(DISTINCT user_idx) AS users
        FROM binned GROUP BY ALL
    ), periods AS (
        SELECT unnest(range(min(period), max(period) + INTERVAL 1 {freq}, INTERVAL 1 {freq}))
            AS period
        FROM binned
    ), kinds AS (
        SELECT DISTINCT event FROM binned
    )
    SELECT p.period, k.event, coalesce(c.events, 0) AS events, coalesce(c.users, 0) AS users
    FROM periods p CROSS JOIN kinds k LEFT JOIN counts c USING (period, event)
    ORDER BY p.period, k.event
    """
