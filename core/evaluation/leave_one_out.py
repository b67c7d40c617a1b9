"""Leave-one-out evaluation: each user's last event is the test target, the one before it the
validation target, and a model ranks the item that comes next from everything before it.

Two protocols, always named in the output because their figures differ about threefold:
- "full": the target is ranked against every real item the user has not already seen in the
  history (the target itself stays even when it is a repeat). This is the honest one.
- "sampled-100": the target is ranked against 100 items drawn uniformly from those the user never
  interacted with, as in the SASRec paper; negatives depend only on (seed, split, user), so they
  do not change with the batch size or the subset of users evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED, PAD
from core.errors import BehaviorLensError
from core.evaluation.metrics import mean_metrics, rank_counts
from core.evaluation.scorer import NextItemScorer
from core.progress import ProgressCallback, ProgressEvent
from core.training.distributed import DistContext, broadcast, gather_to_main, shard_users

Split = Literal["test", "valid"]
PROTOCOLS = ("full", "sampled-100")
MIN_EVENTS = 3  # users with fewer events have no training part left and are not evaluated
SAMPLED_NEGATIVES = 100  # negatives per user in the "sampled-100" protocol
_SPLIT_SALT = {"test": 1, "valid": 2}  # separates the negative streams of the two splits


def eligible_users(sequences: EventSequences) -> np.ndarray:
    """(U',) indices of users with at least MIN_EVENTS events, the only ones evaluated."""
    return np.flatnonzero(sequences.lengths() >= MIN_EVENTS)


def target_rows(sequences: EventSequences, users: np.ndarray, split: Split) -> np.ndarray:
    """(B,) row of each user's held-out event; its history (the cutoff) ends just before it."""
    if split not in _SPLIT_SALT:
        raise ValueError(f"split must be 'test' or 'valid', got {split!r}")
    back = 1 if split == "test" else 2
    return sequences.offsets[np.asarray(users) + 1] - back


def train_mask(sequences: EventSequences) -> np.ndarray:
    """(N,) True for rows a model may learn from: all but the last two events of evaluated users.

    Users with fewer than MIN_EVENTS events keep all their rows: they are never evaluated, so
    their events cannot leak a target.
    """
    mask = np.ones(sequences.num_events, dtype=bool)
    users = eligible_users(sequences)
    ends = sequences.offsets[users + 1]
    mask[ends - 1] = False
    mask[ends - 2] = False
    return mask


SCORE_BLOCK_CELLS = 1 << 25  # (users x items) scores held at once: 128 MB of float32 per block


def evaluate(
    scorer: NextItemScorer,
    sequences: EventSequences,
    split: Split = "test",
    protocol: str = "full",
    ks: Sequence[int] = (10,),
    max_users: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    on_progress: ProgressCallback | None = None,
    context: DistContext | None = None,
) -> dict:
    """Rank each evaluated user's held-out item and average HR@K, NDCG@K and MRR.

    `max_users` evaluates a seeded random subset (for quick validation during training). Metrics
    are expected values under random tie-breaking (see core.evaluation.metrics). Returns
    {"protocol", "split", "users", "skipped_users", "items", "seed", "hr@K", "ndcg@K" (per K),
    "mrr", "mean_rank"}; users are scored `batch_size` at a time, so memory is (batch, items).
    Under torchrun (`context`) each rank ranks a contiguous run of those batches, rank 0
    averages everyone's per-user ranks, and every rank returns its result: the same batches
    and the same sum as one process, so the same figures.
    """
    if protocol not in PROTOCOLS:
        raise BehaviorLensError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    if batch_size < 1 or not ks or min(ks) < 1:
        raise ValueError(f"batch_size and every k must be >= 1, got {batch_size}, {list(ks)}")
    context = context or DistContext()
    batch_size = min(batch_size, max(1, SCORE_BLOCK_CELLS // len(sequences.item_vocab)))
    evaluable = evaluable_users(sequences, split)
    users = _subsample(evaluable, max_users, seed)
    mine = shard_users(users, context, block=batch_size)
    ranks = _rank_users(scorer, sequences, mine, split, protocol, seed, batch_size, on_progress)
    shares = gather_to_main(ranks, context)
    metrics = None
    if shares is not None:
        greater, ties = (np.concatenate([share[i] for share in shares]) for i in (0, 1))
        metrics = {
            "protocol": protocol,
            "split": split,
            "users": len(users),
            "skipped_users": int(sequences.num_users - len(evaluable)),
            "items": len(sequences.item_vocab) - sequences.item_vocab.first_real_id,
            "item_less_events": _item_less_events(sequences),
            "seed": seed,
            **mean_metrics(greater, ties, ks),
        }
        if len(users) < len(evaluable):
            metrics["sample_note"] = (
                f"evaluated on a seeded random sample of {len(users):,} of {len(evaluable):,} users"
            )
    return broadcast(metrics, context)


def _rank_users(
    scorer: NextItemScorer,
    sequences: EventSequences,
    users: np.ndarray,
    split: Split,
    protocol: str,
    seed: int,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(U,) candidates above and tied with each user's target, `batch_size` users at a time."""
    greater, ties = np.zeros(len(users), np.int64), np.zeros(len(users), np.int64)
    rank = _rank_full if protocol == "full" else _rank_sampled
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        g, t = rank(scorer, sequences, batch, split, seed)
        greater[start : start + len(batch)], ties[start : start + len(batch)] = g, t
        if on_progress is not None:
            done = start + len(batch)
            on_progress(ProgressEvent("evaluate", done, len(users), f"{protocol} {split}"))
    return greater, ties


def evaluable_users(sequences: EventSequences, split: Split) -> np.ndarray:
    """Eligible users whose held-out item is a real item (never PAD/MASK/UNK)."""
    users = eligible_users(sequences)
    first = sequences.item_vocab.first_real_id  # a search (NO_ITEM) is never a target
    users = users[sequences.items[target_rows(sequences, users, split)] >= first]
    if len(users) == 0:
        raise BehaviorLensError(
            f"no user has at least {MIN_EVENTS} events, so there is nothing to evaluate"
        )
    return users


def _item_less_events(sequences: EventSequences) -> int:
    """Events without an item (searches, page views): read as input, never scored as targets."""
    no_item = sequences.item_vocab.no_item_id
    return 0 if no_item is None else int(np.count_nonzero(sequences.items == no_item))


def _subsample(users: np.ndarray, max_users: int | None, seed: int) -> np.ndarray:
    if max_users is not None and max_users < len(users):
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return users


def _scores(
    scorer: NextItemScorer, sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray
) -> np.ndarray:
    scores = np.asarray(scorer.score_histories(sequences, users, cutoffs))  # (B, V)
    expected = (len(users), len(sequences.item_vocab))
    if scores.shape != expected:
        raise ValueError(f"{type(scorer).__name__} returned scores {scores.shape}, not {expected}")
    return scores


def _rank_full(
    scorer: NextItemScorer, sequences: EventSequences, users: np.ndarray, split: Split, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Target vs every real item not seen in the history (the target itself always competes).

    Counts over all real items in one pass, then takes back the few seen items that were counted,
    instead of building a (B, V) candidate mask: the history is tiny next to the catalogue.
    """
    cutoffs = target_rows(sequences, users, split)  # (B,)
    targets = sequences.items[cutoffs].astype(np.int64)  # (B,)
    scores = _scores(scorer, sequences, users, cutoffs)  # (B, V)
    batch_index = np.arange(len(users))
    target_scores = scores[batch_index, targets]  # (B,)
    first = sequences.item_vocab.first_real_id  # NO_ITEM (searches) never competes
    greater, ties = rank_counts(scores[:, first:], target_scores)  # (B,), (B,)
    rows, owner = _concat_ranges(sequences.offsets[users], cutoffs)  # history rows
    keys = np.unique(owner * len(sequences.item_vocab) + sequences.items[rows])  # seen (b, item)
    owner, seen = np.divmod(keys, len(sequences.item_vocab))  # (S,), (S,)
    counted = (seen >= first) & (seen != targets[owner])  # (S,) wrongly counted above
    owner, seen = owner[counted], seen[counted]
    seen_greater, seen_ties = rank_counts(
        scores[owner, seen][:, None], target_scores[owner], allow_absent_target=True
    )  # (S,), (S,) one candidate per row
    greater -= np.bincount(owner, weights=seen_greater, minlength=len(users)).astype(np.int64)
    ties -= np.bincount(owner, weights=seen_ties + 1, minlength=len(users)).astype(np.int64)
    return greater, ties


def _rank_sampled(
    scorer: NextItemScorer, sequences: EventSequences, users: np.ndarray, split: Split, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Target vs SAMPLED_NEGATIVES items the user never interacted with (column 0 is the target)."""
    cutoffs = target_rows(sequences, users, split)  # (B,)
    targets = sequences.items[cutoffs]  # (B,)
    scores = _scores(scorer, sequences, users, cutoffs)  # (B, V)
    negatives, valid = sample_negatives(sequences, users, SAMPLED_NEGATIVES, seed, split)
    columns = np.concatenate([targets[:, None], negatives], axis=1)  # (B, 1 + n)
    mask = np.concatenate([np.ones((len(users), 1), bool), valid], axis=1)  # (B, 1 + n)
    picked = np.take_along_axis(scores, columns, axis=1)  # (B, 1 + n)
    return rank_counts(picked, picked[:, 0], mask)


def sample_negatives(
    sequences: EventSequences, users: np.ndarray, num: int, seed: int, split: Split = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """(B, num) distinct item ids per user, uniform over real items the user never interacted with.

    Returns the ids and a validity mask; a user who has seen almost the whole catalogue gets fewer
    than `num` valid negatives (padding is PAD, masked out). Draws come from a counter-based hash
    of (seed, split, user, draw number), so they are reproducible user by user.
    """
    users = np.asarray(users, dtype=np.int64)
    first = sequences.item_vocab.first_real_id
    num_real = len(sequences.item_vocab) - first
    draws_per_user = 2 * num + 32  # enough for almost every user; the rest take the exact path
    draws = _hashed_draws(users, draws_per_user, seed, _SPLIT_SALT[split], num_real, first)
    keys = np.arange(len(users))[:, None] * len(sequences.item_vocab) + draws  # (B, M)
    rows, owner = _concat_ranges(sequences.offsets[users], sequences.offsets[users + 1])
    seen_keys = owner * len(sequences.item_vocab) + sequences.items[rows]  # (H,)
    first = np.zeros(keys.size, dtype=bool)
    first[np.unique(keys.ravel(), return_index=True)[1]] = True  # drop repeated draws
    usable = first.reshape(keys.shape) & ~np.isin(keys, seen_keys)  # (B, M)
    take = usable & (np.cumsum(usable, axis=1) <= num)  # (B, M) the first `num` usable draws
    complete = take.sum(axis=1) == num  # (B,)
    negatives = np.full((len(users), num), PAD, dtype=np.int64)
    valid = np.zeros((len(users), num), dtype=bool)
    negatives[complete] = draws[complete][take[complete]].reshape(-1, num)
    valid[complete] = True
    for b in np.flatnonzero(~complete):
        negatives[b], valid[b] = _exact_negatives(sequences, int(users[b]), num, seed, split)
    return negatives, valid


def _exact_negatives(
    sequences: EventSequences, user: int, num: int, seed: int, split: Split
) -> tuple[np.ndarray, np.ndarray]:
    """Slow path for users who saw much of the catalogue: sample from the explicit unseen set."""
    seen = sequences.items[sequences.user_slice(user)]
    unseen = np.setdiff1d(
        np.arange(sequences.item_vocab.first_real_id, len(sequences.item_vocab)), seen
    )
    rng = np.random.default_rng([seed, _SPLIT_SALT[split], user])
    chosen = rng.choice(unseen, size=min(num, len(unseen)), replace=False)
    out = np.full(num, PAD, dtype=np.int64)
    out[: len(chosen)] = chosen
    return out, np.arange(num) < len(chosen)


def _hashed_draws(
    users: np.ndarray, count: int, seed: int, salt: int, num_real: int, first: int = NUM_RESERVED
) -> np.ndarray:
    """(B, count) item ids in first..first+num_real-1 from a splitmix64 hash."""
    base = _splitmix64(np.array([seed * 4 + salt], dtype=np.uint64))  # (1,)
    streams = _splitmix64(base + users.astype(np.uint64))  # (B,)
    counters = np.arange(count, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)  # (M,)
    bits = _splitmix64(streams[:, None] ^ counters[None, :])  # (B, M)
    return (bits % np.uint64(num_real)).astype(np.int64) + first


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Vectorised splitmix64 finaliser: a fast, well-mixed uint64 -> uint64 hash."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _concat_ranges(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of all ranges starts[i]:stops[i] concatenated, and the range index i of each row."""
    lengths = (np.asarray(stops) - np.asarray(starts)).astype(np.int64)  # (B,)
    owner = np.repeat(np.arange(len(lengths)), lengths)  # (H,)
    first_of_range = np.cumsum(lengths) - lengths  # (B,) position of each range in the output
    rows = np.arange(int(lengths.sum())) - first_of_range[owner] + np.asarray(starts)[owner]
    return rows.astype(np.int64), owner
