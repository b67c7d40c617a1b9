"""A synthetic behaviour log that grows the way real ones do, for the scale benchmark.

    .venv/bin/python -m bench.scale_log --events 10000000 --out bench/_work/scale10m

Uniform-random logs mislead at scale: every event becomes its own session and every user looks
alike, so session-level work explodes and user-level work is trivially small. Here:
- user activity is heavy-tailed (log-normal events per user: most users have a handful of
  events, a few thousand have hundreds to thousands);
- a user's events come in sessions of a few to a few dozen events (log-normal lengths, median
  ~6), seconds to minutes apart inside a session and hours to days apart between sessions
  (busier users come back sooner; the log spans about a quarter);
- the catalogue has popularity skew (Zipf over items) and topical sessions (a session stays in
  one category most of the time), with more items than any user sees;
- event types: views, searches without an item (~10%), favourites, carts and purchases, with
  purchases following carts.
The log is written as a folder of Parquet parts (`part-00000.parquet`, …), user by user in
chunks, so generating 100M events needs memory for one chunk only. Deterministic per seed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EVENT_TYPES = np.array(["view", "search", "fav", "cart", "purchase"])
EVENT_SHARES = np.array([0.74, 0.10, 0.05, 0.08, 0.03])  # searches carry no item
START_MS = 1_700_000_000_000  # 2023-11-14, a plausible recent start
SPAN_MS = 90 * 86_400_000  # a quarter: active users' sessions spread over it
CHUNK_USERS = 50_000  # users generated and written per Parquet part


@dataclass(frozen=True)
class ScaleShape:
    """Sizes of the log; users and items follow the events unless given."""

    events: int
    users: int
    items: int
    categories: int
    seed: int = 0

    @classmethod
    def for_events(cls, events: int, seed: int = 0) -> ScaleShape:
        """50 events per user on average and a catalogue of ~1.7% of the events (the issue's
        10M-event / 200k-user / 172k-item log), at least a few hundred of each."""
        users = max(events // 50, 20)
        items = max(int(events * 0.0172), 200)
        return cls(events, users, items, max(items // 200, 10), seed)


def user_event_counts(shape: ScaleShape, rng: np.random.Generator) -> np.ndarray:
    """(U,) events per user, heavy-tailed (log-normal), at least 2, summing to `shape.events`."""
    raw = rng.lognormal(mean=0.0, sigma=1.3, size=shape.users)
    counts = np.maximum(np.floor(raw / raw.sum() * shape.events), 2).astype(np.int64)
    excess = int(counts.sum()) - shape.events
    order = np.argsort(-counts)  # settle the rounding on the most active users
    step = 0
    while excess != 0:
        user = order[step % len(order)]
        change = -1 if excess > 0 else 1
        if counts[user] + change >= 2:
            counts[user] += change
            excess += change
        step += 1
    return counts


def item_tables(shape: ScaleShape, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(categories,) cumulative category popularity, (items,) each item's category, sorted."""
    category_weight = 1.0 / np.arange(1, shape.categories + 1) ** 1.0
    category_of_item = np.sort(rng.integers(0, shape.categories, shape.items))
    return np.cumsum(category_weight / category_weight.sum()), category_of_item


def generate_chunk(
    counts: np.ndarray,
    first_user: int,
    shape: ScaleShape,
    category_cdf: np.ndarray,
    category_of_item: np.ndarray,
    rng: np.random.Generator,
) -> pa.Table:
    """The events of users first_user.. first_user + len(counts) - 1, time-ordered per user."""
    n = int(counts.sum())
    user = np.repeat(np.arange(first_user, first_user + len(counts)), counts)  # (n,)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    position = np.arange(n) - starts  # (n,) index of the event within its user
    lengths = np.maximum(rng.lognormal(1.8, 0.8, n // 2 + 1).astype(np.int64), 1)
    boundaries = np.cumsum(lengths)  # sessions of ~6 events laid end to end over the chunk
    new_session = np.zeros(n, dtype=bool)
    new_session[boundaries[boundaries < n]] = True
    new_session[position == 0] = True  # and every user starts a session
    session = np.cumsum(new_session) - 1  # (n,) global session number within the chunk
    session_gap = np.minimum(SPAN_MS * 6.0 / counts, 7 * 86_400_000)  # (users,) mean gap
    gaps_ms = np.where(
        new_session,
        rng.exponential(np.repeat(session_gap, counts)),  # between sessions: the user's pace
        rng.lognormal(10.3, 1.0, n),  # inside a session: ~30 s
    ).astype(np.int64)
    gaps_ms[position == 0] = rng.integers(0, SPAN_MS // 3, int((position == 0).sum()))
    ts = START_MS + _cumsum_per_user(gaps_ms, position == 0)
    session_category = np.searchsorted(category_cdf, rng.random(int(session[-1]) + 1))
    category = session_category[session]
    stray = rng.random(n) < 0.15  # now and then a session wanders off its category
    category[stray] = np.searchsorted(category_cdf, rng.random(int(stray.sum())))
    category = np.minimum(category, len(category_cdf) - 1)
    item = _item_in_category(category, category_of_item, rng)
    event = rng.choice(len(EVENT_TYPES), n, p=EVENT_SHARES)
    item_ids = pa.array(item.astype(np.int64), mask=event == 1)  # searches: no item
    return pa.table(
        {
            "user_id": pa.array(user.astype(np.int64)),
            "event_time": pa.array(ts, pa.timestamp("ms", tz="UTC")),
            "event_type": pa.DictionaryArray.from_arrays(
                pa.array(event.astype(np.int32)), pa.array(EVENT_TYPES)
            ),
            "item_id": item_ids,
            "category_id": pa.array(category.astype(np.int32)),
        }
    )


def _cumsum_per_user(values: np.ndarray, user_starts: np.ndarray) -> np.ndarray:
    """Running sum of `values` restarting at each user's first event."""
    total = np.cumsum(values)
    base = np.maximum.accumulate(np.where(user_starts, total - values, 0))
    return total - base


def _item_in_category(
    category: np.ndarray, category_of_item: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """An item of each event's category, Zipf-skewed within the category (rank ~ u^3)."""
    first = np.searchsorted(category_of_item, category, side="left")
    last = np.searchsorted(category_of_item, category, side="right")
    size = np.maximum(last - first, 1)
    rank = np.floor(rng.random(len(category)) ** 3 * size).astype(np.int64)
    return np.minimum(first + rank, len(category_of_item) - 1)


def write_log(shape: ScaleShape, out: Path) -> dict[str, float]:
    """Write the log as Parquet parts under `out`; returns sizes and seconds."""
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*.parquet"):
        old.unlink()
    rng = np.random.default_rng(shape.seed)
    counts = user_event_counts(shape, rng)
    category_cdf, category_of_item = item_tables(shape, rng)
    written = 0
    for part, first in enumerate(range(0, shape.users, CHUNK_USERS)):
        chunk_counts = counts[first : first + CHUNK_USERS]
        table = generate_chunk(chunk_counts, first, shape, category_cdf, category_of_item, rng)
        pq.write_table(table, out / f"part-{part:05d}.parquet", row_group_size=1 << 20)
        written += table.num_rows
    return {
        "events": written,
        "users": shape.users,
        "items": shape.items,
        "max_user_events": int(counts.max()),
        "median_user_events": float(np.median(counts)),
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for the Parquet parts")
    args = parser.parse_args(argv)
    print(write_log(ScaleShape.for_events(args.events, args.seed), args.out))


if __name__ == "__main__":
    main()
