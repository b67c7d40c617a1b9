"""Model-side views of users and sessions: pooled encoder states and per-event surprise.

Segments need one vector per user (or session) and anomalies need how unexpected each observed
event was under the model. `LoadedRun.encode` only reads each user's last `max_len` events, so
this module cuts its own windows (whole sessions, or overlapping chunks of long users) from the
flat CSR arrays and runs the model's public forward on them, batched under
`torch.inference_mode`. Both pieces belong in `core.model`/`core.inference.scoring` eventually;
they only rely on `BehaviorTransformer.forward`, its heads and `core.training.windows`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from core.analysis.item_surprise import ItemSurprise
from core.data.sequences import EventSequences
from core.data.vocab import MASK
from core.model.transformer import BehaviorTransformer, EncoderInput, EncoderOutput
from core.progress import ProgressCallback, ProgressEvent, ignore_progress
from core.training.distributed import DistContext, gather_to_main, shard_users
from core.training.windows import FlatInputs, gather

SURPRISE_EVENTS = 2_000_000  # logs up to this size get every event scored for surprise
Level = Literal["user", "session"]
Pooling = Literal["mean", "last", "model"]


@dataclass
class Units:
    """The users or sessions being described, one row each, as windows of event rows."""

    level: Level  # "user" or "session"
    user: np.ndarray  # (n,) int64 user index of each unit
    session: np.ndarray  # (n,) int64 global session index (-1 at user level)
    start: np.ndarray  # (n,) int64 first event row read by the model
    end: np.ndarray  # (n,) int64 one past the last event row of the unit


def units_of(sequences: EventSequences, level: Level, max_len: int) -> Units:
    """One window per user or per session: its last `max_len` events (what the model can read)."""
    offsets = np.asarray(sequences.offsets, dtype=np.int64)
    if level == "user":
        users = np.flatnonzero(np.diff(offsets) > 0)
        ends = offsets[users + 1]
        sessions = np.full(len(users), -1, dtype=np.int64)
        firsts = offsets[users]
    elif level == "session":
        sess = np.asarray(sequences.sessions, dtype=np.int64)
        firsts = np.flatnonzero(np.r_[True, sess[1:] != sess[:-1]])  # (S,) first row of a session
        ends = np.r_[firsts[1:], len(sess)].astype(np.int64)
        users = np.searchsorted(offsets, firsts, side="right") - 1
        sessions = sess[firsts]
    else:
        raise ValueError(f"level must be 'user' or 'session', got {level!r}")
    starts = np.maximum(firsts, ends - max_len)
    return Units(level, users.astype(np.int64), sessions, starts.astype(np.int64), ends)


def pooled_embeddings(
    model: BehaviorTransformer,
    sequences: EventSequences,
    units: Units,
    pooling: Pooling = "mean",
    batch_size: int = 256,
    on_progress: ProgressCallback | None = None,
) -> np.ndarray:
    """(n, D) float32, one vector per unit.

    "mean" averages the states of every event (the whole window speaks, which suits segments);
    "last" takes the last event's state (what drives next-item prediction); "model" uses the
    model's own choice (`BehaviorTransformer.pooled`: last for causal, mean for masked).
    """
    flat = FlatInputs.from_sequences(sequences, model.config.gap_buckets)
    out = np.zeros((len(units.start), model.config.dim), dtype=np.float32)
    lengths = units.end - units.start
    for idx, enc, _ in _encode_batches(model, flat, units.start, lengths, batch_size, on_progress):
        out[idx] = _pool(model, enc, pooling).float().cpu().numpy()
    return out


def _pool(model: BehaviorTransformer, enc: EncoderOutput, pooling: Pooling) -> torch.Tensor:
    if pooling == "mean":
        return enc.mean()  # (b, D)
    if pooling == "last":
        return enc.last()  # (b, D)
    if pooling == "model":
        return model.pooled(enc)  # (b, D)
    raise ValueError(f"pooling must be 'mean', 'last' or 'model', got {pooling!r}")


def event_surprise(
    model: BehaviorTransformer,
    sequences: EventSequences,
    batch_size: int = 256,
    mask_passes: int = 5,
    on_progress: ProgressCallback | None = None,
    max_events: int = SURPRISE_EVENTS,
    context: DistContext | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-event negative log-likelihood (nats) of the observed item and event type, each (N,).

    Causal models score event t from events before it; the first event of a user has no
    context and gets NaN. Masked models hide every `mask_passes`-th event per pass, so after
    `mask_passes` forwards each event was predicted once from both sides (a cheap leave-one-out
    pseudo-likelihood). Users longer than `max_len` are read in half-overlapping windows, each
    event scored with at least half a window of context. A log of more than `max_events` events
    is scored on each user's latest `max_len` events only (older events get NaN), so the cost
    grows with users, not with the log; the item term is estimated on large catalogues
    (`ItemSurprise`). Under torchrun (`context`) each rank reads a contiguous share of the
    windows and rank 0 gathers every rank's scored rows; other ranks get None.
    """
    context = context or DistContext()
    flat = FlatInputs.from_sequences(sequences, model.config.gap_buckets)
    if len(flat.items) > max_events:
        starts, lengths, score_from = _latest_windows(flat.offsets, model.config.max_len)
    else:
        starts, lengths, score_from = _scoring_windows(flat.offsets, model.config.max_len)
    mine = shard_users(np.arange(len(starts)), context, block=batch_size)  # window indices
    starts, lengths, score_from = starts[mine], lengths[mine], score_from[mine]
    counts = np.bincount(flat.items, minlength=len(sequences.item_vocab))
    item_surprise = ItemSurprise(model, counts)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    passes = range(1) if model.causal else range(mask_passes)
    for p in passes:
        modulus = None if model.causal else (p, mask_passes)
        batches = _encode_batches(model, flat, starts, lengths, batch_size, on_progress, modulus)
        for idx, enc, batch in batches:
            parts.append(
                _window_nll(
                    model, item_surprise, enc, batch, flat, starts[idx], score_from[idx], modulus
                )
            )
    shares = gather_to_main(_concatenated(parts), context)
    if shares is None:
        return None
    item_nll = np.full(len(flat.items), np.nan, dtype=np.float32)
    event_nll = np.full(len(flat.items), np.nan, dtype=np.float32)
    for rows, item_v, event_v in shares:
        item_nll[rows], event_nll[rows] = item_v, event_v
    return item_nll, event_nll


def _concatenated(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, item NLL, event NLL) of every scored window of this process, in one piece."""
    if not parts:
        empty = np.zeros(0, dtype=np.float32)
        return np.zeros(0, dtype=np.int64), empty, empty
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))  # type: ignore[return-value]


def _latest_windows(offsets: np.ndarray, max_len: int) -> tuple[np.ndarray, ...]:
    """One window per user: the latest `max_len` events, all scored."""
    offsets = np.asarray(offsets, dtype=np.int64)
    users = np.flatnonzero(np.diff(offsets) > 0)
    ends = offsets[users + 1]
    starts = np.maximum(offsets[users], ends - max_len)
    return starts, ends - starts, np.zeros(len(users), dtype=np.int64)


def _scoring_windows(offsets: np.ndarray, max_len: int) -> tuple[np.ndarray, ...]:
    """Windows of `max_len` events, stride max_len // 2; each scores only its fresh events."""
    stride = max(1, max_len // 2)
    starts, lengths, score_from = [], [], []
    for u in range(len(offsets) - 1):
        first, end = int(offsets[u]), int(offsets[u + 1])
        s = first
        while s < end:
            starts.append(s)
            lengths.append(min(max_len, end - s))
            score_from.append(0 if s == first else max_len - stride)
            if s + max_len >= end:
                break
            s += stride
    as_int = [np.asarray(a, dtype=np.int64) for a in (starts, lengths, score_from)]
    return as_int[0], as_int[1], as_int[2]


def _window_nll(
    model: BehaviorTransformer,
    item_surprise: ItemSurprise,
    enc: EncoderOutput,
    batch: EncoderInput,
    flat: FlatInputs,
    starts: np.ndarray,
    score_from: np.ndarray,
    modulus: tuple[int, int] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat row ids and NLLs of the events this window scores (predicted ones only)."""
    B, T = batch.items.shape
    cols = torch.arange(T, device=enc.hidden.device)  # (T,)
    items = torch.from_numpy(flat.items)  # targets read from the flat arrays, not the MASKed batch
    rows = torch.from_numpy(starts)[:, None] + cols.cpu()[None, :]  # (B, T) flat row per position
    if modulus is None:  # causal: the state at t-1 predicts event t
        target_pos = cols[1:]  # (T - 1,)
        hidden = enc.hidden[:, :-1]  # (B, T - 1, D)
        keep = enc.valid[:, 1:]  # (B, T - 1)
    else:  # masked: the state at a MASK predicts the event hidden there
        target_pos = cols
        hidden = enc.hidden  # (B, T, D)
        keep = batch.items == MASK  # (B, T)
    keep = keep & (target_pos[None, :] >= torch.from_numpy(score_from).to(keep.device)[:, None])
    sel_rows = rows[:, target_pos.cpu()][keep.cpu()]  # (n,)
    h = hidden[keep]  # (n, D)
    event_logp = F.log_softmax(model.event_head(h).float(), dim=-1)  # (n, E)
    item_t = items[sel_rows].to(h.device).long()  # (n,)
    event_t = torch.from_numpy(flat.events)[sel_rows].to(h.device).long()  # (n,)
    item_nll = item_surprise.nll(h, item_t)  # (n,)
    event_nll = -event_logp.gather(1, event_t[:, None]).squeeze(1)  # (n,)
    return sel_rows.numpy(), _finite(item_nll), _finite(event_nll)


def _finite(nll: torch.Tensor) -> np.ndarray:
    """Targets the head never predicts (UNK, reserved) get -log p = inf: report them as NaN."""
    out = nll.cpu().numpy()
    out[~np.isfinite(out)] = np.nan
    return out


def _encode_batches(
    model: BehaviorTransformer,
    flat: FlatInputs,
    starts: np.ndarray,
    lengths: np.ndarray,
    batch_size: int,
    on_progress: ProgressCallback | None,
    modulus: tuple[int, int] | None = None,
) -> Iterator[tuple[np.ndarray, EncoderOutput, EncoderInput]]:
    """Runs the encoder over length-sorted batches; yields (indices, output, input batch).

    With `modulus=(p, m)` positions t with t % m == p are replaced by MASK (masked scoring), and
    the input batch is yielded too so callers know what was hidden.
    """
    progress = on_progress or ignore_progress
    device = next(model.parameters()).device
    order = np.argsort(lengths, kind="stable")
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                batch = gather(flat, starts[idx], np.maximum(lengths[idx], 1))
                if modulus is not None:
                    batch = _mask_every(batch, *modulus)
                enc = model(batch.to(device))
                progress(ProgressEvent("encode", min(i + batch_size, len(order)), len(order)))
                yield idx, enc, batch
    finally:
        model.train(was_training)


def _mask_every(batch: EncoderInput, phase: int, every: int) -> EncoderInput:
    """MASK the real events at positions t % every == phase (item, event and category ids)."""
    T = batch.items.shape[1]
    hide = (torch.arange(T) % every == phase)[None, :] & batch.valid  # (B, T)
    items = batch.items.masked_fill(hide, MASK)  # (B, T)
    events = batch.events.masked_fill(hide, MASK)  # (B, T)
    cats = batch.categories.masked_fill(hide, MASK) if batch.categories is not None else None
    return EncoderInput(items, events, cats, batch.gaps)
