"""The baselines every model is reported beside, so an analyst sees what the Transformer adds.

Both learn only from `train_mask` rows (everything before each user's validation target), so the
held-out events never leak into the counts they rank with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from core.data.sequences import EventSequences
from core.evaluation.leave_one_out import train_mask


@dataclass
class PopularityBaseline:
    """Most-popular: every user gets the same ranking, by training-set item frequency."""

    def fit(self, sequences: EventSequences) -> PopularityBaseline:
        items = sequences.items[train_mask(sequences)]
        self.counts_ = np.bincount(items, minlength=len(sequences.item_vocab)).astype(np.float32)
        return self

    def score_histories(
        self, sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray
    ) -> np.ndarray:
        return np.broadcast_to(self.counts_, (len(users), len(self.counts_)))  # (B, V)


@dataclass
class MarkovBaseline:
    """First-order Markov chain: P(next | last item), smoothed towards popularity.

    score(j | i) = (count(i -> j) + prior_weight * pop(j)) / (count(i -> .) + prior_weight), with
    pop the training popularity share, so an item never followed in training (or an empty
    history) backs off to the popularity ranking and popularity breaks transition ties.
    """

    prior_weight: float = 1.0  # pseudo-count of the popularity prior per source item

    def fit(self, sequences: EventSequences) -> MarkovBaseline:
        mask = train_mask(sequences)
        vocab_size = len(sequences.item_vocab)
        counts = np.bincount(sequences.items[mask], minlength=vocab_size).astype(np.float64)
        self.popularity_ = (counts / max(counts.sum(), 1.0)).astype(np.float32)  # (V,)
        same_user = np.ones(sequences.num_events, dtype=bool)
        starts = sequences.offsets[1:-1]
        same_user[starts[starts < sequences.num_events]] = False  # row r continues row r-1's user
        pair = same_user[1:] & mask[1:] & mask[:-1]  # (N-1,) both rows are training rows
        sources, targets = sequences.items[:-1][pair], sequences.items[1:][pair]
        ones = np.ones(len(sources), dtype=np.float32)
        shape = (vocab_size, vocab_size)
        self.transitions_ = sparse.csr_matrix((ones, (sources, targets)), shape=shape)
        self.out_degree_ = np.asarray(self.transitions_.sum(axis=1)).ravel()  # (V,)
        return self

    def score_histories(
        self, sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray
    ) -> np.ndarray:
        cutoffs = np.asarray(cutoffs)
        has_history = cutoffs > sequences.offsets[np.asarray(users)]  # (B,)
        last = np.where(has_history, sequences.items[np.maximum(cutoffs - 1, 0)], 0)  # (B,)
        rows = self.transitions_[last].toarray()  # (B, V)
        rows[~has_history] = 0.0
        scores = rows + self.prior_weight * self.popularity_[None, :]  # (B, V)
        norm = np.where(has_history, self.out_degree_[last], 0.0) + self.prior_weight  # (B,)
        return (scores / norm[:, None]).astype(np.float32)
