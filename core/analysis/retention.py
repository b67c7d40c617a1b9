"""Cohort retention: of the users first active in a period, what share is active k periods later.

Periods are calendar periods in UTC (ISO weeks start on Monday). A cohort's cell k is only
reported when period k is inside the data (up to the last event's period); cells past the end of
the data are unknown, not zero, so they are absent from the long table and NaN in the matrix.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Literal

import pandas as pd

from core.analysis.events_db import open_events
from core.errors import BehaviorLensError

Period = Literal["day", "week", "month"]
_PERIODS = ("day", "week", "month")

RETENTION_COLUMNS = [
    "cohort",  # first day of the cohort's period (date)
    "period",  # periods since the cohort's first period; 0 is the cohort period itself
    "active_users",  # cohort users with at least one event in that period
    "cohort_size",  # users whose first event falls in the cohort period
    "share",  # active_users / cohort_size
]


def retention(
    events_path: str | Path,
    period: Period = "week",
    user_ids: Collection[str] | None = None,
) -> pd.DataFrame:
    """Long table: one row per (cohort, periods since), zeros included up to the data's end."""
    if period not in _PERIODS:
        raise BehaviorLensError(f"retention: period must be one of {_PERIODS}, got {period!r}")
    con = open_events(events_path, user_ids)
    try:
        frame = con.execute(_retention_sql(period)).df()
    finally:
        con.close()
    frame["cohort"] = pd.to_datetime(frame["cohort"]).dt.date
    for column in ("period", "active_users", "cohort_size"):
        frame[column] = frame[column].astype("int64")
    frame["share"] = frame["share"].astype("float64")
    return frame[RETENTION_COLUMNS]


def _retention_sql(period: str) -> str:
    trunc = f"CAST(date_trunc('{period}', ts AT TIME ZONE 'UTC') AS DATE)"
    return f"""
    WITH active AS (
        SELECT DISTINCT user_idx, {trunc} AS active FROM events
    ), firsts AS (
        SELECT user_idx, min(active) AS cohort FROM active GROUP BY user_idx
    ), sizes AS (
        SELECT cohort, count(*) AS cohort_size FROM firsts GROUP BY cohort
    ), counts AS (
        SELECT f.cohort, date_diff('{period}', f.cohort, a.active) AS period,
               count(*) AS active_users
        FROM active a JOIN firsts f USING (user_idx) GROUP BY ALL
    ), grid AS (
        SELECT s.cohort, s.cohort_size,
               unnest(range(0, date_diff('{period}', s.cohort, (SELECT max(active) FROM active)) + 1))
                   AS period
        FROM sizes s
    )
    SELECT g.cohort, g.period, coalesce(c.active_users, 0) AS active_users, g.cohort_size,
           coalesce(c.active_users, 0) / g.cohort_size AS share
    FROM grid g LEFT JOIN counts c USING (cohort, period)
    ORDER BY g.cohort, g.period
    """


def retention_matrix(long: pd.DataFrame, value: str = "share") -> pd.DataFrame:
    """Cohort × periods-since matrix (index: cohort, columns: 0, 1, …); NaN past the data's end."""
    if long.empty:
        return pd.DataFrame()
    matrix = long.pivot(index="cohort", columns="period", values=value)
    matrix.columns = [int(column) for column in matrix.columns]
    return matrix.sort_index()
