"""Sentences and number formats that keep every view honest on odd but common logs.

A chart that cannot mean anything on a log (a funnel over one event type, a 100% bar for the only
next event type) is replaced by one sentence saying why; the decision is made here once so the
dashboard pages and the HTML report agree. Probabilities below 1% get enough digits to differ,
because "0.0%" for every item hides the ranking the chart is meant to show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PATHS_MERGED_NOTE = (
    "Consecutive repeats of the same step are merged: view → view → cart reads view → cart."
)
SMALLEST_SHOWN = 1e-6  # probabilities below this read "< 0.0001%"


def event_types_note(kinds: Sequence[str]) -> str | None:
    """Why views that compare event types are left out (None when the log has several)."""
    if len(kinds) == 0:
        return "This log has no events, so there is no funnel or event mix to show."
    if len(kinds) == 1:
        return (
            f"This log has one event type ({kinds[0]}), so there is no funnel, event mix or "
            "next-event-type chart to show."
        )
    return None


def format_probability(p: float) -> str:
    """A probability as a percentage with enough digits to tell small ones apart.

    37% reads "37.0%", 0.42% reads "0.42%", 0.0031% reads "0.0031%": two significant digits
    below 1%, never "0.0%" for a probability that is not zero.
    """
    p = float(p)
    if p <= 0.0:
        return "0%"
    if p < SMALLEST_SHOWN:
        return "< 0.0001%"
    if p >= 0.01:
        return f"{p:.1%}"
    return f"{probability_decimals(p)}%"


def probability_decimals(p: float) -> str:
    """p (< 1%) in percent with two significant digits and no exponent: 0.000042 -> "0.0042"."""
    percent = 100.0 * p
    decimals = max(1, 1 - math.floor(math.log10(percent)))
    return f"{percent:.{decimals}f}"


def probability_tickformat(largest: float) -> str:
    """A d3 percent format for an axis up to `largest`, fine enough that ticks differ."""
    percent = 100.0 * max(float(largest), SMALLEST_SHOWN)
    decimals = max(0, 1 - math.floor(math.log10(percent)))
    return f".{decimals}%"
