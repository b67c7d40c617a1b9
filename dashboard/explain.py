"""Attention of a trained model over one user's timeline, for the Attention page.

Raw attention comes straight from the model (`output_attentions=True`, the explicit path).
Rollout (Abnar & Zuidema 2020) multiplies the layers' head-averaged attention, each mixed with
the identity for the residual stream, to estimate how much each input event reaches each
position. When core's explanation module (issue #4) lands, its rollout and Integrated Gradients
take over; until then this module is the dashboard's view of the model's own weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch


@dataclass
class AttentionView:
    """Everything the Attention page draws for one window of one user's events."""

    labels: list[str]  # short axis label per event, e.g. "view · 2622"
    hover: list[str]  # full detail per event: time, event, item, category, session
    weights: np.ndarray  # (L, H, T, T) attention per layer and head
    rollout: np.ndarray  # (T, T) rollout; row t = how much each event reaches position t
    sessions: np.ndarray  # (T,) global session index per event


def user_sessions(sequences: Any, user: int) -> list[int]:
    """The user's session indices, in time order."""
    rows = slice(int(sequences.offsets[user]), int(sequences.offsets[user + 1]))
    return list(dict.fromkeys(int(s) for s in sequences.sessions[rows]))


def window_rows(sequences: Any, user: int, session: int, max_len: int) -> tuple[int, int]:
    """Rows [start, end) of the history up to the end of `session`, at most `max_len` long."""
    start = int(sequences.offsets[user])
    sessions = sequences.sessions[start : int(sequences.offsets[user + 1])]
    end = start + int(np.flatnonzero(sessions == session)[-1]) + 1
    return max(start, end - max_len), end


def attention_view(loaded: Any, sequences: Any, user: int, session: int) -> AttentionView:
    """Run the model once on the window ending with `session` and collect its attention."""
    from core.training.windows import FlatInputs, gather

    config = loaded.model_config
    start, end = window_rows(sequences, user, session, config.max_len)
    flat = FlatInputs.from_sequences(sequences, config.gap_buckets)
    batch = gather(flat, np.asarray([start]), np.asarray([end - start]))
    device = next(loaded.model.parameters()).device
    with torch.inference_mode():
        output = loaded.model(batch.to(device), output_attentions=True)
    weights = np.stack([a[0].float().cpu().numpy() for a in output.attentions])  # (L, H, T, T)
    rows = np.arange(start, end)
    return AttentionView(
        labels=[_label(sequences, r) for r in rows],
        hover=[_hover(sequences, r) for r in rows],
        weights=weights,
        rollout=rollout(weights),
        sessions=np.asarray(sequences.sessions[rows]),
    )


def rollout(weights: np.ndarray) -> np.ndarray:
    """(T, T) attention rollout from (L, H, T, T) weights; every row sums to 1."""
    size = weights.shape[-1]
    result = np.eye(size)
    for layer in weights:
        mixed = 0.5 * layer.mean(axis=0) + 0.5 * np.eye(size)  # (T, T) residual-aware
        mixed /= mixed.sum(axis=-1, keepdims=True)
        result = mixed @ result
    return result


def _label(sequences: Any, row: int) -> str:
    event = sequences.event_vocab.token_of(int(sequences.events[row]))
    return f"{event} · {sequences.item_vocab.token_of(int(sequences.items[row]))}"


def _hover(sequences: Any, row: int) -> str:
    when = datetime.fromtimestamp(int(sequences.timestamps[row]) / 1000, tz=UTC)
    category = sequences.category_vocab.token_of(int(sequences.categories[row]))
    return (
        f"{when:%Y-%m-%d %H:%M:%S} UTC<br>{_label(sequences, row)}"
        f"<br>category {category} · session {int(sequences.sessions[row])}"
    )
