"""Why did the model predict that? Three views of one sequence, for the CLI and the dashboard.

- Raw attention per layer and head (`output_attentions=True`): EXPLORATORY. A head's weights
  show where it looked, not what the prediction depends on (Jain & Wallace 2019).
- Attention rollout (Abnar & Zuidema 2020): attention flow through all layers and the residual
  stream; the row of the prediction position is a distribution over the input events.
- Integrated Gradients (Sundararajan et al. 2017) of the predicted next item's logit to each
  input event: faithful in the sense of completeness (attributions sum to f(x) - f(baseline)).

The sequence is the user's last `max_len` events (a causal model predicts from the last event's
state; a bidirectional one reads a MASK appended after them, as it was trained), or a session an
analyst typed in (what-if). Items keep their id and carry a readable label from the dataset's
item catalogue (the id itself when the dataset has none), for axes and tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch

from core.analysis.integrated_gradients import Attribution, Baseline, integrated_gradients
from core.analysis.rollout import attention_rollout
from core.data.items import ItemCatalog
from core.data.sequences import EventSequences
from core.data.vocab import MASK, NUM_RESERVED, UNK
from core.errors import BehaviorLensError, NotFoundError
from core.inference.loading import LoadedRun
from core.model.embeddings import gap_buckets
from core.model.transformer import BehaviorTransformer, EncoderInput
from core.training.windows import FlatInputs, gather

RAW_ATTENTION_NOTE = "exploratory: raw attention shows where a head looked, not why"


@dataclass
class EventLabel:
    """One input position, described for people (the dashboard's axis and hover text)."""

    position: int  # index in the explained window, 0 = oldest
    item: str  # item id as in the source file ("[MASK]" for the prediction slot)
    event: str  # event type
    category: str | None  # category, None when the data has none
    timestamp: str | None  # ISO 8601 UTC, None for typed-in events and the prediction slot
    row: int | None = None  # row in EventSequences, None when not from the dataset
    label: str | None = None  # readable item label (the id when the item table has none)


@dataclass
class Explanation:
    """Everything the explain views draw for one sequence and one predicted item."""

    events: list[EventLabel]  # (T,) the input positions
    position: int  # where the prediction is read (last event, or the appended MASK)
    target_item: str  # the item whose score is explained
    target_prob: float  # its softmax probability at `position`
    top_items: list[dict[str, Any]]  # the model's top next items {"item", "label", "prob"}
    attention: np.ndarray  # (L, H, T, T) raw attention weights, exploratory
    rollout: np.ndarray  # (T, T) attention rollout, rows sum to 1
    attribution: Attribution  # Integrated Gradients per input event
    user: str | None = None  # user id, None for a typed-in session
    notes: dict[str, str] = field(default_factory=lambda: {"attention": RAW_ATTENTION_NOTE})
    target_label: str | None = None  # readable label of `target_item`

    def top_events(self, k: int = 5) -> list[dict[str, Any]]:
        """The k events with the largest |IG attribution|, with their rollout share."""
        scores = self.attribution.per_event
        order = np.argsort(-np.abs(scores), kind="stable")[:k]
        row = self.rollout[self.position]
        return [
            {  # the item's label right after its id, then the rest of the event
                "position": self.events[i].position,
                "item": self.events[i].item,
                "label": self.events[i].label,
                **vars(self.events[i]),
                "attribution": round(float(scores[i]), 6),
                "rollout": round(float(row[i]), 6),
            }
            for i in order
        ]

    def summary(self, k: int = 5) -> dict[str, Any]:
        """The CLI's last-line JSON: target, IG completeness, top events, rollout of `position`."""
        a = self.attribution
        return {
            "user": self.user,
            "events": len(self.events),
            "target": self.target_item,
            "target_label": self.target_label,
            "target_prob": round(self.target_prob, 6),
            "score": round(a.score, 6),
            "baseline_score": round(a.baseline_score, 6),
            "ig_delta": round(a.delta, 6),
            "steps": a.steps,
            "top_events": self.top_events(k),
            "rollout_last": [round(float(v), 6) for v in self.rollout[self.position]],
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-able (for --out and the dashboard)."""
        return {
            **self.summary(k=len(self.events)),
            "position": self.position,
            "labels": [vars(e) for e in self.events],
            "top_items": self.top_items,
            "attention": np.round(self.attention, 6).tolist(),
            "rollout": np.round(self.rollout, 6).tolist(),
            "attribution": [round(float(v), 6) for v in self.attribution.per_event],
            "baseline": self.attribution.baseline,
            "notes": self.notes,
        }


def explain_user(
    loaded: LoadedRun,
    sequences: EventSequences,
    user_id: str,
    target: str | None = None,
    steps: int = 32,
    baseline: Baseline = "pad",
    catalog: ItemCatalog | None = None,
) -> Explanation:
    """Explains the run's next-item prediction after the user's latest event."""
    loaded.check_vocab(sequences)
    try:
        u = sequences.user_index(user_id)
    except KeyError:
        raise NotFoundError(
            f"no user {user_id!r} in dataset {loaded.dataset!r} ({sequences.num_users} users)"
        ) from None
    model = loaded.model
    keep = model.config.max_len - (0 if model.causal else 1)
    end = int(sequences.offsets[u + 1])
    start = max(int(sequences.offsets[u]), end - keep)
    flat = FlatInputs.from_sequences(sequences, model.config.gap_buckets)
    batch = gather(flat, np.asarray([start]), np.asarray([end - start]))
    labels = [_dataset_label(sequences, r, r - start) for r in range(start, end)]
    result = explain_batch(model, batch, labels, sequences, target, steps, baseline, catalog)
    result.user = str(user_id)
    return result


def explain_events(
    loaded: LoadedRun,
    sequences: EventSequences,
    items: Sequence[str],
    events: Sequence[str] | None = None,
    timestamps_ms: Sequence[int] | None = None,
    target: str | None = None,
    steps: int = 32,
    baseline: Baseline = "pad",
    catalog: ItemCatalog | None = None,
) -> Explanation:
    """Explains the prediction after a typed-in session (what-if); `sequences` gives the vocabs.

    Without `events`, every event is the log's most frequent event type; without timestamps,
    time gaps are "unknown". Categories are not typed in (the model reads them as unknown).
    """
    loaded.check_vocab(sequences)
    model = loaded.model
    limit = model.config.max_len - (0 if model.causal else 1)
    if not 1 <= len(items) <= limit:
        raise BehaviorLensError(f"type 1 to {limit} events, got {len(items)}")
    item_ids = _ids(sequences.item_vocab, items, "item")
    event_ids = _typed_events(sequences, events, len(items))
    gaps = np.zeros(len(items), dtype=np.int64)
    if timestamps_ms is not None:
        gaps = gap_buckets(
            np.asarray(timestamps_ms), np.array([0, len(items)]), model.config.gap_buckets
        )
    cats = (
        torch.full((1, len(items)), UNK, dtype=torch.int64)
        if model.config.num_categories > 0
        else None
    )
    batch = EncoderInput(
        torch.tensor([item_ids]), torch.tensor([event_ids]), cats, torch.from_numpy(gaps)[None]
    )
    labels = [
        EventLabel(i, items[i], sequences.event_vocab.token_of(event_ids[i]), None, None)
        for i in range(len(items))
    ]
    return explain_batch(model, batch, labels, sequences, target, steps, baseline, catalog)


def explain_batch(
    model: BehaviorTransformer,
    batch: EncoderInput,
    labels: list[EventLabel],
    sequences: EventSequences,
    target: str | None,
    steps: int,
    baseline: Baseline,
    catalog: ItemCatalog | None = None,
) -> Explanation:
    """The three views for a (1, T) batch of real events (a MASK is appended when bidirectional).

    `catalog` labels the input events and the predicted items (ids only when None).
    """
    catalog = catalog or ItemCatalog()
    if not model.causal:
        batch = _append_mask(batch)
        labels = [*labels, EventLabel(len(labels), "[MASK]", "[MASK]", None, None)]
    device = next(model.parameters()).device
    batch = batch.to(device)
    position = len(labels) - 1
    attention, probs = _attention_and_probs(model, batch, position)
    target_id = _target_id(sequences, probs, target)
    attribution = integrated_gradients(model, batch, position, target_id, steps, baseline)
    target_item = sequences.item_vocab.token_of(target_id)
    for event, label in zip(labels, catalog.labels(e.item for e in labels), strict=True):
        event.label = label
    return Explanation(
        events=labels,
        position=position,
        target_item=target_item,
        target_label=catalog.label(target_item),
        target_prob=float(probs[target_id]),
        top_items=_top_items(sequences, probs, 10, catalog),
        attention=attention,
        rollout=attention_rollout(list(attention)),
        attribution=attribution,
    )


def _attention_and_probs(
    model: BehaviorTransformer, batch: EncoderInput, position: int
) -> tuple[np.ndarray, np.ndarray]:
    """Raw attention (L, H, T, T) and next-item probabilities (V,) from one forward pass."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = model(batch, output_attentions=True)
            probs = model.item_head.predict(out.hidden[:, position])[0]  # (V,)
    finally:
        model.train(was_training)
    attention = np.stack([a[0].float().cpu().numpy() for a in out.attentions])  # (L, H, T, T)
    return attention, probs.float().cpu().numpy()


def _target_id(sequences: EventSequences, probs: np.ndarray, target: str | None) -> int:
    if target is None:  # the most likely real item: never a reserved id or the no-item token
        first = sequences.item_vocab.first_real_id
        return int(np.argmax(probs[first : len(sequences.item_vocab)])) + first
    return _ids(sequences.item_vocab, [target], "target item")[0]


def _top_items(
    sequences: EventSequences, probs: np.ndarray, k: int, catalog: ItemCatalog
) -> list[dict[str, Any]]:
    first = sequences.item_vocab.first_real_id
    order = np.argsort(-probs[first : len(sequences.item_vocab)], kind="stable")[:k] + first
    ids = [sequences.item_vocab.token_of(int(i)) for i in order]
    return [
        {"item": item, "label": label, "prob": round(float(probs[i]), 6)}
        for item, label, i in zip(ids, catalog.labels(ids), order, strict=True)
    ]


def _ids(vocab: Any, tokens: Sequence[str], what: str) -> list[int]:
    ids = vocab.ids_of([str(t) for t in tokens])
    unknown = [str(t) for t, i in zip(tokens, ids, strict=True) if i < NUM_RESERVED]
    if unknown:
        raise NotFoundError(
            f"unknown {what} {', '.join(repr(t) for t in unknown[:5])}: not in "
            f"the run's vocabulary ({len(vocab) - NUM_RESERVED} known)"
        )
    return ids


def _typed_events(sequences: EventSequences, events: Sequence[str] | None, n: int) -> list[int]:
    if events is None:
        counts = np.asarray(sequences.event_vocab.counts[NUM_RESERVED:])
        return [int(np.argmax(counts)) + NUM_RESERVED] * n
    if len(events) != n:
        raise BehaviorLensError(f"{n} items but {len(events)} event types; give one per item")
    return _ids(sequences.event_vocab, events, "event type")


def _dataset_label(sequences: EventSequences, row: int, position: int) -> EventLabel:
    category = int(sequences.categories[row])
    ts = int(sequences.timestamps[row])
    return EventLabel(
        position=position,
        item=sequences.item_vocab.token_of(int(sequences.items[row])),
        event=sequences.event_vocab.token_of(int(sequences.events[row])),
        category=sequences.category_vocab.token_of(category) if category >= NUM_RESERVED else None,
        timestamp=datetime.fromtimestamp(ts / 1000.0, UTC).isoformat(),
        row=row,
    )


def _append_mask(batch: EncoderInput) -> EncoderInput:
    """A MASK event after the last one, where a bidirectional model reads its prediction."""

    def extend(t: torch.Tensor | None, value: int) -> torch.Tensor | None:
        if t is None:
            return None
        return torch.cat([t, torch.full_like(t[:, :1], value)], dim=1)  # (1, T + 1)

    return EncoderInput(
        extend(batch.items, MASK),
        extend(batch.events, MASK),
        extend(batch.categories, MASK),
        extend(batch.gaps, 0),
    )
