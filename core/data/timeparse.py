"""Timestamps as SQL: every supported spelling of a time becomes int64 milliseconds since the epoch, UTC.

Parsing happens inside DuckDB (vectorised, parallel), never in a Python loop. Numbers are read as
unix seconds, milliseconds or microseconds by magnitude, row by row; text goes through DuckDB's
TIMESTAMPTZ cast, which accepts ISO 8601 with or without zone, a 'T' or a space, and a ' UTC'
suffix, with zone-less values taken as UTC (the connection's TimeZone is set to UTC).
"""

from __future__ import annotations

import re

from core.errors import BehaviorLensError

# Accepted event times: 1900-01-01 .. 2300-01-01 UTC, in ms. Outside is a parse error, not data.
MIN_MS = -2_208_988_800_000
MAX_MS = 10_413_792_000_000
_GAP = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_gap(text: str | int | float) -> float:
    """Session gap in seconds from '30m', '1h', '90s', '2d' or a bare number of seconds ('45')."""
    match = _GAP.match(str(text))
    if not match:
        raise BehaviorLensError(
            f"invalid session gap {text!r}: use a number with an optional unit s/m/h/d, e.g. 30m"
        )
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise BehaviorLensError(f"invalid session gap {text!r}: it must be positive")
    return seconds


def number_to_ms(x: str) -> str:
    """SQL: a DOUBLE expression holding unit-less epoch time -> BIGINT ms (NULL if not finite)."""
    return (
        f"TRY_CAST(CASE WHEN NOT isfinite({x}) THEN NULL "
        f"WHEN abs({x}) < 1e11 THEN {x} * 1000 "
        f"WHEN abs({x}) < 1e14 THEN {x} "
        f"WHEN abs({x}) < 1e17 THEN {x} / 1000 "
        f"ELSE {x} / 1000000 END AS BIGINT)"
    )


def time_to_ms(column: str, duckdb_type: str) -> str:
    """SQL: the column (of the given DuckDB type) as BIGINT ms UTC, NULL if unparseable.

    The caller range-checks the result against MIN_MS..MAX_MS (evaluated once, in a later step).
    """
    kind = duckdb_type.upper()
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        raw = f"epoch_ms(TRY_CAST({column} AS TIMESTAMPTZ))"
    elif kind in ("VARCHAR", "TEXT", "STRING") or kind.startswith("VARCHAR"):
        number = f"TRY_CAST({column} AS DOUBLE)"
        text = f"epoch_ms(TRY_CAST(trim({column}) AS TIMESTAMPTZ))"
        raw = f"coalesce({number_to_ms(number)}, {text})"
    else:
        raw = number_to_ms(f"TRY_CAST({column} AS DOUBLE)")
    return raw
