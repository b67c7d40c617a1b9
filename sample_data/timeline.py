"""When sessions happen: a daily rhythm, weekly habits, and > 30 min of silence between sessions.

Times are whole seconds since the start of the observation window; `iso_utc` turns them into the
ISO 8601 strings (with `Z`) written to the CSV.
"""

from __future__ import annotations

import numpy as np

DAY_S = 24 * 3600
# Relative activity by hour of day (UTC): quiet nights, a lunch bump, a busy evening.
HOURLY_WEIGHTS = np.array(
    [0.6, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.8, 1.2, 1.4, 1.5, 1.7]
    + [2.0, 1.9, 1.5, 1.4, 1.5, 1.7, 2.0, 2.4, 2.6, 2.3, 1.7, 1.1]
)
HOUR_P = HOURLY_WEIGHTS / HOURLY_WEIGHTS.sum()
WEEKEND_BOOST = 1.3  # weekend days are this much busier (the window starts on a Monday)


def _day_weights(first_day: int, n_days: int) -> np.ndarray:
    days = np.arange(first_day, n_days)
    weights = np.where(days % 7 >= 5, WEEKEND_BOOST, 1.0)
    return weights / weights.sum()


def diurnal_starts(rng: np.random.Generator, n: int, first_day: int, n_days: int) -> np.ndarray:
    """n session start times on random days from `first_day`, at hours that follow the daily rhythm."""
    days = first_day + rng.choice(n_days - first_day, size=n, p=_day_weights(first_day, n_days))
    hours = rng.choice(24, size=n, p=HOUR_P)
    seconds = rng.integers(0, 3600, n)
    return np.sort(days * DAY_S + hours * 3600 + seconds)


def periodic_starts(rng: np.random.Generator, n_days: int) -> np.ndarray:
    """A restocking habit: every 7-10 days (± a day), near the same hour of the day."""
    period = float(rng.uniform(7.0, 10.0))
    hour = float(rng.choice(24, p=HOUR_P)) + float(rng.uniform(0, 1))
    day = float(rng.uniform(0.0, period))
    starts = []
    while day < n_days - 1:
        jitter_h = float(rng.normal(0.0, 1.5))
        start_h = int(day) * 24 + hour + jitter_h
        if start_h >= 0:
            starts.append(int(start_h * 3600))
        day += period + float(rng.normal(0.0, 0.7))
    return np.sort(np.array(starts, dtype=np.int64))


def uniform_starts(rng: np.random.Generator, n: int, n_days: int) -> np.ndarray:
    """Machine traffic: any day, any hour."""
    return np.sort(rng.integers(0, n_days * DAY_S, n))


def separate(
    rng: np.random.Generator, starts: np.ndarray, durations: list[int], min_gap_s: int
) -> list[int]:
    """Push sessions later where needed so each starts > min_gap_s after the previous one ends."""
    placed: list[int] = []
    for start, _ in zip(starts, durations, strict=True):
        start = int(start)
        if placed:
            earliest = placed[-1] + durations[len(placed) - 1] + min_gap_s + 1
            if start < earliest:
                start = earliest + int(rng.integers(0, 3600))
        placed.append(start)
    return placed


def iso_utc(seconds: np.ndarray, window_start: str) -> list[str]:
    """Seconds since `window_start` (an ISO date) -> 'YYYY-MM-DDTHH:MM:SSZ' strings."""
    stamps = np.datetime64(window_start, "s") + seconds.astype("timedelta64[s]")
    return [f"{text}Z" for text in np.datetime_as_string(stamps, unit="s")]
