"""Next actions: what a user, or a session an analyst types in, is likely to do next.

Three questions, all through `LoadedRun.predict_next` so causal and masked runs both work:
- `next_actions`: top-k next items and every event type's probability after each user's history;
- `what_if`: the same for an arbitrary typed-in session of (item, event) tokens (unknown → UNK);
- `generate`: a likely continuation, sampled step by step (temperature, top-k, seeded). The item
  and the event type of a step are drawn from the two heads' distributions at the same state.

Items are listed by id with their readable `label` beside it (from the dataset's item
catalogue); the no-item token of item-less events (searches) is never suggested or sampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.analysis.item_labels import with_labels
from core.data.items import ItemCatalog
from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED, UNK
from core.errors import BehaviorLensError, NotFoundError

if TYPE_CHECKING:
    from core.inference.loading import LoadedRun

DEFAULT_GAP_S = 30  # seconds between typed-in events (the model reads time gaps)


@dataclass
class NextActions:
    """Ranked guesses for one history."""

    items: pd.DataFrame  # rank, item (id), label, prob, seen (already in the history)
    events: pd.DataFrame  # event, prob, every real event type, most likely first
    unknown: list[str]  # typed-in tokens the run's vocabularies do not know (read as UNK)


@dataclass
class GenerationConfig:
    """How to sample a continuation."""

    steps: int = 10  # events to generate
    temperature: float = 1.0  # < 1 sharpens, > 1 flattens the distributions
    top_k: int = 20  # sample among the k most likely items (0 = all)
    seed: int = 0  # same seed, same continuation

    def __post_init__(self) -> None:
        if self.steps < 1 or self.temperature <= 0 or self.top_k < 0:
            raise BehaviorLensError(
                f"generation needs steps >= 1, temperature > 0, top_k >= 0; got {self}"
            )


def next_actions(
    loaded: LoadedRun,
    sequences: EventSequences,
    user_ids: Sequence[str],
    top_k: int = 10,
    catalog: ItemCatalog | None = None,
) -> dict[str, NextActions]:
    """{user_id: NextActions} after each user's whole history (items labelled by `catalog`)."""
    users = np.array([_user_index(sequences, u) for u in user_ids], dtype=np.int64)
    cutoffs = np.asarray(sequences.offsets, dtype=np.int64)[users + 1]
    pred = loaded.predict_next(sequences, users, cutoffs)
    out = {}
    for i, (user_id, u) in enumerate(zip(user_ids, users, strict=True)):
        seen = set(np.asarray(sequences.items[sequences.user_slice(int(u))]).tolist())
        ranked = _ranked(pred.item_scores[i], pred.event_probs[i], sequences, top_k, seen, [])
        out[str(user_id)] = _labelled(ranked, catalog)
    return out


def what_if(
    loaded: LoadedRun,
    sequences: EventSequences,
    steps: Sequence[tuple[str, str]],
    top_k: int = 10,
    gap_s: float = DEFAULT_GAP_S,
    catalog: ItemCatalog | None = None,
) -> NextActions:
    """Next items / event types after a typed-in session of (item, event) tokens."""
    if not steps:
        raise BehaviorLensError("what-if needs at least one (item, event) step")
    session, unknown = typed_session(sequences, steps, gap_s)
    pred = loaded.predict_next(session, np.array([0]), np.array([len(steps)]))
    seen = set(np.asarray(session.items).tolist())
    ranked = _ranked(pred.item_scores[0], pred.event_probs[0], sequences, top_k, seen, unknown)
    return _labelled(ranked, catalog)


def generate(
    loaded: LoadedRun,
    sequences: EventSequences,
    steps: Sequence[tuple[str, str]],
    config: GenerationConfig | None = None,
    gap_s: float = DEFAULT_GAP_S,
    catalog: ItemCatalog | None = None,
) -> pd.DataFrame:
    """A continuation of `steps`: one row per generated event (step, item, label, event, probs)."""
    config = config or GenerationConfig()
    rng = np.random.default_rng(config.seed)
    history = list(steps)
    rows = []
    for step in range(config.steps):
        session, _ = typed_session(sequences, history, gap_s)
        pred = loaded.predict_next(session, np.array([0]), np.array([len(history)]))
        item_probs = _without_no_item(pred.item_scores[0], sequences)
        item = _sample(item_probs, config.temperature, config.top_k, rng)
        event = _sample(pred.event_probs[0], config.temperature, 0, rng)
        item_tok = sequences.item_vocab.token_of(item)
        event_tok = sequences.event_vocab.token_of(event)
        rows.append(
            {
                "step": step + 1,
                "item": item_tok,
                "event": event_tok,
                "item_prob": float(pred.item_scores[0][item]),
                "event_prob": float(pred.event_probs[0][event]),
            }
        )
        history.append((item_tok, event_tok))
    return with_labels(pd.DataFrame(rows), catalog or ItemCatalog())


def typed_session(
    sequences: EventSequences, steps: Sequence[tuple[str, str]], gap_s: float = DEFAULT_GAP_S
) -> tuple[EventSequences, list[str]]:
    """A one-user `EventSequences` over the dataset's vocabularies, plus the unknown tokens.

    Each item gets the category it was last seen with in the dataset (UNK when never seen).
    """
    items = np.array([sequences.item_vocab.id_of(str(i)) for i, _ in steps], dtype=np.int32)
    events = np.array([sequences.event_vocab.id_of(str(e)) for _, e in steps], dtype=np.int32)
    unknown = [str(i) for (i, _), idx in zip(steps, items, strict=True) if idx == UNK]
    unknown += [str(e) for (_, e), idx in zip(steps, events, strict=True) if idx == UNK]
    n = len(steps)
    session = EventSequences(
        user_ids=np.array(["what-if"]),
        offsets=np.array([0, n], dtype=np.int64),
        items=items,
        events=events,
        categories=_category_of_items(sequences)[items].astype(np.int32),
        timestamps=np.arange(n, dtype=np.int64) * int(gap_s * 1000),
        sessions=np.zeros(n, dtype=np.int64),
        item_vocab=sequences.item_vocab,
        event_vocab=sequences.event_vocab,
        category_vocab=sequences.category_vocab,
    )
    return session, unknown


def _category_of_items(sequences: EventSequences) -> np.ndarray:
    """(V,) category id per item id: the category of its last occurrence, UNK if never seen."""
    cached = getattr(sequences, "_item_category", None)
    if cached is None:
        cached = np.full(len(sequences.item_vocab), UNK, dtype=np.int64)
        cached[np.asarray(sequences.items)] = np.asarray(sequences.categories)
        sequences._item_category = cached  # derived data, cached on the (unchanging) object
    return cached


def _sample(probs: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator) -> int:
    """One id drawn from probs ** (1 / temperature), renormalised, among the top k."""
    p = np.asarray(probs, dtype=np.float64).copy()
    p[:NUM_RESERVED] = 0.0
    if top_k and top_k < np.count_nonzero(p):
        p[np.argsort(-p, kind="stable")[top_k:]] = 0.0
    logp = np.where(p > 0, np.log(np.maximum(p, 1e-300)) / temperature, -np.inf)
    w = np.exp(logp - logp.max())
    return int(rng.choice(len(w), p=w / w.sum()))


def _without_no_item(probs: np.ndarray, sequences: EventSequences) -> np.ndarray:
    """Item probabilities with the no-item token zeroed: a search is never a sampled item."""
    no_item = sequences.item_vocab.no_item_id
    if no_item is None:
        return probs
    out = np.array(probs, dtype=np.float64)
    out[no_item] = 0.0
    return out


def _labelled(actions: NextActions, catalog: ItemCatalog | None) -> NextActions:
    """The ranked items with a `label` column beside the `item` id."""
    actions.items = with_labels(actions.items, catalog or ItemCatalog())
    return actions


def _ranked(
    item_probs: np.ndarray,
    event_probs: np.ndarray,
    sequences: EventSequences,
    top_k: int,
    seen: set[int],
    unknown: list[str],
) -> NextActions:
    if top_k < 1:
        raise BehaviorLensError(f"top-k must be at least 1, got {top_k}")
    first = sequences.item_vocab.first_real_id  # after reserved ids and the no-item token
    real = np.asarray(item_probs[first : len(sequences.item_vocab)], dtype=np.float64)
    best = np.argsort(-real, kind="stable")[:top_k] + first
    items = pd.DataFrame(
        {
            "rank": np.arange(1, len(best) + 1),
            "item": [sequences.item_vocab.token_of(int(i)) for i in best],
            "prob": item_probs[best].astype(float),
            "seen": [int(i) in seen for i in best],
        }
    )
    order = np.argsort(-event_probs[NUM_RESERVED : len(sequences.event_vocab)], kind="stable")
    events = pd.DataFrame(
        {
            "event": [sequences.event_vocab.token_of(int(i) + NUM_RESERVED) for i in order],
            "prob": event_probs[order + NUM_RESERVED].astype(float),
        }
    )
    return NextActions(items, events, unknown)


def _user_index(sequences: EventSequences, user_id: str) -> int:
    try:
        return sequences.user_index(str(user_id))
    except KeyError:
        raise NotFoundError(f"no user {user_id!r} ({sequences.num_users} users)") from None
