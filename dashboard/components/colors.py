"""One stable colour per segment, shared by every chart that shows segments.

Why: plotly assigns colours by trace order, so the Segments map (all segments) and the Event mix
chart (the chosen few) would colour the same segment differently. Keyed by segment id instead,
segment 3 is the same colour everywhere, whatever else is on screen.
"""

from __future__ import annotations

from collections.abc import Iterable

# Tableau 10: distinct, colour-blind friendlier than plotly's default, readable on white.
SEGMENT_PALETTE = (
    "#4E79A7",
    "#F28E2B",
    "#E15759",
    "#76B7B2",
    "#59A14F",
    "#EDC948",
    "#B07AA1",
    "#FF9DA7",
    "#9C755F",
    "#BAB0AC",
)


def segment_color(segment: int) -> str:
    """The colour of segment id `segment` (ids past the palette wrap around)."""
    return SEGMENT_PALETTE[int(segment) % len(SEGMENT_PALETTE)]


def segment_colors(segments: Iterable[int]) -> dict[int, str]:
    """{segment id: colour} for the given ids."""
    return {int(s): segment_color(s) for s in segments}
