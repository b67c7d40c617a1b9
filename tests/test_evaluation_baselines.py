"""Popularity and Markov baselines: no leakage, and a Markov chain wins on sequential data."""

from __future__ import annotations

import numpy as np
from test_evaluation_leave_one_out import make_sequences

from core.evaluation.baselines import MarkovBaseline, PopularityBaseline
from core.evaluation.leave_one_out import evaluate


def cyclic_histories(num_users: int, num_items: int, length: int) -> list[list[int]]:
    """Each user walks the cycle 3 -> 4 -> ... in order from a different start: purely sequential."""
    return [
        [3 + (start + step) % num_items for step in range(length)] for start in range(num_users)
    ]


def test_popularity_counts_only_training_rows() -> None:
    seqs = make_sequences([[3, 3, 4, 9], [3, 5, 9]], num_items=7)
    model = PopularityBaseline().fit(seqs)
    assert model.counts_[3] == 3  # three 3s before the held-out events
    assert model.counts_[9] == 0  # 9 is only ever a test target
    assert model.counts_[4] == 0  # 4 is a validation target


def test_markov_transitions_exclude_held_out_and_cross_user_pairs() -> None:
    seqs = make_sequences([[3, 4, 5, 6, 7], [8, 3, 9, 9]], num_items=8)
    model = MarkovBaseline().fit(seqs)
    t = model.transitions_.toarray()
    assert t[3, 4] == 1 and t[4, 5] == 1 and t[8, 3] == 1
    assert t[5, 6] == 0 and t[6, 7] == 0  # validation / test transitions
    assert t[5, 8] == 0  # user boundary


def test_markov_beats_popularity_on_sequential_data() -> None:
    seqs = make_sequences(cyclic_histories(num_users=40, num_items=30, length=12), num_items=30)
    pop = evaluate(PopularityBaseline().fit(seqs), seqs, ks=(5,))
    markov = evaluate(MarkovBaseline().fit(seqs), seqs, ks=(5,))
    assert markov["hr@5"] > 0.9
    assert markov["ndcg@5"] > pop["ndcg@5"] + 0.3


def test_markov_backs_off_to_popularity_without_history() -> None:
    seqs = make_sequences([[3, 3, 3, 4, 5], [6, 7, 8]], num_items=6)
    model = MarkovBaseline().fit(seqs)
    scores = model.score_histories(seqs, np.array([0]), np.array([0]))  # empty history
    assert np.argmax(scores[0]) == 3
    unseen_source = model.score_histories(seqs, np.array([1]), np.array([6]))  # last item 8
    assert np.argmax(unseen_source[0]) == 3
