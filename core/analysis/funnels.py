"""Ordered funnels between chosen event types, with drop-off, computed in DuckDB.

A user (or session) reaches step k when it has events of steps 1..k in that order, each strictly
after the previous one; with `max_gap`, each step must also follow the previous one within that
time. Reaching is computed exactly by dynamic programming over events: an event of step k is
reached when the latest reached step-(k-1) event before it (an ASOF join) exists and is close
enough. Taking the latest predecessor is what makes the gap test exact, where a greedy "first
occurrence" match would miss a user who viewed twice and bought soon after the second view.

With item prices (`prices`, from the item catalogue), each step also reports `revenue`: the sum
of the prices of the items of every event reached at that step. Without prices there is no
revenue column at all (zeros would read as "nothing was worth anything").
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pandas as pd

from core.analysis.events_db import check_events_exist, open_events
from core.errors import BehaviorLensError

Within = Literal["session", "user"]
_UNIT_COLUMN = {"session": "session_idx", "user": "user_idx"}

FUNNEL_COLUMNS = [
    "step",  # 1-based position in the funnel
    "event",  # the event type of this step
    "count",  # users or sessions (see `within`) reaching this step in order
    "from_previous",  # count / count of the previous step (1.0 for step 1)
    "from_first",  # count / count of step 1
    "drop_off",  # units that reached the previous step but not this one
    "median_seconds_from_previous",  # median time from the previous step, at first reach
]
REVENUE_COLUMN = "revenue"  # sum of item prices over the step's reached events (prices only)
DEFAULT_MAX_STEPS = 4  # steps of the default funnel when no event type reads as cart or purchase


def default_funnel_steps(kinds: list[str]) -> list[str]:
    """The funnel an analyst would start from: the most frequent event type, then the cart,
    then the purchase step, where the log has them (found by name, as in user features).

    Frequency order alone puts side steps in the path (taobao: pv → cart → fav → buy, so only
    the 0.1% of sessions that "fav" before buying would convert). Without cart or purchase
    names, the most frequent types in order. `kinds` come most frequent first.
    """
    from core.analysis.user_features import CART_PATTERN, PURCHASE_PATTERN

    purchase = next((k for k in kinds if re.search(PURCHASE_PATTERN, k, re.I)), None)
    cart = next(
        (
            k
            for k in kinds
            if re.search(CART_PATTERN, k, re.I) and not re.search("remove|delete", k, re.I)
        ),
        None,
    )
    start = next((k for k in kinds if k not in (purchase, cart)), None)
    steps = [k for k in (start, cart, purchase) if k is not None]
    return steps if len(steps) >= 2 and purchase is not None else kinds[:DEFAULT_MAX_STEPS]


def funnel(
    events_path: str | Path,
    steps: list[str],
    within: Within = "session",
    max_gap: timedelta | None = None,
    user_ids: Collection[str] | None = None,
    prices: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per step: how many units reach it in order, conversion and drop-off.

    `within="session"` counts sessions (a purchase in a later visit does not complete a view in
    an earlier one); `"user"` counts users across all their sessions. `prices` (item, price)
    adds a `revenue` column.
    """
    _validate(steps, within, max_gap)
    con = open_events(events_path, user_ids)
    try:
        if prices is not None:  # registered first: DuckDB refuses it once a query is pending
            con.register("item_prices", prices[["item", "price"]])
        check_events_exist(con, steps, "funnel")
        unit = _UNIT_COLUMN[within]
        con.execute(
            f"CREATE TEMP TABLE fev AS SELECT {unit} AS unit, ts, event, item, pos "
            "FROM events_ordered WHERE event IN (SELECT unnest(?::VARCHAR[]))",
            [steps],
        )
        con.execute(
            "CREATE TEMP TABLE reach_0 AS SELECT unit, pos, ts, NULL::DOUBLE AS gap "
            "FROM fev WHERE event = ?",
            [steps[0]],
        )
        for k in range(1, len(steps)):
            _reach_step(con, k, steps[k], max_gap)
        rows = [_step_row(con, k, steps[k]) for k in range(len(steps))]
        revenue = _revenue(con, len(steps), prices)
    finally:
        con.close()
    frame = _with_rates(pd.DataFrame(rows, columns=["step", "event", "count", "median_gap"]))
    return frame if revenue is None else frame.assign(**{REVENUE_COLUMN: revenue})


def _validate(steps: list[str], within: str, max_gap: timedelta | None) -> None:
    if not steps:
        raise BehaviorLensError("funnel: give at least one step (event type)")
    if within not in _UNIT_COLUMN:
        raise BehaviorLensError(f"funnel: within must be 'session' or 'user', got {within!r}")
    if max_gap is not None and max_gap <= timedelta(0):
        raise BehaviorLensError(f"funnel: max_gap must be positive, got {max_gap}")


def _reach_step(con, k: int, event: str, max_gap: timedelta | None) -> None:
    """Events of step k whose latest earlier reached step-(k-1) event exists (and is close)."""
    gap_test = (
        ""
        if max_gap is None
        else f"AND e.ts - p.ts <= INTERVAL '{max_gap.total_seconds()} seconds'"
    )
    con.execute(
        f"""
        CREATE TEMP TABLE reach_{k} AS
        SELECT e.unit, e.pos, e.ts, epoch(e.ts) - epoch(p.ts) AS gap
        FROM (SELECT * FROM fev WHERE event = ?) e
        ASOF JOIN reach_{k - 1} p ON e.unit = p.unit AND e.pos > p.pos
        WHERE TRUE {gap_test}
        """,
        [event],
    )


def _step_row(con, k: int, event: str) -> tuple[int, str, int, float | None]:
    """Count units at step k and the median gap of each unit's first reaching event."""
    count, median_gap = con.execute(
        f"""
        SELECT count(*), median(gap) FROM (
            SELECT unit, arg_min(gap, pos) AS gap FROM reach_{k} GROUP BY unit
        )
        """
    ).fetchone()
    return k + 1, event, int(count), None if median_gap is None else float(median_gap)


def _revenue(con, n_steps: int, prices: pd.DataFrame | None) -> list[float] | None:
    """Per step, the summed price of the items of its reached events (None without prices)."""
    if prices is None:
        return None
    query = (
        "SELECT coalesce(sum(p.price), 0) FROM reach_{k} r JOIN fev f USING (pos) "
        "JOIN item_prices p ON p.item = f.item"
    )
    return [float(con.execute(query.format(k=k)).fetchone()[0]) for k in range(n_steps)]


def _with_rates(frame: pd.DataFrame) -> pd.DataFrame:
    counts = frame["count"].astype("int64")
    first = counts.iloc[0]
    previous = counts.shift(1).fillna(first)
    frame["count"] = counts
    frame["from_previous"] = (counts / previous.where(previous > 0)).fillna(0.0)
    frame["from_first"] = counts / first if first > 0 else 0.0
    frame["drop_off"] = (previous - counts).astype("int64")
    frame["median_seconds_from_previous"] = frame.pop("median_gap").astype("float64")
    return frame[FUNNEL_COLUMNS]
