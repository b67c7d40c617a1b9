"""What a log's timestamps can support: a time-of-day, pace features, and which chart resolution.

A log without a time column gets one synthetic second per line, and a log with date-only
timestamps (`2024-01-05`) puts every event at midnight. Neither can say how fast anyone clicked,
so pace, burst, gap and hour-of-day features must not be computed or named on them ("43 events
in 0 s, 0× normal pace" is an artefact, not a finding). The volume chart's resolution follows
the log's span, so a 17-minute log is not one empty per-day point. Every view asks here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.analysis.events_db import open_events

Unit = Literal["minute", "hour", "day", "week"]
DAY_MS = 86_400_000
WHOLE_DAY_SHARE = 0.99  # this share of timestamps at midnight UTC means "date-only" timestamps
# Largest span (seconds) each unit is used for; longer spans move to the next coarser unit.
UNIT_MAX_SPAN_S: dict[str, float] = {
    "minute": 6 * 3600.0,  # up to 6 h: at most 360 minute points
    "hour": 14 * 86400.0,  # up to 2 weeks: at most 336 hour points
    "day": 2 * 365 * 86400.0,  # up to 2 years: at most 730 day points
}


@dataclass(frozen=True)
class TimeSupport:
    """What the timestamps of one log (or one user subset) can support."""

    has_time: bool  # the source had a time column (manifest has_time)
    time_of_day: bool  # timestamps carry a time of day (not all at midnight)
    span_s: float  # seconds between the first and the last event

    @property
    def pace(self) -> bool:
        """Pace, gap, burst and hour-of-day features mean something only with real clock times."""
        return self.has_time and self.time_of_day

    @property
    def unit(self) -> Unit:
        """The volume chart's resolution for this log (days at the finest without clock times)."""
        return volume_unit(self.span_s, self.time_of_day)

    def note(self) -> str | None:
        """The sentence views show where pace and time-of-day are left out (None: nothing left out)."""
        if not self.has_time:
            return "This log has no timestamps, so pace, gaps and bursts are not shown."
        if not self.time_of_day:
            return (
                "Timestamps in this log are dates without a time of day, so pace, gaps, bursts "
                "and hour of day are not shown."
            )
        return None


def volume_unit(span_s: float, time_of_day: bool = True) -> Unit:
    """Finest unit that keeps a span readable: minutes for 17 minutes, hours for a few days…"""
    for unit, limit in UNIT_MAX_SPAN_S.items():
        if not time_of_day and unit in ("minute", "hour"):
            continue
        if span_s <= limit:
            return unit  # type: ignore[return-value]
    return "week"


def support_from_ms(timestamps_ms: np.ndarray, has_time: bool = True) -> TimeSupport:
    """TimeSupport of (N,) int64 ms timestamps, e.g. `EventSequences.timestamps`."""
    ts = np.asarray(timestamps_ms, dtype=np.int64)
    if len(ts) == 0:
        return TimeSupport(has_time, False, 0.0)
    whole = float(np.mean(ts % DAY_MS == 0))
    span = float(ts.max() - ts.min()) / 1000.0
    return TimeSupport(has_time, has_time and whole < WHOLE_DAY_SHARE, span)


def dataset_support(events_path: str | Path, manifest: dict[str, Any]) -> TimeSupport:
    """TimeSupport of an ingested dataset, counted in DuckDB (no events loaded into Python)."""
    con = open_events(events_path)
    try:
        total, whole, span = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE epoch_ms(ts) % ? = 0), "
            "coalesce(epoch_ms(max(ts)) - epoch_ms(min(ts)), 0) FROM events",
            [DAY_MS],
        ).fetchone()
    finally:
        con.close()
    has_time = bool(manifest.get("has_time", True))
    time_of_day = has_time and total > 0 and whole / total < WHOLE_DAY_SHARE
    return TimeSupport(has_time, time_of_day, float(span) / 1000.0)
