"""How many users an evaluation ranks: every user up to a cost, a stated seeded sample past it.

A full ranking costs a (users x items) product. The defaults keep `evaluate`, the training's
validation and the "barely trained" check bounded on huge logs and catalogues, and every
result that used a sample says so (`sample_note`).
"""

from __future__ import annotations

# Users whose held-out item `evaluate` ranks at most: a full ranking costs a (users x items)
# product, ~1 s per 200 users at 170k items on a busy 2-core CPU (bench/RESULTS.md, Scale:
# 50k users took 223 s); 30k users put NDCG@10 within about +-0.004 (95%) of the all-user one.
MAX_EVALUATED_USERS = 30_000
EVALUATED_SCORE_CELLS = 6_000_000_000  # users x items one default evaluation ranks at most
MIN_EVALUATED_USERS = 5_000  # ... but never fewer users than this (NDCG@10 within ~+-0.01)


def evaluated_users(num_items: int) -> int:
    """Users `evaluate` ranks by default: MAX_EVALUATED_USERS, fewer on a catalogue so large
    that ranking them all would cost more than EVALUATED_SCORE_CELLS scores (1.7M items:
    5,000 users), never fewer than MIN_EVALUATED_USERS."""
    by_cost = EVALUATED_SCORE_CELLS // max(num_items, 1)
    return int(min(MAX_EVALUATED_USERS, max(MIN_EVALUATED_USERS, by_cost)))


def validation_users(limit: int | None, num_items: int) -> int | None:
    """Users each validation ranks: the configured `limit`, fewer on a catalogue so large that
    the per-epoch check would cost more than a default evaluation (never fewer than
    MIN_EVALUATED_USERS). The "barely trained" check ranks the same users."""
    if limit is None:
        return None
    return min(limit, evaluated_users(num_items))
