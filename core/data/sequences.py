"""Per-user event sequences in a compact CSR layout: the contract between data and model.

A dataset of N events from U users is held as flat arrays of length N sorted by (user, time,
file order), plus `offsets` of length U + 1: user u's events are rows `offsets[u]:offsets[u+1]`.
This keeps millions of events in a few numpy arrays instead of millions of Python lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.vocab import Vocab


@dataclass
class EventSequences:
    """Time-ordered events of every user, with the vocabularies that give the ids meaning."""

    user_ids: np.ndarray  # (U,) str, the user ids as they appear in the source file
    offsets: np.ndarray  # (U + 1,) int64, user u owns rows offsets[u]:offsets[u + 1]
    items: np.ndarray  # (N,) int32 ids into item_vocab
    events: np.ndarray  # (N,) int32 ids into event_vocab
    categories: np.ndarray  # (N,) int32 ids into category_vocab (UNK where no category)
    timestamps: np.ndarray  # (N,) int64 milliseconds since the Unix epoch, UTC
    sessions: np.ndarray  # (N,) int64 global session index, increasing within a user
    item_vocab: Vocab
    event_vocab: Vocab
    category_vocab: Vocab

    def __post_init__(self) -> None:
        n = int(self.offsets[-1]) if len(self.offsets) else 0
        for name in ("items", "events", "categories", "timestamps", "sessions"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, offsets say {n}")
        if len(self.user_ids) + 1 != len(self.offsets):
            raise ValueError(f"{len(self.user_ids)} users but {len(self.offsets)} offsets")

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_events(self) -> int:
        return int(self.offsets[-1])

    def lengths(self) -> np.ndarray:
        """(U,) number of events per user."""
        return np.diff(self.offsets)

    def user_index(self, user_id: str) -> int:
        """Position of a user id (compared as text), raising KeyError when absent."""
        if not hasattr(self, "_user_lookup"):
            self._user_lookup = {str(u): i for i, u in enumerate(self.user_ids)}
        return self._user_lookup[str(user_id)]

    def user_slice(self, u: int) -> slice:
        return slice(int(self.offsets[u]), int(self.offsets[u + 1]))

    def subset(self, users: np.ndarray) -> EventSequences:
        """The same log restricted to `users` (sorted indices), vocabularies unchanged.

        Analyses that are sample-based on very large logs run on this: memory and time then grow
        with the sample, not with the log. Session indices keep their global values.
        """
        users = np.asarray(users, dtype=np.int64)
        starts, ends = self.offsets[users], self.offsets[users + 1]
        lengths = ends - starts
        offsets = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        rows = np.repeat(starts - offsets[:-1], lengths) + np.arange(int(offsets[-1]))  # (n,)
        return self.with_rows(self.user_ids[users], offsets, rows)

    def with_rows(
        self, user_ids: np.ndarray, offsets: np.ndarray, rows: np.ndarray | slice
    ) -> EventSequences:
        """Rows `rows` of this log as the events of `user_ids` split by `offsets`, with the same
        vocabularies (so a run trained on this log scores the result unchanged)."""
        return EventSequences(
            user_ids=user_ids,
            offsets=offsets,
            items=self.items[rows],
            events=self.events[rows],
            categories=self.categories[rows],
            timestamps=self.timestamps[rows],
            sessions=self.sessions[rows],
            item_vocab=self.item_vocab,
            event_vocab=self.event_vocab,
            category_vocab=self.category_vocab,
        )
