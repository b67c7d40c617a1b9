"""A seeded random sample of users for the analyses that are sample-based on very large logs.

Segments, session intents and anomalies read every event of the users they describe, and the
model's forward pass over them costs time per event. Up to `MAX_ANALYSIS_USERS` users (a 10M-event
log of 200k users) every user is analysed; past it a seeded random sample of that many users is,
and the step's summary says so (`sample_note`), so nobody reads a sample as the whole log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.sequences import EventSequences

MAX_ANALYSIS_USERS = 250_000  # users analysed in full; past this, a seeded random sample
MAP_ROWS = 20_000  # users placed on a segment map at most (a seeded sample past this)


@dataclass(frozen=True)
class UserSample:
    """The sequences an analysis runs on, and how they relate to the whole log."""

    sequences: EventSequences  # all users, or the sample
    total_users: int  # users in the whole log

    @property
    def sampled(self) -> bool:
        return self.sequences.num_users < self.total_users

    def note(self) -> str | None:
        """One sentence for summaries and pages; None when every user was analysed."""
        if not self.sampled:
            return None
        return (
            f"computed on a random sample of {self.sequences.num_users:,} of "
            f"{self.total_users:,} users (the log is too large to read every user)"
        )

    def summary(self) -> dict:
        """Keys every sample-based step adds to its summary JSON."""
        return {
            "sampled_users": self.sequences.num_users if self.sampled else None,
            "total_users": self.total_users,
            "sample_note": self.note(),
        }


def sample_users(
    sequences: EventSequences, max_users: int | None = MAX_ANALYSIS_USERS, seed: int = 0
) -> UserSample:
    """All users when there are at most `max_users` (None: no limit), else a seeded sample."""
    total = sequences.num_users
    if max_users is None or total <= max_users:
        return UserSample(sequences, total)
    chosen = np.sort(np.random.default_rng([seed, 7]).choice(total, max_users, replace=False))
    return UserSample(sequences.subset(chosen), total)
