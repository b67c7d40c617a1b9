"""Fine-tuning examples as event windows, the split by user, and the bag-of-events baseline.

Every example is a window of rows `starts[i]:starts[i]+lengths[i]` of one user (at most the
model's `max_len`), so the model and the baseline read exactly the same events. The split is by
user: all examples of a user fall in one part, so a model cannot memorise a user's habits in
training and meet the same user again when it is scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.training.finetune.metrics import classification_metrics
from core.training.targets import SequenceTargets, TokenTargets
from core.training.windows import window_index

TRAIN, VALID, TEST = 0, 1, 2  # split parts


@dataclass
class Examples:
    """Windows to classify: a class per window (sequence task) or per row (token task)."""

    users: np.ndarray  # (n,) int64 user of each window
    starts: np.ndarray  # (n,) int64 first row of each window
    lengths: np.ndarray  # (n,) int64 events in each window (>= 1)
    labels: np.ndarray | None  # (n,) int64 class per window; None for token tasks

    def __len__(self) -> int:
        return len(self.users)

    def take(self, index: np.ndarray) -> Examples:
        labels = self.labels[index] if self.labels is not None else None
        return Examples(self.users[index], self.starts[index], self.lengths[index], labels)


def sequence_examples(sequences: EventSequences, targets: SequenceTargets, keep: int) -> Examples:
    """Each history cut to its last `keep` events (the model's window)."""
    first = np.asarray(sequences.offsets, dtype=np.int64)[targets.users]
    starts = np.maximum(first, targets.cutoffs - keep)
    return Examples(targets.users, starts, targets.cutoffs - starts, targets.labels)


def token_examples(sequences: EventSequences, targets: TokenTargets, max_len: int) -> Examples:
    """Each user's events in consecutive chunks of `max_len`; chunks without a label are dropped."""
    offsets = np.asarray(sequences.offsets, dtype=np.int64)
    chunks = -(-np.diff(offsets) // max_len)  # (U,) ceil(length / max_len)
    users = np.repeat(np.arange(len(chunks)), chunks)  # (n,)
    k = np.arange(len(users)) - np.repeat(np.cumsum(chunks) - chunks, chunks)  # chunk number
    starts = offsets[users] + k * max_len
    lengths = np.minimum(max_len, offsets[users + 1] - starts)
    rows, valid = window_index(starts, lengths)
    labelled = ((targets.labels[rows] >= 0) & valid).any(axis=1)
    keep = np.flatnonzero(labelled)
    return Examples(users[keep], starts[keep], lengths[keep], None)


def split_users(
    num_users: int, valid_fraction: float, test_fraction: float, seed: int
) -> np.ndarray:
    """(U,) part of each user (TRAIN, VALID, TEST), a seeded shuffle; the same for a dataset."""
    if valid_fraction <= 0 or test_fraction <= 0 or valid_fraction + test_fraction >= 0.9:
        raise BehaviorLensError(
            f"validation ({valid_fraction}) and test ({test_fraction}) fractions must be > 0 and "
            "leave at least 10% of users for training"
        )
    order = np.random.default_rng([seed, 7]).permutation(num_users)
    parts = np.full(num_users, TRAIN, dtype=np.int8)
    n_test = max(1, round(test_fraction * num_users))
    n_valid = max(1, round(valid_fraction * num_users))
    parts[order[:n_test]] = TEST
    parts[order[n_test : n_test + n_valid]] = VALID
    return parts


def split_examples(examples: Examples, parts: np.ndarray) -> dict[int, Examples]:
    """The examples of each part, keyed TRAIN / VALID / TEST."""
    part_of = parts[examples.users]
    return {p: examples.take(np.flatnonzero(part_of == p)) for p in (TRAIN, VALID, TEST)}


def token_rows(examples: Examples, labels: np.ndarray) -> np.ndarray:
    """Rows of the labelled events inside the windows, in window order."""
    rows, valid = window_index(examples.starts, examples.lengths)
    rows = rows[valid]
    return rows[labels[rows] >= 0]


def bag_of_events(sequences: EventSequences, examples: Examples) -> np.ndarray:
    """(n, E) counts of each event type in each window: the baseline's whole view of it."""
    E = len(sequences.event_vocab)
    rows, valid = window_index(examples.starts, examples.lengths)
    events = np.asarray(sequences.events, dtype=np.int64)[rows]  # (n, T)
    flat = (np.arange(len(examples))[:, None] * E + events)[valid]
    return np.bincount(flat, minlength=len(examples) * E).reshape(len(examples), E)


def session_bag_of_events(sequences: EventSequences, rows: np.ndarray) -> np.ndarray:
    """(n, 2E) per event row: event-type counts in its session so far, and its own type.

    One running count per event type at a time, so memory stays O(N) on large logs.
    """
    E = len(sequences.event_vocab)
    events = np.asarray(sequences.events, dtype=np.int64)
    sessions = np.asarray(sequences.sessions)
    first = np.searchsorted(sessions, sessions[rows], side="left")  # (n,) session start rows
    out = np.zeros((len(rows), 2 * E), dtype=np.int64)
    for e in range(E):
        upto = np.cumsum(events == e, dtype=np.int64)  # (N,) rows of type e at or before i
        out[:, e] = upto[rows] - np.where(first > 0, upto[np.maximum(first - 1, 0)], 0)
        out[:, E + e] = events[rows] == e
    return out


def baseline_metrics(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    num_classes: int,
    balanced: bool,
    seed: int,
) -> dict[str, Any]:
    """Logistic regression on log1p counts, fitted on the training users, scored on test users."""
    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(
            max_iter=2000, class_weight="balanced" if balanced else None, random_state=seed
        ),
    )
    model.fit(np.log1p(train_x), train_y)
    proba = np.zeros((len(test_x), num_classes))  # (n, C); classes unseen in training get 0
    proba[:, model.classes_] = model.predict_proba(np.log1p(test_x))
    return {
        "model": "logistic regression on bag-of-events counts",
        **classification_metrics(test_y, proba),
    }
