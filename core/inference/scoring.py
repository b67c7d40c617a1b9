"""Inference over histories: next-item scores (the evaluation's NextItemScorer protocol),
next-event probabilities, and per-user embeddings, all batched under `torch.inference_mode`.

A history is rows `offsets[u]:cutoff` of `EventSequences`. The causal model reads the state at
the last event; the masked model appends a MASK and reads the state there, as it was trained.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from core.data.sequences import EventSequences
from core.data.vocab import MASK
from core.model.transformer import BehaviorTransformer, EncoderInput, EncoderOutput
from core.training.distributed import DistContext
from core.training.windows import FlatInputs, gather

TOPK_ROWS = 128  # states scored per top-k block: (128, V) logits stay near cache size


@dataclass
class NextPrediction:
    """What comes next, per queried history."""

    item_scores: np.ndarray  # (n, V) float32 probabilities over items (0 on reserved ids)
    event_probs: np.ndarray  # (n, E) float32 probabilities over event types


@dataclass
class Encoding:
    """Per-user representations for segmentation, anomalies and explanations."""

    pooled: np.ndarray  # (n, D) float32, one vector per history
    states: np.ndarray  # (n, T, D) float32 per-position states, zero after each history's end
    lengths: np.ndarray  # (n,) int64 events encoded per history (after truncation to max_len)


class ModelScorer:
    """Wraps a model so evaluation, prediction and encoding share one batched input path."""

    def __init__(self, model: BehaviorTransformer, batch_size: int = 512) -> None:
        self.model = model
        self.batch_size = batch_size  # histories per forward pass
        self._cache: tuple[EventSequences, FlatInputs] | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def score_histories(
        self, sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray
    ) -> np.ndarray:
        """(n, V) float32 scores (logits; -inf on reserved ids) for the item after each history."""
        out = np.empty((len(users), len(sequences.item_vocab)), dtype=np.float32)
        for idx, hidden in self.query_states(sequences, users, cutoffs):
            out[idx] = self.model.item_head(hidden).float().cpu().numpy()
        return out

    def top_k(
        self, sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray, k: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, k) best item ids and their logits after each history, best first.

        Unlike `score_histories` the (n, V) scores never leave torch: each block of states is
        projected and reduced to its top k at once, so scoring every user stays cache-sized.
        """
        ids = np.empty((len(users), k), dtype=np.int64)
        scores = np.empty((len(users), k), dtype=np.float32)
        for idx, hidden in self.query_states(sequences, users, cutoffs):
            for s in range(0, len(idx), TOPK_ROWS):
                logits = self.model.item_head(hidden[s : s + TOPK_ROWS])  # (r, V)
                best = torch.topk(logits, k, dim=1)  # (r, k)
                ids[idx[s : s + TOPK_ROWS]] = best.indices.cpu().numpy()
                scores[idx[s : s + TOPK_ROWS]] = best.values.float().cpu().numpy()
        return ids, scores

    def predict_next(
        self, sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray
    ) -> NextPrediction:
        """Probabilities of the next item and the next event type after each history."""
        items = np.empty((len(users), len(sequences.item_vocab)), dtype=np.float32)
        events = np.empty((len(users), self.model.config.num_events), dtype=np.float32)
        for idx, hidden in self.query_states(sequences, users, cutoffs):
            items[idx] = self.model.item_head.predict(hidden).float().cpu().numpy()
            events[idx] = self.model.event_head.predict(hidden).float().cpu().numpy()
        return NextPrediction(items, events)

    def encode(
        self, sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray | None = None
    ) -> Encoding:
        """Pooled and per-position states of each history (whole sequence when cutoffs is None)."""
        users = np.asarray(users, dtype=np.int64)
        if cutoffs is None:
            cutoffs = np.asarray(sequences.offsets, dtype=np.int64)[users + 1]
        D, T = self.model.config.dim, self.model.config.max_len
        pooled = np.zeros((len(users), D), dtype=np.float32)
        states = np.zeros((len(users), T, D), dtype=np.float32)
        lengths = np.zeros(len(users), dtype=np.int64)
        for idx, out in self._encoded(sequences, users, cutoffs, self.model.config.max_len, False):
            pooled[idx] = self.model.pooled(out).float().cpu().numpy()
            h = (out.hidden * out.valid.unsqueeze(-1)).float().cpu().numpy()  # (b, t, D)
            states[idx, : h.shape[1]] = h
            lengths[idx] = out.valid.sum(1).cpu().numpy()
        return Encoding(pooled, states, lengths)

    def query_states(
        self,
        sequences: EventSequences,
        users: np.ndarray,
        cutoffs: np.ndarray,
        context: DistContext | None = None,
    ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Yields (positions in `users`, (b, D) state that predicts the next event).

        With a torchrun `context`, only this rank's forward batches (every world-th of the
        length-sorted batches): the very batches one process runs, so the same numbers.
        """
        causal = self.model.causal
        keep = self.model.config.max_len - (0 if causal else 1)  # room for the trailing MASK
        for idx, out in self._encoded(sequences, users, cutoffs, keep, not causal, context):
            pos = out.valid.sum(1) - 1  # (b,) last real event, or the appended MASK
            yield idx, out.hidden[torch.arange(len(pos), device=pos.device), pos]  # (b, D)

    def _encoded(
        self,
        sequences: EventSequences,
        users: np.ndarray,
        cutoffs: np.ndarray,
        keep: int,
        append_mask: bool,
        context: DistContext | None = None,
    ) -> Iterator[tuple[np.ndarray, EncoderOutput]]:
        """Runs the encoder over length-sorted batches (little padding); yields original indices.

        `context`: only the batches of this torchrun rank (see `query_states`).
        """
        flat = self._flat(sequences)
        users, cutoffs = np.asarray(users, dtype=np.int64), np.asarray(cutoffs, dtype=np.int64)
        start = np.maximum(flat.offsets[users], cutoffs - keep)  # (n,)
        lengths = np.maximum(cutoffs - start, 0)  # (n,)
        order = np.argsort(lengths, kind="stable")
        part = context or DistContext()
        batch_starts = range(0, len(order), self.batch_size)[part.rank :: part.world]
        with _eval_mode(self.model), torch.inference_mode(), self._autocast():
            for i in batch_starts:
                idx = order[i : i + self.batch_size]
                batch = gather(flat, start[idx], lengths[idx])
                if append_mask:
                    batch = _append_mask(batch, lengths[idx])
                elif int(lengths[idx].min()) == 0:
                    batch = _fill_empty(batch, lengths[idx])
                yield idx, self.model(batch.to(self.device))

    def _flat(self, sequences: EventSequences) -> FlatInputs:
        if self._cache is None or self._cache[0] is not sequences:
            self._cache = (
                sequences,
                FlatInputs.from_sequences(sequences, self.model.config.gap_buckets),
            )
        return self._cache[1]

    def _autocast(self) -> torch.autocast:
        on_cuda = self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=on_cuda)


def _append_mask(batch: EncoderInput, lengths: np.ndarray) -> EncoderInput:
    """Writes a MASK event right after each history (an empty history becomes a lone MASK)."""
    B = len(lengths)
    pad = torch.zeros(B, 1, dtype=torch.int64)  # (B, 1)
    rows, cols = torch.arange(B), torch.from_numpy(lengths)

    def extend(t: torch.Tensor | None, value: int) -> torch.Tensor | None:
        if t is None:
            return None
        t = torch.cat([t, pad], dim=1)  # (B, T + 1)
        t[rows, cols] = value
        return t

    return EncoderInput(
        extend(batch.items, MASK),
        extend(batch.events, MASK),
        extend(batch.categories, MASK),
        extend(batch.gaps, 0),
    )


def _fill_empty(batch: EncoderInput, lengths: np.ndarray) -> EncoderInput:
    """An empty history becomes a lone MASK event, so every row has a state to read."""
    empty = torch.from_numpy(lengths == 0)  # (B,)
    batch.items[empty, 0] = MASK
    batch.events[empty, 0] = MASK
    if batch.categories is not None:
        batch.categories[empty, 0] = MASK
    return batch


@contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode for the duration, then back to whatever the trainer had."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
