"""Pre-training objectives, each a small unit that turns users into inputs + targets + mask.

- `CausalObjective` (SASRec, Kang & McAuley 2018): predict the next event at every position.
- `MaskedObjective` (BERT4Rec, Sun et al. 2019): hide random events and predict them; some
  sequences hide only their last event, which is exactly how the model is queried for the next
  event (a trailing MASK).
- `NspObjective` (BERT's next-sentence prediction, Devlin et al. 2019): are two segments
  consecutive for the same user? An auxiliary loss on the pooled representation.

Targets are item/event ids laid out like the inputs, with `target_mask` marking the positions
that carry a target, so the model gathers those positions before its output projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.data.vocab import MASK, PAD
from core.model.transformer import EncoderInput
from core.training.windows import FlatInputs, gather, window_index


@dataclass
class ObjectiveBatch:
    """One training batch: inputs (B, T), item/event targets (B, T), and where targets exist."""

    inputs: EncoderInput
    item_targets: torch.Tensor  # (B, T) int64, PAD where no target
    event_targets: torch.Tensor  # (B, T) int64, PAD where no target
    target_mask: torch.Tensor  # (B, T) bool, True where the position has a target


@dataclass
class NspBatch:
    """Segment pairs (B, T) with segment ids, and labels (B,): 1 = consecutive, same user."""

    inputs: EncoderInput
    labels: torch.Tensor  # (B,) int64


class CausalObjective:
    """Next-event modelling over the last `max_len + 1` training events of each user."""

    min_length = 2  # a sequence needs one input and one target

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len

    def window_lengths(self, offsets: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """(U,) input positions `make_batch` cuts per user: the key for length bucketing."""
        return np.maximum(np.minimum(ends - offsets[:-1], self.max_len + 1) - 1, 0)

    def make_batch(
        self, flat: FlatInputs, ends: np.ndarray, users: np.ndarray, rng: np.random.Generator
    ) -> ObjectiveBatch:
        end = ends[users]  # (B,)
        start = np.maximum(flat.offsets[users], end - self.max_len - 1)  # (B,)
        length = end - start - 1  # (B,) inputs; targets are shifted by one
        inputs = gather(flat, start, length)
        shifted = gather(flat, start + 1, length)
        return ObjectiveBatch(inputs, shifted.items, shifted.events, inputs.valid)


class MaskedObjective:
    """Masked event modelling with >= 1 masked and >= 1 visible event in every sequence."""

    min_length = 2  # one masked and one visible event

    def __init__(self, max_len: int, mask_ratio: float = 0.2, last_only_prob: float = 0.1):
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.max_len = max_len
        self.mask_ratio = mask_ratio  # share of events hidden in an ordinary sequence
        self.last_only_prob = last_only_prob  # share of sequences that hide only their last event

    def window_lengths(self, offsets: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """(U,) input positions `make_batch` cuts per user: the key for length bucketing."""
        return np.minimum(ends - offsets[:-1], self.max_len)

    def make_batch(
        self, flat: FlatInputs, ends: np.ndarray, users: np.ndarray, rng: np.random.Generator
    ) -> ObjectiveBatch:
        end = ends[users]  # (B,)
        start = np.maximum(flat.offsets[users], end - self.max_len)  # (B,)
        inputs = gather(flat, start, end - start)
        mask = torch.from_numpy(self.choose_mask(end - start, rng))  # (B, T)
        items, events = inputs.items.clone(), inputs.events.clone()
        targets = torch.where(mask, items, PAD)  # (B, T)
        event_targets = torch.where(mask, events, PAD)  # (B, T)
        masked = EncoderInput(
            items.masked_fill(mask, MASK),
            events.masked_fill(mask, MASK),
            inputs.categories.masked_fill(mask, MASK) if inputs.categories is not None else None,
            inputs.gaps.masked_fill(mask, 0),  # the gap to an unknown event is unknown
        )
        return ObjectiveBatch(masked, targets, event_targets, mask)

    def choose_mask(self, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(B, T) bool: which events to hide. Vectorised; every row keeps both kinds."""
        B = len(lengths)
        _, valid = window_index(np.zeros(B, dtype=np.int64), lengths)  # (B, T)
        mask = (rng.random(valid.shape) < self.mask_ratio) & valid  # (B, T)
        rows = np.arange(B)
        pick = (rng.random(B) * lengths).astype(np.int64)  # (B,) a random valid position
        none = ~mask.any(axis=1)  # (B,)
        mask[rows[none], pick[none]] = True  # >= 1 masked
        full = mask.sum(axis=1) == lengths  # (B,)
        mask[rows[full], pick[full]] = False  # >= 1 visible (lengths >= 2)
        last_only = rng.random(B) < self.last_only_prob  # (B,)
        mask[last_only] = False
        mask[rows[last_only], lengths[last_only] - 1] = True
        return mask


class NspObjective:
    """Pairs (A, B): A ends at a split of a user's events; B starts there (positive) or is the
    continuation of another user in the batch (negative). Splits prefer session boundaries."""

    min_length = 2

    def __init__(self, max_len: int, sessions: np.ndarray) -> None:
        self.half = max(1, max_len // 2)  # events per segment
        self.sessions = np.asarray(sessions)  # (N,) global session ids

    def make_batch(
        self, flat: FlatInputs, ends: np.ndarray, users: np.ndarray, rng: np.random.Generator
    ) -> NspBatch:
        starts, end = flat.offsets[users], ends[users]  # (B,), (B,)
        split = np.array([self._split(s, e, rng) for s, e in zip(starts, end, strict=True)])
        negative = rng.random(len(users)) < 0.5  # (B,)
        partner = np.where(negative, np.roll(np.arange(len(users)), 1), np.arange(len(users)))
        if len(users) == 1:
            negative[:] = False
        a_start = np.maximum(starts, split - self.half)  # (B,)
        b_start = split[partner]  # (B,)
        b_len = np.minimum(end[partner] - b_start, self.half)  # (B,)
        return NspBatch(
            _concat(flat, a_start, split - a_start, b_start, b_len),
            torch.from_numpy((~negative).astype(np.int64)),
        )

    def _split(self, start: int, end: int, rng: np.random.Generator) -> int:
        """A row in (start, end): a random session boundary if there is one, else any row."""
        boundaries = start + 1 + np.flatnonzero(np.diff(self.sessions[start:end]) != 0)
        if len(boundaries):
            return int(rng.choice(boundaries))
        return int(rng.integers(start + 1, end))


def _concat(
    flat: FlatInputs, a_start: np.ndarray, a_len: np.ndarray, b_start: np.ndarray, b_len: np.ndarray
) -> EncoderInput:
    """Segment A followed by segment B per row, right-padded, with segment ids 1 and 2."""
    rows_a, valid_a = window_index(a_start, a_len)  # (B, Ta)
    rows_b, valid_b = window_index(b_start, b_len)  # (B, Tb)
    rows = np.concatenate([rows_a, rows_b], axis=1)  # (B, Ta + Tb)
    valid = np.concatenate([valid_a, valid_b], axis=1)  # (B, Ta + Tb)
    segment = np.concatenate([np.where(valid_a, 1, 0), np.where(valid_b, 2, 0)], axis=1)
    order = np.argsort(~valid, axis=1, kind="stable")  # (B, T) real events first: right padding
    rows, valid, segment = (np.take_along_axis(a, order, axis=1) for a in (rows, valid, segment))

    def take(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.where(valid, values[rows], PAD).astype(np.int64))  # (B, T)

    cats = take(flat.categories) if flat.categories is not None else None
    return EncoderInput(
        take(flat.items), take(flat.events), cats, take(flat.gaps), torch.from_numpy(segment)
    )
