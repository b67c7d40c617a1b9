"""Model sizes that depend on the data: how much history to read and how much dropout.

Why: one fixed `max_len` of 50 reads all of a typical Amazon Beauty history (90% of users have
at most 14 events) but less than a third of a MovieLens one (users average 106 ratings, the 90th
percentile is 244), and the heavy dropout that protects a sparse log holds a dense one back.
SASRec itself used 50 and dropout 0.5 on Beauty, 200 and 0.2 on MovieLens-1M. So unless the
user sets them, both are read off the dataset's history lengths; each choice comes with a
sentence saying why, printed in the training summary and saved in the run's config.json.

The floor keeps sparse logs exactly on the defaults measured on Beauty (bench/RESULTS.md); the
ceiling bounds the attention's T x T cost on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from core.data.sequences import EventSequences
from core.training.config import ModelOptions

HISTORY_QUANTILE = 0.9  # max_len covers the whole history of this share of users...
MAX_LEN_STEP = 10  # ...rounded up to a multiple of this...
MAX_LEN_FLOOR = 50  # ...never below SASRec+'s 50 (sparse logs keep the Beauty-measured default)
MAX_LEN_CEILING = 200  # ...nor above SASRec's MovieLens-1M choice (attention grows as T^2)
DENSE_MEAN_EVENTS = 50.0  # mean events per user from which a log counts as dense
DENSE_DROPOUT = 0.2  # dense logs (SASRec on MovieLens-1M)
SPARSE_DROPOUT = 0.3  # sparse logs: the default measured on Amazon Beauty


@dataclass(frozen=True)
class SizeChoice:
    """One size taken from the data: what, the value, and why (one sentence for the summary)."""

    name: str
    value: float | int
    reason: str


def sized_for_data(
    sequences: EventSequences, options: ModelOptions
) -> tuple[ModelOptions, list[SizeChoice]]:
    """`options` with every size left as None chosen from `sequences`, and the choices made."""
    lengths = np.diff(sequences.offsets)  # (users,) events per user
    choices = []
    if options.max_len is None:
        choices.append(history_max_len(lengths))
    if options.dropout is None:
        choices.append(density_dropout(lengths))
    return replace(options, **{c.name: c.value for c in choices}), choices


def history_max_len(lengths: np.ndarray) -> SizeChoice:
    """The history length that covers HISTORY_QUANTILE of users, in [floor, ceiling]."""
    covered = float(np.quantile(lengths, HISTORY_QUANTILE)) if len(lengths) else 0.0
    rounded = MAX_LEN_STEP * math.ceil(covered / MAX_LEN_STEP)
    value = int(min(MAX_LEN_CEILING, max(MAX_LEN_FLOOR, rounded)))
    share = f"{HISTORY_QUANTILE:.0%} of users have at most {covered:.0f} events"
    if value == rounded:
        reason = f"{share}, so the model reads their whole history"
    elif value == MAX_LEN_FLOOR:
        reason = f"{share}; the model still reads up to {MAX_LEN_FLOOR} (the floor)"
    else:
        reason = f"{share}; the model reads the latest {MAX_LEN_CEILING} (the ceiling)"
    return SizeChoice("max_len", value, reason)


def density_dropout(lengths: np.ndarray) -> SizeChoice:
    """Lighter dropout for dense logs (long histories), the Beauty default for sparse ones."""
    mean = float(lengths.mean()) if len(lengths) else 0.0
    dense = mean >= DENSE_MEAN_EVENTS
    value = DENSE_DROPOUT if dense else SPARSE_DROPOUT
    threshold = "at or above" if dense else "below"
    reason = (
        f"users average {mean:.1f} events, {threshold} the {DENSE_MEAN_EVENTS:.0f} of a dense "
        f"log, so dropout {value}"
    )
    return SizeChoice("dropout", value, reason)
