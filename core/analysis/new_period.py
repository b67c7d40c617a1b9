"""Run a trained model on next week's log: the new period in the run's vocabulary, with history.

A new dataset has its own vocabularies; the run only knows the ids it was trained with. So the
new events are re-encoded with the run's vocabularies (an item, event type or category the run
never saw becomes UNK: counted in the drift summary, never a crash), and each user who was in
the training data gets their earlier history prepended, so the model reads what it would have
read had the log simply continued. New users start cold. The result is an ordinary
`EventSequences` over the run's vocabularies, so predictions, segments (transform, not refit),
anomaly scores and the leave-one-out evaluation all work on it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED, UNK, Vocab


@dataclass
class NewPeriod:
    """The new period's users with their histories, in the run's vocabularies."""

    sequences: EventSequences  # one user per user of the new dataset, history first
    new_start: np.ndarray  # (U,) first row of each user's new events (history before it)
    known: np.ndarray  # (U,) bool, the user was in the training data
    unseen_items: int  # new events whose item the run never saw (now UNK)
    unseen_event_types: int  # new events whose event type the run never saw
    unseen_categories: int  # new events with a category the run never saw
    new_events: int  # events in the new dataset


def remap(source: Vocab, target: Vocab) -> np.ndarray:
    """(len(source),) id in `target` of every id of `source`: reserved ids keep theirs, an
    unseen token becomes UNK, and the no-item token finds the target's (UNK if it has none)."""
    out = np.array([target.id_of(token) for token in source.tokens], dtype=np.int32)
    out[:NUM_RESERVED] = np.arange(NUM_RESERVED)
    if source.no_item_id is not None:
        out[source.no_item_id] = target.no_item_id if target.no_item_id is not None else UNK
    return out


def _unseen(values: np.ndarray, mapping: np.ndarray, source: Vocab) -> int:
    """Events whose real token (not reserved, not no-item) maps to UNK."""
    real = values >= source.first_real_id
    return int(np.count_nonzero(real & (mapping[values] == UNK)))


def align(new: EventSequences, train: EventSequences, with_history: bool = True) -> NewPeriod:
    """The new period in `train`'s vocabularies, known users' training history prepended."""
    items = remap(new.item_vocab, train.item_vocab)
    events = remap(new.event_vocab, train.event_vocab)
    cats = remap(new.category_vocab, train.category_vocab)
    known_index = np.array(
        [_index_or(train, str(u)) for u in new.user_ids], dtype=np.int64
    )  # (U,) training user index or -1
    known = known_index >= 0
    hist_start = np.where(known, train.offsets[np.maximum(known_index, 0)], 0)
    hist_len = np.where(known, np.diff(train.offsets)[np.maximum(known_index, 0)], 0)
    hist_len = hist_len if with_history else np.zeros_like(hist_len)
    new_len = np.diff(new.offsets)
    offsets = np.r_[0, np.cumsum(hist_len + new_len)].astype(np.int64)
    hist_rows = _ranges(hist_start, hist_len)  # rows of train, user by user
    new_rows = _ranges(new.offsets[:-1], new_len)  # rows of new, user by user
    is_new = np.zeros(int(offsets[-1]), dtype=bool)
    is_new[_ranges(offsets[:-1] + hist_len, new_len)] = True
    session_shift = int(train.sessions.max()) + 1 if len(train.sessions) else 0

    def merged(old: np.ndarray, fresh: np.ndarray, dtype: type) -> np.ndarray:
        out = np.empty(int(offsets[-1]), dtype=dtype)
        out[~is_new], out[is_new] = old[hist_rows], fresh[new_rows]
        return out

    sequences = EventSequences(
        user_ids=new.user_ids,
        offsets=offsets,
        items=merged(train.items, items[new.items], np.int32),
        events=merged(train.events, events[new.events], np.int32),
        categories=merged(train.categories, cats[new.categories], np.int32),
        timestamps=merged(train.timestamps, new.timestamps, np.int64),
        sessions=merged(train.sessions, new.sessions + session_shift, np.int64),
        item_vocab=train.item_vocab,
        event_vocab=train.event_vocab,
        category_vocab=train.category_vocab,
    )
    return NewPeriod(
        sequences=sequences,
        new_start=offsets[:-1] + hist_len,
        known=known,
        unseen_items=_unseen(new.items, items, new.item_vocab),
        unseen_event_types=_unseen(new.events, events, new.event_vocab),
        unseen_categories=_unseen(new.categories, cats, new.category_vocab),
        new_events=int(new.num_events),
    )


def _index_or(sequences: EventSequences, user_id: str) -> int:
    try:
        return sequences.user_index(user_id)
    except KeyError:
        return -1


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated arange(start, start + length) for every pair, vectorised."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    first = np.r_[0, np.cumsum(lengths)[:-1]]
    return np.asarray(starts, dtype=np.int64)[owner] + np.arange(total) - first[owner]


def new_rows_mask(period: NewPeriod) -> np.ndarray:
    """(N,) True for the rows of the new period (False for prepended history)."""
    sequences = period.sequences
    lengths = sequences.offsets[1:] - period.new_start
    mask = np.zeros(sequences.num_events, dtype=bool)
    mask[_ranges(period.new_start, lengths)] = True
    return mask
