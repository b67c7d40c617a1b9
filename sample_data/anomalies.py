"""Planted anomalous sessions: bots, add-to-cart bursts and sequential-id scrapers.

Each is built to be both fast (events seconds apart, tens of times the normal pace) and
surprising to a sequence model (uniform random items, one event type repeated, item ids in
order), so an anomaly scorer should rank these users on top.
"""

from __future__ import annotations

import numpy as np

from sample_data.catalog import Catalog, pick_popular
from sample_data.intents import UserProfile
from sample_data.session import Session, Step

ANOMALY_KINDS: tuple[str, ...] = ("bot", "burst", "scraper")


def bot_session(rng: np.random.Generator, cat: Catalog) -> Session:
    """A crawler run: 100-180 views 1-2 s apart of items drawn uniformly from the whole shop."""
    s = Session(rng=rng, median_gap_s=1.5)
    n = int(rng.integers(100, 181))
    items = rng.integers(0, cat.n_items, n)
    gaps = rng.integers(1, 3, n)  # 1 or 2 seconds
    for step, (item, gap) in enumerate(zip(items, gaps, strict=True)):
        s.clock += int(gap) if step else 0
        s.steps.append(Step(s.clock, "view", int(item)))
    return s


def scraper_session(rng: np.random.Generator, cat: Catalog) -> Session:
    """A catalogue scrape: 80-140 views of consecutive item ids, 2-4 s apart."""
    s = Session(rng=rng, median_gap_s=3.0)
    position_of_id = np.argsort(cat.item_ids)  # item ids are n..2n-1, so this maps id -> item
    first = int(rng.integers(cat.n_items))
    for step in range(int(rng.integers(80, 141))):
        s.clock += int(rng.integers(2, 5)) if step else 0
        item_id_offset = (first + step) % cat.n_items
        s.steps.append(Step(s.clock, "view", int(position_of_id[item_id_offset])))
    return s


def burst_session(rng: np.random.Generator, cat: Catalog, user: UserProfile) -> Session:
    """An otherwise normal user's runaway session: one view, then 80 add_to_cart within a minute."""
    s = Session(rng=rng, median_gap_s=0.75)
    code = user.categories[0]
    first = pick_popular(rng, cat, code)[0]
    s.steps.append(Step(0, "view", first))
    offsets = np.sort(rng.integers(0, 60, 80)) + int(rng.integers(5, 20))
    for offset, item in zip(offsets, pick_popular(rng, cat, code, 80), strict=True):
        s.steps.append(Step(int(offset), "add_to_cart", item))
    s.clock = int(offsets[-1])
    return s
