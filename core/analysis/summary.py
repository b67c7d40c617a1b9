"""Headline numbers of a dataset: what an analyst checks first to trust (or doubt) the data.

Users, events, items, sessions and date range, plus the distributions that reveal most ingest
mistakes at a glance: events per user (a session column mapped wrongly shows as one giant
session per user) and the event mix (a mis-mapped event column shows as thousands of types).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.analysis.events_db import open_events

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)  # reported points of each distribution
TOP_EVENT_TYPES = 30  # event-mix rows; the rest are summed into "(other)"


@dataclass(frozen=True)
class DataSummary:
    """`headline`: (metric, value) rows. `events_per_user`, `session_length`: one row per
    statistic (stat, …). `event_mix`: (event, events, share, users), most frequent first."""

    headline: pd.DataFrame
    events_per_user: pd.DataFrame
    session_length: pd.DataFrame
    event_mix: pd.DataFrame

    def headline_dict(self) -> dict[str, Any]:
        return dict(zip(self.headline["metric"], self.headline["value"], strict=True))


def data_summary(
    events_path: str | Path,
    manifest: dict[str, Any] | None = None,
    user_ids: Collection[str] | None = None,
) -> DataSummary:
    """Compute the summary; `manifest` (from core.data.store.load_manifest) adds source facts."""
    con = open_events(events_path, user_ids)
    try:
        headline = _headline(con, manifest or {})
        per_user = _distribution(con, "SELECT count(*) AS x FROM events GROUP BY user_idx")
        sessions = _session_length(con)
        mix = _event_mix(con)
    finally:
        con.close()
    return DataSummary(headline, per_user.rename(columns={"value": "events"}), sessions, mix)


def _headline(con, manifest: dict[str, Any]) -> pd.DataFrame:
    users, events, items, sessions, start, end, types = con.execute(
        """
        SELECT count(DISTINCT user_idx), count(*), count(DISTINCT item),
               count(DISTINCT session_idx), min(ts), max(ts), count(DISTINCT event)
        FROM events
        """
    ).fetchone()
    rows: list[tuple[str, Any]] = []
    if manifest.get("name"):
        rows.append(("dataset", manifest["name"]))
    source = manifest.get("source") or {}
    if source.get("path"):
        rows.append(("source file", Path(str(source["path"])).name))
    rows += [("users", users), ("events", events), ("items", items), ("sessions", sessions)]
    rows += [("event types", types), ("first event", start), ("last event", end)]
    if manifest.get("has_time") is False:
        rows.append(("timestamps", "none in the source: times are synthetic, order only"))
    stats = manifest.get("stats") or {}
    if "rejected_rows" in stats:
        rows.append(("rejected rows", stats["rejected_rows"]))
    return pd.DataFrame(rows, columns=["metric", "value"])


def _distribution(con, values_sql: str) -> pd.DataFrame:
    """min, quantiles, mean and max of column `x` of the given query, as (stat, value) rows."""
    points = ", ".join(f"quantile_cont(x, {q})" for q in QUANTILES)
    row = con.execute(f"SELECT min(x), {points}, avg(x), max(x) FROM ({values_sql})").fetchone()
    stats = ["min", *[f"p{round(q * 100)}" for q in QUANTILES], "mean", "max"]
    return pd.DataFrame({"stat": stats, "value": [_float(v) for v in row]})


def _session_length(con) -> pd.DataFrame:
    """Events per session and session duration in minutes, side by side per statistic."""
    sql = "FROM events GROUP BY session_idx"
    events = _distribution(con, f"SELECT count(*) AS x {sql}")
    minutes = _distribution(con, f"SELECT (epoch(max(ts)) - epoch(min(ts))) / 60.0 AS x {sql}")
    return pd.DataFrame(
        {"stat": events["stat"], "events": events["value"], "minutes": minutes["value"]}
    )


def _event_mix(con) -> pd.DataFrame:
    frame = con.execute(
        f"""
        WITH ranks AS (
            SELECT event, row_number() OVER (ORDER BY count(*) DESC, event) AS rank
            FROM events GROUP BY event
        )
        SELECT CASE WHEN r.rank <= {TOP_EVENT_TYPES} THEN e.event ELSE '(other)' END AS event,
               count(*) AS events, count(*) / sum(count(*)) OVER () AS share,
               count(DISTINCT e.user_idx) AS users, min(r.rank) AS rank
        FROM events e JOIN ranks r USING (event) GROUP BY 1 ORDER BY rank
        """
    ).df()
    frame["events"] = frame["events"].astype("int64")
    frame["users"] = frame["users"].astype("int64")
    return frame[["event", "events", "share", "users"]]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
