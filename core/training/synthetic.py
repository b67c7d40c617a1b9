"""Small synthetic `EventSequences` with a learnable pattern, for tests and smoke runs.

Each user walks a cycle through the catalogue with a user-specific stride, so the next item is a
deterministic function of the last two: a model that learns anything beats popularity by far.
"""

from __future__ import annotations

import numpy as np

from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED, Vocab


def synthetic_sequences(
    num_users: int = 64,
    num_items: int = 30,
    min_len: int = 4,
    max_len: int = 12,
    num_event_types: int = 2,
    seed: int = 0,
) -> EventSequences:
    """Users of random length in [min_len, max_len]; item k+1 = item k + stride (mod catalogue)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=num_users)  # (U,)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)  # (U + 1,)
    owner = np.repeat(np.arange(num_users), lengths)  # (N,)
    step = np.arange(offsets[-1]) - offsets[owner]  # (N,) position within the user
    start = rng.integers(0, num_items, size=num_users)[owner]  # (N,)
    stride = rng.integers(1, 4, size=num_users)[owner]  # (N,)
    items = NUM_RESERVED + (start + stride * step) % num_items  # (N,)
    events = NUM_RESERVED + (step % num_event_types)  # (N,)
    categories = NUM_RESERVED + (items - NUM_RESERVED) % 3  # (N,)
    timestamps = 1_700_000_000_000 + owner * 10**9 + step * 60_000 * (1 + step % 3)  # (N,) ms
    sessions = owner * 2 + (step >= lengths[owner] // 2)  # (N,) two sessions per user
    return EventSequences(
        user_ids=np.array([f"u{u}" for u in range(num_users)], dtype=object),
        offsets=offsets,
        items=items.astype(np.int32),
        events=events.astype(np.int32),
        categories=categories.astype(np.int32),
        timestamps=timestamps.astype(np.int64),
        sessions=sessions.astype(np.int64),
        item_vocab=Vocab.build(
            [f"i{i}" for i in range(num_items)], np.bincount(items - 3, minlength=num_items)
        ),
        event_vocab=Vocab.build([f"e{i}" for i in range(num_event_types)]),
        category_vocab=Vocab.build(["c0", "c1", "c2"]),
    )
