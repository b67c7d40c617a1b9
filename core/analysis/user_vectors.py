"""What the model knows about each user, as blocks of numbers that segments can cluster.

Measured on sample_data (5 planted intents, `bench/segments.py`, k-means with k = 6):
- the mean-pooled encoder state alone reaches ARI ~0.25 against the intents: every intent shops
  the whole catalogue, so the state mostly says *what* a user looks at;
- the model's **predicted behaviour** (the next-event-type distribution the event head predicts
  at every position, averaged per session, then per user) reaches ~0.7 on its own: it is the
  model's reading of *how* a user shops, learned from the order of events, not hand-made;
- **preferences** (the mean of the trained item embeddings of the items a user touched) carry
  the items, categories and co-occurrence the model learned; on a log with only items and order
  they are what tells users apart.

`model_blocks` returns the blocks the log supports: predicted behaviour only with two or more
event types, preferences only with real items. `core.analysis.segments` weighs them against
the behaviour features so that no single block dominates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import sparse

from core.analysis.embeddings import _encode_batches, pooled_embeddings, units_of
from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED
from core.model.transformer import BehaviorTransformer
from core.progress import ProgressCallback
from core.training.windows import FlatInputs

SESSION_PASSES = 200_000  # sessions read one forward each; past this, from the user windows


@dataclass
class ModelBlocks:
    """Per-user blocks (rows = user index); None where the log cannot support the block."""

    state: np.ndarray  # (U, D) mean-pooled encoder state over the user's last max_len events
    behaviour: np.ndarray | None  # (U, E) predicted next-event-type shares (>= 2 event types)
    preference: np.ndarray | None  # (U, D) mean item embedding of the user's real items


def real_event_types(sequences: EventSequences) -> int:
    """How many event types the log really has (reserved ids excluded)."""
    return int(len(np.unique(sequences.events[sequences.events >= NUM_RESERVED])))


def model_blocks(
    model: BehaviorTransformer,
    sequences: EventSequences,
    on_progress: ProgressCallback | None = None,
) -> ModelBlocks:
    """The model-side blocks of every user (users without events get zeros).

    Predicted behaviour is read per session (one forward per session) while the log has at
    most `SESSION_PASSES` sessions; past that (a 10M-event log has over a million) it is read
    from the same forward over each user's latest window that gives the state, averaged per
    session inside the window and then per user: one pass instead of two, bounded by users.
    """
    has_mix = real_event_types(sequences) >= 2
    many_sessions = len(np.unique(sequences.sessions)) > SESSION_PASSES
    if has_mix and many_sessions:
        state, behaviour = _window_blocks(model, sequences, on_progress)
        return ModelBlocks(state, behaviour, item_preferences(model, sequences))
    units = units_of(sequences, "user", model.config.max_len)
    state = np.zeros((sequences.num_users, model.config.dim), dtype=np.float32)
    state[units.user] = pooled_embeddings(model, sequences, units, on_progress=on_progress)
    behaviour = predicted_behaviour(model, sequences) if has_mix else None
    return ModelBlocks(state, behaviour, item_preferences(model, sequences))


def _window_blocks(
    model: BehaviorTransformer,
    sequences: EventSequences,
    on_progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(U, D) mean state and (U, E - reserved) predicted behaviour from one forward per user
    over the latest max_len events: behaviour averaged per session, then per user."""
    units = units_of(sequences, "user", model.config.max_len)
    flat = FlatInputs.from_sequences(sequences, model.config.gap_buckets)
    state = np.zeros((sequences.num_users, model.config.dim), dtype=np.float32)
    behaviour = np.zeros((sequences.num_users, model.config.num_events), dtype=np.float32)
    sessions = np.asarray(sequences.sessions, dtype=np.int64)
    lengths = units.end - units.start
    with torch.inference_mode():
        for idx, enc, _ in _encode_batches(model, flat, units.start, lengths, 256, on_progress):
            state[units.user[idx]] = enc.mean().float().cpu().numpy()
            probs = model.event_head.predict(enc.hidden[enc.valid]).float().cpu().numpy()
            valid = enc.valid.cpu().numpy()  # (B, T) rows are the window's events in order
            window, position = np.nonzero(valid)  # (n,) row-major: window by window
            rows = units.start[idx][window] + position  # (n,) flat event rows
            behaviour[units.user[idx]] = _per_session_then_window(
                probs, sessions[rows], window, len(idx)
            )
    return state, behaviour[:, NUM_RESERVED:]


def _per_session_then_window(
    probs: np.ndarray, session: np.ndarray, window: np.ndarray, windows: int
) -> np.ndarray:
    """(windows, E) mean over each window's sessions of the mean over each session's events."""
    new = np.r_[True, (session[1:] != session[:-1]) | (window[1:] != window[:-1])]
    group = np.cumsum(new) - 1  # (n,) session-in-window ordinal
    size = np.bincount(group).astype(np.float64)  # (G,)
    per_session = np.stack(
        [np.bincount(group, weights=probs[:, e]) / size for e in range(probs.shape[1])], 1
    )  # (G, E)
    owner = window[new]  # (G,)
    count = np.bincount(owner, minlength=windows).astype(np.float64)
    sums = np.stack(
        [
            np.bincount(owner, weights=per_session[:, e], minlength=windows)
            for e in range(probs.shape[1])
        ],
        1,
    )  # (windows, E)
    return (sums / np.maximum(count, 1.0)[:, None]).astype(np.float32)


def predicted_behaviour(model: BehaviorTransformer, sequences: EventSequences) -> np.ndarray:
    """(U, E - reserved) mean predicted next-event-type distribution: per session, then user.

    Averaging per session first gives a user with one long session and one with many short
    ones the same say per visit, which is how intents differ (a visit is one intention).
    """
    per_session = session_behaviour(model, sequences)  # (S, E - reserved)
    sessions = np.asarray(sequences.sessions, dtype=np.int64)
    firsts = np.flatnonzero(np.r_[True, sessions[1:] != sessions[:-1]])  # (S,)
    owner = np.searchsorted(sequences.offsets, firsts, side="right") - 1  # (S,)
    users = pd.DataFrame(per_session).groupby(owner).mean()
    out = np.zeros((sequences.num_users, per_session.shape[1]), dtype=np.float32)
    out[users.index.to_numpy()] = users.to_numpy()
    return out


def session_behaviour(model: BehaviorTransformer, sequences: EventSequences) -> np.ndarray:
    """(S, E - reserved) the mean predicted next-event-type distribution within each session
    (sessions in data order), over its last max_len events."""
    units = units_of(sequences, "session", model.config.max_len)
    flat = FlatInputs.from_sequences(sequences, model.config.gap_buckets)
    per_session = np.zeros((len(units.start), model.config.num_events), dtype=np.float32)
    with torch.inference_mode():
        for idx, enc, _ in _encode_batches(
            model, flat, units.start, units.end - units.start, 256, None
        ):
            B, T, D = enc.hidden.shape
            probs = model.event_head.predict(enc.hidden.reshape(B * T, D)).reshape(B, T, -1)
            weight = enc.valid.unsqueeze(-1).to(probs.dtype)  # (B, T, 1)
            mean = (probs * weight).sum(1) / weight.sum(1).clamp(min=1.0)  # (B, E)
            per_session[idx] = mean.float().cpu().numpy()
    return per_session[:, NUM_RESERVED:]


def item_preferences(model: BehaviorTransformer, sequences: EventSequences) -> np.ndarray | None:
    """(U, D) mean trained item embedding over each user's real items (None: no real items).

    The tied item embedding is what the model learned about items from co-occurrence: users
    near each other here like the same kind of items, whatever they are called.
    """
    items = np.asarray(sequences.items, dtype=np.int64)
    real = items >= sequences.item_vocab.first_real_id
    if not real.any():
        return None
    weight = model.embed.item.weight.detach().float().cpu().numpy()  # (V, D)
    owner = np.repeat(np.arange(sequences.num_users), np.diff(sequences.offsets))[real]
    shape = (sequences.num_users, weight.shape[0])
    touched = sparse.csr_matrix((np.ones(len(owner), np.float32), (owner, items[real])), shape)
    sums = touched @ weight  # (U, D): one sparse product, memory grows with users, not events
    counts = np.asarray(touched.sum(axis=1))  # (U, 1)
    return (sums / np.maximum(counts, 1)).astype(np.float32)
