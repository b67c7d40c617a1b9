"""Model sizes that depend on the data: how much dropout a log needs.

Why: the heavy dropout that protects a sparse log (Amazon Beauty: users average 8.8 events)
holds a dense one back; SASRec itself used 0.5 on Beauty and 0.2 on MovieLens-1M. So unless the
user sets it, dropout is read off the dataset's history lengths, and the choice comes with a
sentence saying why, printed in the training summary and saved in the run's config.json.

`max_len` is not chosen here, on purpose: reading more of a long history did not help where it
was measured. On MovieLens-100k (users average 106 events, 90% have at most 244), one CPU thread,
same seed, test NDCG@10 full / sampled-100 was 0.0930 / 0.424 at max_len 50, 0.0881 / 0.420 at
100 and 0.0872 / 0.409 at 200 (bench/RESULTS.md, "Sizes from the data"), with dropout 0.2 at
least as good as 0.3 (0.0935 / 0.427). A rule that lengthens the window stays out until a
benchmark shows it pays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core.data.sequences import EventSequences
from core.training.config import ModelOptions

DENSE_MEAN_EVENTS = 50.0  # mean events per user from which a log counts as dense
DENSE_DROPOUT = 0.2  # dense logs (SASRec on MovieLens-1M; measured on MovieLens-100k)
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
    if options.dropout is None:
        choices.append(density_dropout(lengths))
    return replace(options, **{c.name: c.value for c in choices}), choices


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
