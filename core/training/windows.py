"""Right-padded (B, T) windows cut from the flat CSR arrays of `EventSequences`, vectorised.

Every objective and the scorer builds its batches here: pick a start row and a length per
sequence, and one fancy-indexing call produces the batch, trimmed to its longest window so
padding is never computed in full.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED, PAD, Vocab
from core.model.embeddings import gap_buckets
from core.model.transformer import EncoderInput


@dataclass
class FlatInputs:
    """The per-event model inputs of a whole dataset, as flat (N,) integer arrays.

    Each array is stored in the smallest integer type its vocabulary fits (int8 gap buckets,
    int16 event types, int32 items): on a 100M-event log that is ~1 GB instead of 3.2 GB of
    int64. Batches are widened to int64 when they are cut (`gather`), so nothing downstream
    sees the compact types.
    """

    items: np.ndarray  # (N,) item ids
    events: np.ndarray  # (N,) event-type ids
    categories: np.ndarray | None  # (N,) category ids, None when the data has no categories
    gaps: np.ndarray  # (N,) time-gap bucket ids
    offsets: np.ndarray  # (U + 1,) CSR offsets, as in EventSequences

    @classmethod
    def from_sequences(cls, seqs: EventSequences, num_gap_buckets: int) -> FlatInputs:
        has_categories = len(seqs.category_vocab) > NUM_RESERVED
        gaps = gap_buckets(seqs.timestamps, seqs.offsets, num_gap_buckets)
        return cls(
            items=compact(seqs.items, len(seqs.item_vocab)),
            events=compact(seqs.events, len(seqs.event_vocab)),
            categories=compact(seqs.categories, len(seqs.category_vocab))
            if has_categories
            else None,
            gaps=compact(gaps, num_gap_buckets + 1),
            offsets=np.asarray(seqs.offsets, dtype=np.int64),
        )


def compact(values: np.ndarray, upper: int) -> np.ndarray:
    """`values` (ids below `upper`) in the smallest signed integer type that holds them."""
    for dtype in (np.int8, np.int16, np.int32):
        if upper <= np.iinfo(dtype).max:
            return np.asarray(values, dtype=dtype)
    return np.asarray(values, dtype=np.int64)


def window_index(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (B, T) and validity (B, T) for windows rows[starts:starts+lengths].

    T is the longest length in the batch, so a batch of short sequences stays small.
    """
    T = max(int(lengths.max()), 1) if len(lengths) else 1
    cols = np.arange(T)  # (T,)
    valid = cols[None, :] < lengths[:, None]  # (B, T)
    rows = np.where(valid, starts[:, None] + cols[None, :], 0)  # (B, T)
    return rows, valid


def gather(flat: FlatInputs, starts: np.ndarray, lengths: np.ndarray) -> EncoderInput:
    """EncoderInput (B, T) for windows flat[starts:starts+lengths], right-padded with PAD."""
    rows, valid = window_index(starts, lengths)

    def take(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.where(valid, values[rows], PAD).astype(np.int64))  # (B, T)

    cats = take(flat.categories) if flat.categories is not None else None
    return EncoderInput(take(flat.items), take(flat.events), cats, take(flat.gaps))


def training_ends(offsets: np.ndarray) -> np.ndarray:
    """(U,) end row (exclusive) of each user's training events under leave-one-out.

    Users with >= 3 events keep their last two (validation and test targets) out of training;
    shorter users are never evaluated, so all their events train.
    """
    lengths = np.diff(offsets)
    return np.where(lengths >= 3, offsets[1:] - 2, offsets[1:])


def vocab_hash(seqs: EventSequences) -> str:
    """Fingerprint of the three vocabularies: a run only scores data with the same ids."""
    return vocabs_hash((seqs.item_vocab, seqs.event_vocab, seqs.category_vocab))


def vocabs_hash(vocabs: tuple[Vocab, Vocab, Vocab]) -> str:
    """`vocab_hash` of (items, events, categories) read on their own, without the events."""
    digest = hashlib.sha256()
    for vocab in vocabs:
        digest.update("\x1f".join(vocab.tokens).encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()[:16]
