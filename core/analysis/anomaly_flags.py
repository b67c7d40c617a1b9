"""Calibrated anomaly flags: each score becomes a false-alarm rate, flagged at the analyst's rate.

A user's false-alarm rate answers "how often would a normal user of this log score at least this
high?". It is a conformal p-value against the run's own users, the reference:

    p = (1 + #{reference users scoring >= s}) / (n_ref + 1)

(a reference user is left out of its own count). Why conformal and not median/MAD: the score is
a sum of capped z-scores, taken over a user's worst session, so its distribution is skewed and
bounded in ways no Gaussian tail describes; a rank against real scores needs no such shape and
is exact when the users are exchangeable. A plain rank would, however, always flag the top
share of users and let the anomalies hide each other (30 bots, each out-scored by the 29 others,
would all look "normal" at 1%). So the reference is trimmed: users beyond Tukey's far-out fence,
Q3 + 3 IQR of the scores, are left out of it. The fence is set by quartiles, so the anomalies
themselves cannot move it, and a user beyond it is compared with the ordinary users alone
(p = 1 / (n_ref + 1)). On a clean log few users pass the fence and the flagged share stays near
the chosen rate; on a log with planted bots every bot gets the smallest rate the log can show.

Flagging is plain thresholding: a user is flagged when their rate is at or below the chosen
rate, with no multiple-testing correction, so on a clean log about that share of users is
flagged. The scores alone decide, so files written before the rates were stored (no
`false_alarm_rate` column) get the same flags by computing them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # only frames' own methods are used: the CLI's parser stays free of pandas
    import pandas as pd

FENCE_IQR = 3.0  # users above Q3 + this many IQR are left out of the reference (Tukey far out)
RATE_COLUMN = "false_alarm_rate"  # anomalies.parquet column (docs/contracts.md)
RATE_CHOICES = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1)  # rates offered on the Anomalies page


@dataclass(frozen=True)
class FlagConfig:
    """How users are flagged; the CLI's --false-alarm-rate and the page's default come from here."""

    false_alarm_rate: float = 0.01  # flag users a normal user would match this rarely (1%)

    def __post_init__(self) -> None:
        check_rate(self.false_alarm_rate)


def check_rate(rate: float) -> float:
    """`rate` if it is a share strictly between 0 and 1; ValueError naming it otherwise."""
    if not 0.0 < float(rate) < 1.0:
        raise ValueError(f"the false-alarm rate must be between 0 and 1 (0.01 = 1%), got {rate}")
    return float(rate)


def reference_mask(scores: np.ndarray) -> np.ndarray:
    """(n,) True for users inside the far-out fence: the normal users rates are measured on."""
    finite = np.isfinite(scores)
    if not finite.any():
        return finite
    q25, q75 = np.percentile(scores[finite], [25, 75])
    return finite & (scores <= q75 + FENCE_IQR * (q75 - q25))


def false_alarm_rates(scores: np.ndarray) -> np.ndarray:
    """(n,) conformal p-value of each score against the trimmed reference (1 for NaN scores)."""
    scores = np.asarray(scores, dtype=np.float64)
    inside = reference_mask(scores)
    reference = np.sort(scores[inside])  # (n_ref,)
    at_least = len(reference) - np.searchsorted(reference, scores, side="left")  # (n,)
    others = np.where(inside, at_least - 1, at_least)  # a reference user is not its own peer
    pool = np.where(inside, len(reference) - 1, len(reference))  # (n,) peers compared with
    rates = (1.0 + others) / (pool + 1.0)
    return np.where(np.isfinite(scores), rates, 1.0)


def rates_against(scores: np.ndarray, reference_scores: np.ndarray) -> np.ndarray:
    """(n,) false-alarm rate of new users' scores against another period's users (trimmed the
    same way); new users are not part of the reference, so none is left out of a count."""
    reference = np.asarray(reference_scores, dtype=np.float64)
    reference = np.sort(reference[reference_mask(reference)])
    scores = np.asarray(scores, dtype=np.float64)
    at_least = len(reference) - np.searchsorted(reference, scores, side="left")
    rates = (1.0 + at_least) / (len(reference) + 1.0)
    return np.where(np.isfinite(scores), rates, 1.0)


def smallest_rate(scores: np.ndarray) -> float:
    """The smallest false-alarm rate this many reference users can show: 1 / (n_ref + 1)."""
    return 1.0 / (int(reference_mask(np.asarray(scores, dtype=np.float64)).sum()) + 1.0)


def with_flags(users: pd.DataFrame, rate: float) -> pd.DataFrame:
    """`users` with `false_alarm_rate` (computed from `score` when the file predates it) and
    `flagged` at `rate`; a copy, the input is left as it was."""
    check_rate(rate)
    out = users.copy()
    if RATE_COLUMN not in out:
        out[RATE_COLUMN] = false_alarm_rates(out["score"].to_numpy())
    out["flagged"] = out[RATE_COLUMN] <= rate
    return out


@dataclass
class FlagSummary:
    """What the page, the report and the CLI say about the flags."""

    rate: float  # the false-alarm rate flagged at
    flagged: int  # users at or below it
    scored: int  # users with a score
    smallest: float  # the smallest rate the log can show (1 / (reference users + 1))
    lowest_flagged_score: float | None  # where the flagged users start; None when none is

    def sentence(self) -> str:
        """ "Flagged at a 1% false-alarm rate: 12 of 1,500 users." or the no-anomaly wording."""
        at = f"at a {format_rate(self.rate)} false-alarm rate"
        if self.flagged:
            return f"Flagged {at}: {self.flagged:,} of {self.scored:,} users."
        text = f"No strong anomalies {at} ({self.scored:,} users scored)."
        if self.smallest > self.rate:
            text += (
                f" With {round(1 / self.smallest) - 1:,} ordinary users to compare with, the "
                f"smallest false-alarm rate this log can show is {format_rate(self.smallest)}."
            )
        return text


def summarize(users: pd.DataFrame, rate: float) -> FlagSummary:
    """Counts for `users` (with or without stored rates) flagged at `rate`."""
    flagged = with_flags(users, rate)
    hits = flagged.loc[flagged["flagged"], "score"]
    return FlagSummary(
        rate=rate,
        flagged=int(len(hits)),
        scored=int(len(flagged)),
        smallest=smallest_rate(flagged["score"].to_numpy()),
        lowest_flagged_score=float(hits.min()) if len(hits) else None,
    )


def format_rate(rate: float) -> str:
    """0.01 -> "1%", 0.005 -> "0.5%", 0.0323 -> "3.2%", 0.125 -> "12%" (two digits at most)."""
    percent = 100.0 * rate
    return f"{percent:.0f}%" if percent >= 10 else f"{percent:.2g}%"


METHOD_NOTE = (
    "A user's false-alarm rate is how often a normal user of this log scores at least as high "
    "(compared with every user except the far outliers). Users are flagged when it is at or "
    "below the chosen rate, one by one, without a multiple-testing correction: on a log with "
    "no real anomalies about that share of users is flagged."
)
