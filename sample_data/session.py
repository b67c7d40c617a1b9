"""One shopping session being written: a clock, the events so far, and the cart.

Intent generators describe behaviour ("view this, then add it to the cart") and this class turns
it into timed events, so every intent gets the same cart bookkeeping and purchase semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

MAX_GAP_S = 20 * 60  # longest pause inside a session: sessions are split by > 30 min of silence
NO_ITEM = -1  # item position of a search: it names a category, not an item
ITEMS_CATEGORY = -1  # category of an item event: the item's own listing, drawn when written


class Step(NamedTuple):
    """One event: seconds since session start, event type, item position, searched category."""

    offset: int
    event: str
    item: int  # item position, NO_ITEM for a search
    category: int = ITEMS_CATEGORY  # category code of a search; item events show the item's


@dataclass
class Session:
    """Events of one session, in order, with the cart they leave behind."""

    rng: np.random.Generator
    median_gap_s: float  # typical pause between two events of this user
    steps: list[Step] = field(default_factory=list)
    cart: list[int] = field(default_factory=list)  # items added and not yet removed or bought
    purchases: int = 0  # purchase events written so far
    clock: int = 0  # seconds since the session started

    def act(self, event: str, item: int, median_gap_s: float | None = None) -> None:
        """Append one event after a log-normal pause; keep the cart in step with it."""
        self._tick(median_gap_s)
        self.steps.append(Step(self.clock, event, item))
        if event == "add_to_cart" and item not in self.cart:
            self.cart.append(item)
        elif event == "remove_from_cart" and item in self.cart:
            self.cart.remove(item)
        elif event == "purchase":
            self.purchases += 1
            if item in self.cart:
                self.cart.remove(item)

    def search(self, category: int, median_gap_s: float | None = None) -> None:
        """Append an item-less search for a category, after a log-normal pause."""
        self._tick(median_gap_s)
        self.steps.append(Step(self.clock, "search", NO_ITEM, category))

    def _tick(self, median_gap_s: float | None) -> None:
        """Advance the clock by a log-normal pause, unless this is the session's first event."""
        if self.steps:
            median = median_gap_s if median_gap_s is not None else self.median_gap_s
            gap = median * float(np.exp(self.rng.normal(0.0, 0.5)))
            self.clock += int(min(MAX_GAP_S, max(1.0, round(gap))))

    def checkout(self) -> None:
        """Buy everything in the cart: one purchase event per item, seconds apart."""
        for item in list(self.cart):
            self.act("purchase", item, median_gap_s=4.0)

    def viewed(self) -> list[int]:
        """Items viewed so far in this session, in first-view order."""
        seen: dict[int, None] = {}
        for _, event, item, _ in self.steps:
            if event == "view":
                seen.setdefault(item, None)
        return list(seen)

    @property
    def duration_s(self) -> int:
        return self.clock
