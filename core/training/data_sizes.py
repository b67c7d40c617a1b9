"""Sizes that depend on the data: how much dropout a log needs, how much of it to hide.

Why: the heavy dropout that protects a sparse log (Amazon Beauty: users average 8.8 events)
holds a dense one back; SASRec itself used 0.5 on Beauty and 0.2 on MovieLens-1M. So unless the
user sets it, dropout is read off the dataset's history lengths, and the choice comes with a
sentence saying why, printed in the training summary and saved in the run's config.json.

The masked objective's share of hidden events follows the history length too: BERT4Rec chose
it per dataset (0.6 on Beauty, users average 8.8 events; 0.4 on Steam, 12.4; 0.2 on
MovieLens-1M and -20M, 144-163), which is about five hidden events per history read, to a
tenth, clipped to 0.2-0.6. Too few hidden events on a short history leave most steps with almost
nothing to learn from; on Beauty, 0.2 left our masked model below BERT4Rec after 15 minutes
(bench/RESULTS.md).

Dropout under the masked objective is 0.1 whatever the log, as in BERT4Rec: hiding 60% of a
short history is already heavy noise, and on Beauty (15 minutes, one thread each, mask share
0.6) test NDCG@10 went 0.0152 / 0.0171 / 0.0182 at dropout 0.3 / 0.2 / 0.1 (bench/RESULTS.md).

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
from core.training.config import ModelOptions, TrainConfig

DENSE_MEAN_EVENTS = 50.0  # mean events per user from which a log counts as dense
DENSE_DROPOUT = 0.2  # dense logs (SASRec on MovieLens-1M; measured on MovieLens-100k)
SPARSE_DROPOUT = 0.3  # sparse logs: the default measured on Amazon Beauty
MASKED_DROPOUT = 0.1  # masked objective, any log: BERT4Rec's; the masking already adds noise
HIDDEN_PER_HISTORY = 5.0  # masked objective: events hidden per history read, on average
MASK_RATIO_RANGE = (0.2, 0.6)  # BERT4Rec's smallest and largest per-dataset choice


@dataclass(frozen=True)
class SizeChoice:
    """One size taken from the data: what, the value, and why (one sentence for the summary)."""

    name: str
    value: float | int
    reason: str


def sized_for_data(
    sequences: EventSequences, options: ModelOptions, objective: str = "causal"
) -> tuple[ModelOptions, list[SizeChoice]]:
    """`options` with every size left as None chosen from `sequences` for `objective`, and the
    choices made."""
    lengths = np.diff(sequences.offsets)  # (users,) events per user
    choices = []
    if options.dropout is None:
        choices.append(masked_dropout() if objective == "masked" else density_dropout(lengths))
    return replace(options, **{c.name: c.value for c in choices}), choices


def masked_dropout() -> SizeChoice:
    """The masked objective's dropout, whatever the density: hiding events is its noise."""
    reason = (
        "the masked objective already hides events from the model, so dropout "
        f"{MASKED_DROPOUT} as in BERT4Rec"
    )
    return SizeChoice("dropout", MASKED_DROPOUT, reason)


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


def sized_training(
    sequences: EventSequences, config: TrainConfig, max_len: int
) -> tuple[TrainConfig, list[SizeChoice]]:
    """`config` with the masked objective's hidden share chosen from `sequences` if left unset."""
    if config.objective != "masked" or config.mask_ratio is not None:
        return config, []
    choice = hidden_share(np.diff(sequences.offsets), max_len)
    return replace(config, mask_ratio=choice.value), [choice]


def hidden_share(lengths: np.ndarray, max_len: int) -> SizeChoice:
    """About `HIDDEN_PER_HISTORY` events hidden per history read (windows of `max_len`)."""
    read = float(np.minimum(lengths, max_len).mean()) if len(lengths) else 0.0
    low, high = MASK_RATIO_RANGE
    value = round(min(high, max(low, HIDDEN_PER_HISTORY / max(read, 1.0))), 1)  # to a tenth
    reason = (
        f"the histories read average {read:.1f} events, so the masked objective hides "
        f"{value:.0%} of them (about {HIDDEN_PER_HISTORY:.0f} each, within {low}-{high})"
    )
    return SizeChoice("mask_ratio", value, reason)
