"""Leave-one-out split: targets, seen-item exclusion, sampled negatives, user subsets."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED, Vocab
from core.errors import BehaviorLensError
from core.evaluation.leave_one_out import (
    evaluate,
    sample_negatives,
    target_rows,
    train_mask,
)
from core.evaluation.scorer import padded_items


def make_sequences(histories: list[list[int]], num_items: int) -> EventSequences:
    """Users with the given item-id histories (ids >= 3), over a catalogue of num_items items."""
    lengths = [len(h) for h in histories]
    n = sum(lengths)
    items = np.array([i for h in histories for i in h], dtype=np.int32)
    return EventSequences(
        user_ids=np.array([f"u{i}" for i in range(len(histories))]),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        items=items,
        events=np.full(n, 3, dtype=np.int32),
        categories=np.full(n, 2, dtype=np.int32),
        timestamps=np.arange(n, dtype=np.int64),
        sessions=np.zeros(n, dtype=np.int64),
        item_vocab=Vocab.build([f"i{i}" for i in range(num_items)]),
        event_vocab=Vocab.build(["view"]),
        category_vocab=Vocab.build([]),
    )


class RecordingScorer:
    """Returns fixed scores and records the histories it was asked about."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []

    def score_histories(self, sequences, users, cutoffs):
        self.calls.append((np.array(users), np.array(cutoffs)))
        return np.tile(self.scores, (len(users), 1))


def test_targets_and_cutoffs_per_split() -> None:
    seqs = make_sequences([[3, 4, 5, 6], [7, 8, 9]], num_items=10)
    users = np.array([0, 1])
    assert target_rows(seqs, users, "test").tolist() == [3, 6]
    assert target_rows(seqs, users, "valid").tolist() == [2, 5]
    assert seqs.items[target_rows(seqs, users, "test")].tolist() == [6, 9]


def test_train_mask_hides_both_targets_but_keeps_short_users() -> None:
    seqs = make_sequences([[3, 4, 5, 6], [7, 8]], num_items=10)
    assert train_mask(seqs).tolist() == [True, True, False, False, True, True]


def test_short_users_skipped_and_scorer_sees_history_only() -> None:
    seqs = make_sequences([[3, 4, 5], [6, 7], [8, 9, 10, 11]], num_items=12)
    scorer = RecordingScorer(np.zeros(len(seqs.item_vocab)))
    result = evaluate(scorer, seqs, split="valid")
    assert result["users"] == 2 and result["skipped_users"] == 1
    users, cutoffs = scorer.calls[0]
    assert users.tolist() == [0, 2]
    assert cutoffs.tolist() == [1, 7]  # valid target rows; histories end just before them


def test_seen_items_excluded_except_the_target() -> None:
    # user's history 3, 4, 5 then target 6; the scorer prefers seen items 3, 4, 5 and PAD..UNK
    seqs = make_sequences([[3, 4, 5, 6]], num_items=10)
    scores = np.zeros(len(seqs.item_vocab))
    scores[[0, 1, 2, 3, 4, 5]] = 100.0
    scores[6] = 1.0
    result = evaluate(RecordingScorer(scores), seqs)
    assert result["hr@10"] == 1.0 and result["mrr"] == 1.0  # nothing unseen outranks the target
    assert result["items"] == 10


def test_repeated_target_still_ranked() -> None:
    seqs = make_sequences([[3, 4, 3, 4]], num_items=10)  # test target 4 was seen before
    scores = np.arange(len(seqs.item_vocab), dtype=float)
    scores[4] = 50.0
    result = evaluate(RecordingScorer(scores), seqs)
    assert result["mrr"] == 1.0


def test_constant_scorer_full_protocol_is_random() -> None:
    seqs = make_sequences([[3, 4, 5, 6]], num_items=40)
    result = evaluate(RecordingScorer(np.zeros(43)), seqs, ks=(10,))
    # 3 seen items removed, 37 candidates left including the target
    assert result["hr@10"] == pytest.approx(10 / 37)


def test_sampled_negatives_unseen_distinct_and_reproducible() -> None:
    rng = np.random.default_rng(0)
    histories = [list(rng.integers(3, 303, size=60)) for _ in range(20)]
    seqs = make_sequences(histories, num_items=300)
    users = np.arange(20)
    negs, valid = sample_negatives(seqs, users, 100, seed=7)
    assert valid.all()
    for u in users:
        assert len(set(negs[u].tolist())) == 100
        assert not set(negs[u].tolist()) & set(histories[u])
        assert negs[u].min() >= NUM_RESERVED
    again, _ = sample_negatives(seqs, users[5:8], 100, seed=7)
    np.testing.assert_array_equal(again, negs[5:8])  # independent of which users are batched
    other, _ = sample_negatives(seqs, users, 100, seed=8)
    assert not np.array_equal(other, negs)


def test_sampled_negatives_when_catalogue_nearly_exhausted() -> None:
    seqs = make_sequences([list(range(3, 13)) + [3, 4]], num_items=15)  # 5 unseen items
    negs, valid = sample_negatives(seqs, np.array([0]), 100, seed=0)
    assert valid.sum() == 5
    assert sorted(negs[0][valid[0]].tolist()) == [13, 14, 15, 16, 17]


def test_sampled_protocol_and_batch_size_invariance() -> None:
    rng = np.random.default_rng(1)
    seqs = make_sequences([list(rng.integers(3, 503, size=8)) for _ in range(30)], num_items=500)
    scores = rng.normal(size=len(seqs.item_vocab))
    one = evaluate(RecordingScorer(scores), seqs, protocol="sampled-100", batch_size=7)
    two = evaluate(RecordingScorer(scores), seqs, protocol="sampled-100", batch_size=100)
    assert one["protocol"] == "sampled-100" and one["users"] == 30
    assert one["hr@10"] == pytest.approx(two["hr@10"])
    assert one["ndcg@10"] == pytest.approx(two["ndcg@10"])


def test_max_users_subset_is_seeded() -> None:
    seqs = make_sequences([[3, 4, 5]] * 50, num_items=10)
    a, b = RecordingScorer(np.zeros(13)), RecordingScorer(np.zeros(13))
    evaluate(a, seqs, max_users=10, seed=3)
    evaluate(b, seqs, max_users=10, seed=3)
    assert len(a.calls[0][0]) == 10
    np.testing.assert_array_equal(a.calls[0][0], b.calls[0][0])


def test_errors_for_bad_protocol_shape_and_no_users() -> None:
    seqs = make_sequences([[3, 4, 5]], num_items=5)
    with pytest.raises(BehaviorLensError, match="protocol"):
        evaluate(RecordingScorer(np.zeros(8)), seqs, protocol="sampled-7")
    with pytest.raises(ValueError, match="returned scores"):
        evaluate(RecordingScorer(np.zeros(5)), seqs)
    with pytest.raises(BehaviorLensError, match="at least 3 events"):
        evaluate(RecordingScorer(np.zeros(8)), make_sequences([[3, 4]], num_items=5))


def test_padded_items_left_pads_and_truncates() -> None:
    seqs = make_sequences([[3, 4, 5, 6], [7, 8, 9]], num_items=10)
    out = padded_items(seqs, np.array([0, 1]), np.array([3, 5]), max_len=2)
    assert out.tolist() == [[4, 5], [0, 7]]


def brute_force_full(seqs: EventSequences, scores: np.ndarray, split: str) -> dict:
    """The full protocol written the slow, obvious way: one user at a time, explicit sets."""
    from core.evaluation.metrics import mean_metrics

    greater, ties = [], []
    for u in range(seqs.num_users):
        rows = seqs.items[seqs.user_slice(u)].tolist()
        cut = len(rows) - (1 if split == "test" else 2)
        target, history = rows[cut], set(rows[:cut])
        candidates = [i for i in range(NUM_RESERVED, scores.shape[1]) if i not in history]
        candidates = set(candidates) | {target}
        t = scores[u, target]
        greater.append(sum(scores[u, i] > t for i in candidates))
        ties.append(sum(scores[u, i] == t for i in candidates) - 1)
    return mean_metrics(np.array(greater), np.array(ties), ks=(3, 10))


class PerUserScorer:
    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    def score_histories(self, sequences, users, cutoffs):
        return self.scores[users]


@pytest.mark.parametrize("split", ["test", "valid"])
def test_full_protocol_matches_brute_force_with_repeats_and_ties(split: str) -> None:
    rng = np.random.default_rng(5)
    histories = [list(rng.integers(3, 15, size=rng.integers(3, 12))) for _ in range(25)]
    seqs = make_sequences(histories, num_items=12)
    scores = rng.integers(0, 4, size=(25, len(seqs.item_vocab))).astype(np.float32)  # many ties
    scores[rng.random(scores.shape) < 0.05] = np.nan
    result = evaluate(PerUserScorer(scores), seqs, split=split, ks=(3, 10), batch_size=4)
    expected = brute_force_full(seqs, np.nan_to_num(scores, nan=-np.inf), split)
    for name in ("hr@3", "ndcg@3", "hr@10", "ndcg@10", "mrr", "mean_rank"):
        assert result[name] == pytest.approx(expected[name]), name
