"""The one thing evaluation needs from a model: scores for "what comes next" after a history.

Every recommender in Behavior Lens (the Transformer, the popularity and Markov baselines) is
evaluated through this protocol, so their numbers come out of the same code and are comparable.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from core.data.sequences import EventSequences
from core.data.vocab import PAD


@runtime_checkable
class NextItemScorer(Protocol):
    """Anything that scores every item as the next event after a user's history."""

    def score_histories(
        self, sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray
    ) -> np.ndarray:
        """Scores of shape (len(users), len(sequences.item_vocab)); higher means more likely next.

        The history of `users[i]` is rows `sequences.offsets[users[i]]:cutoffs[i]` (cutoff
        exclusive) and may be empty. Scores of reserved ids and seen items are ignored by the
        evaluator, so a scorer does not need to mask them.
        """
        ...


def padded_histories(
    sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray, max_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Last `max_len` history rows per user, left-padded: (row indices, valid mask), both (B, L).

    Models index any per-event array with the rows (`sequences.items[rows]`) and use the mask to
    blank padding; padding rows point at row 0 so the indexing never goes out of bounds.
    """
    starts = np.maximum(sequences.offsets[users], np.asarray(cutoffs) - max_len)  # (B,)
    lengths = np.asarray(cutoffs) - starts  # (B,)
    if (lengths < 0).any():
        raise ValueError(f"cutoffs before the user's first event: {cutoffs[lengths < 0][:5]}")
    positions = np.arange(max_len)[None, :]  # (1, L)
    first_valid = max_len - lengths[:, None]  # (B, 1)
    valid = positions >= first_valid  # (B, L)
    rows = np.where(valid, starts[:, None] + positions - first_valid, 0)  # (B, L)
    return rows.astype(np.int64), valid


def padded_items(
    sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray, max_len: int
) -> np.ndarray:
    """(B, L) item ids of the last `max_len` history events, left-padded with PAD."""
    rows, valid = padded_histories(sequences, users, cutoffs, max_len)
    return np.where(valid, sequences.items[rows], PAD).astype(np.int64)
