"""Fine-tuning targets: labels from a CSV, or derived from the log so an analyst needs no code.

A *sequence* target labels histories: example i is user `users[i]`'s rows
`offsets[u]:cutoffs[i]` and one class. A *token* target labels events: one class per event row,
-1 where unlabelled. Derived targets never let the history see what it is labelled with:
"next-session purchase" labels a history that ends with a session by what the user's NEXT
session does, "churn" labels the history before a cut-off by the absence of activity after it,
and "precedes-purchase" marks events followed by a purchase in the same session (the encoder then
runs causally, so an event's state cannot see the purchase it is labelled with).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.sequences import EventSequences
from core.errors import BehaviorLensError, InputError

DAY_MS = 86_400_000
CHURN_DAYS = 14.0  # churn: days without activity after the cut-off that count as churned
LABEL_KEYS = ("user_id", "session_id", "src_row")  # accepted first-column names of a label CSV


@dataclass
class SequenceTargets:
    """One class per history; for two classes, index 1 is the positive class."""

    users: np.ndarray  # (n,) int64 user index of each example
    cutoffs: np.ndarray  # (n,) int64 exclusive end row of each history
    labels: np.ndarray  # (n,) int64 index into `classes`
    classes: list[str]  # class names, e.g. ["no", "yes"]
    description: str  # what a label means, shown in summaries and reports
    unmatched: int = 0  # label-file rows whose id is not in the dataset (skipped, reported)


@dataclass
class TokenTargets:
    """One class per event row (-1 = unlabelled); for two classes, index 1 is the positive."""

    labels: np.ndarray  # (N,) int64 index into `classes`, -1 where the event has no label
    classes: list[str]  # class names
    description: str  # what a label means
    causal: bool  # True: the label depends on later events, so encode without looking ahead
    unmatched: int = 0  # label-file rows whose src_row is not in the dataset


def purchase_event_ids(sequences: EventSequences, names: tuple[str, ...] | None) -> np.ndarray:
    """Event ids that count as a purchase: `names` if given, else detected by name."""
    from core.analysis.user_features import EventRoles

    ids = EventRoles(purchase=names).ids(sequences, "purchase")
    if len(ids) == 0:
        types = ", ".join(sequences.event_vocab.tokens[3:]) or "none"
        wanted = ", ".join(names) if names else "a purchase-like name (purchase, buy, order, ...)"
        raise BehaviorLensError(
            f"no event type matches {wanted}; the log's event types are: {types}"
        )
    return ids


def next_session_purchase(
    sequences: EventSequences, purchase_events: tuple[str, ...] | None = None
) -> SequenceTargets:
    """Per session that has a successor: does the user's next session contain a purchase?"""
    is_purchase = np.isin(sequences.events, purchase_event_ids(sequences, purchase_events))
    sessions = np.asarray(sequences.sessions)
    if len(sessions) == 0:
        raise BehaviorLensError("next-session-purchase: the dataset has no events")
    starts = np.flatnonzero(np.r_[True, sessions[1:] != sessions[:-1]])  # (S,) first rows
    ends = np.r_[starts[1:], len(sessions)]  # (S,) exclusive end rows
    owner = np.searchsorted(sequences.offsets, starts, side="right") - 1  # (S,) user of session
    bought = np.add.reduceat(is_purchase.astype(np.int64), starts) > 0  # (S,)
    has_next = np.r_[owner[1:] == owner[:-1], False]  # (S,) next session is the same user's
    keep = np.flatnonzero(has_next)
    targets = SequenceTargets(
        users=owner[keep].astype(np.int64),
        cutoffs=ends[keep].astype(np.int64),
        labels=bought[keep + 1].astype(np.int64),
        classes=["no", "yes"],
        description="the user's next session contains a purchase",
    )
    return _check_classes(targets, "next-session-purchase")


def churn(sequences: EventSequences, days: float) -> SequenceTargets:
    """Per user active before the cut-off (log end - `days`): no activity after it = churned."""
    if days <= 0:
        raise BehaviorLensError(f"--churn-days must be positive, got {days}")
    ts = np.asarray(sequences.timestamps, dtype=np.int64)
    if len(ts) == 0:
        raise BehaviorLensError("churn: the dataset has no events")
    first, last = int(ts.min()), int(ts.max())
    cut = last - int(days * DAY_MS)
    if cut <= first:
        span = (last - first) / DAY_MS
        raise BehaviorLensError(
            f"churn: the log spans only {span:.1f} days, so a {days:g}-day window leaves no "
            "history before the cut-off; choose fewer --churn-days"
        )
    offsets = np.asarray(sequences.offsets, dtype=np.int64)
    before = np.add.reduceat((ts <= cut).astype(np.int64), offsets[:-1])  # (U,) rows <= cut
    lengths = np.diff(offsets)
    users = np.flatnonzero(before > 0)
    targets = SequenceTargets(
        users=users.astype(np.int64),
        cutoffs=offsets[users] + before[users],
        labels=(before[users] == lengths[users]).astype(np.int64),
        classes=["stays", "churns"],
        description=f"no activity in the {days:g} days after the cut-off",
    )
    return _check_classes(targets, "churn")


def precedes_purchase(
    sequences: EventSequences, purchase_events: tuple[str, ...] | None = None
) -> TokenTargets:
    """Per event: does a purchase follow it later in the same session?"""
    is_purchase = np.isin(sequences.events, purchase_event_ids(sequences, purchase_events))
    sessions = np.asarray(sequences.sessions)
    if len(sessions) == 0:
        raise BehaviorLensError("precedes-purchase: the dataset has no events")
    starts = np.flatnonzero(np.r_[True, sessions[1:] != sessions[:-1]])  # (S,)
    run = np.cumsum(np.r_[True, sessions[1:] != sessions[:-1]]) - 1  # (N,) session run per row
    ends = np.r_[starts[1:], len(sessions)]  # (S,)
    upto = np.cumsum(is_purchase)  # (N,) purchases at rows <= i
    before_start = np.r_[0, upto][starts]  # (S,) purchases before each session
    in_session = upto[ends - 1] - before_start  # (S,) purchases per session
    seen = upto - before_start[run]  # (N,) purchases in the session up to row i
    labels = (in_session[run] - seen > 0).astype(np.int64)
    targets = TokenTargets(
        labels=labels,
        classes=["no", "yes"],
        description="a purchase follows this event within the session",
        causal=True,
    )
    _check_token_classes(targets, "precedes-purchase")
    return targets


def labels_from_csv(
    sequences: EventSequences, path: str | Path, src_rows: np.ndarray | None = None
) -> SequenceTargets | TokenTargets:
    """Labels from `KEY,label` where KEY is user_id (whole history), session_id (history up to
    the end of that session; ids are events.parquet's session_idx) or src_row (one event, by
    its line number in the ingested file; needs `src_rows`, events.parquet's column)."""
    frame, key = read_label_csv(path)
    classes = sorted(frame["label"].unique().tolist())
    codes = frame["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)
    if key == "src_row":
        if src_rows is None:
            raise BehaviorLensError(f"{path}: src_row labels need the dataset's src_row column")
        return _token_labels(sequences, frame, codes, classes, np.asarray(src_rows), path)
    if key == "user_id":
        index = {str(u): i for i, u in enumerate(sequences.user_ids)}
        users = frame["key"].map(index)
        found = users.notna().to_numpy()
        users = users[found].to_numpy(np.int64)
        cutoffs = np.asarray(sequences.offsets, dtype=np.int64)[users + 1]
    else:
        users, cutoffs, found = _session_histories(sequences, frame, path)
    if not found.any():
        raise InputError(f"none of the {len(frame)} {key}s is in the dataset", path, 2, key)
    targets = SequenceTargets(
        users, cutoffs, codes[found], classes, f"label from {Path(path).name}", int((~found).sum())
    )
    return _check_classes(targets, str(path))


def read_label_csv(path: str | Path) -> tuple[pd.DataFrame, str]:
    """Reads `KEY,label` as text; returns (frame with columns key, label, row) and KEY's name."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InputError(f"unreadable label file ({error})", path) from error
    columns = [str(c).strip() for c in frame.columns]
    if len(columns) < 2 or columns[0] not in LABEL_KEYS or "label" not in columns:
        raise InputError(
            f"header must be KEY,label with KEY one of {', '.join(LABEL_KEYS)}; got "
            f"{','.join(columns)}",
            path,
            1,
        )
    frame = frame.rename(columns=dict(zip(frame.columns, columns, strict=True)))
    out = pd.DataFrame({"key": frame[columns[0]].str.strip(), "label": frame["label"].str.strip()})
    out["row"] = np.arange(len(out)) + 2  # 1-based file line, header is line 1
    _check_label_rows(out, path, columns[0])
    return out, columns[0]


def _check_label_rows(frame: pd.DataFrame, path: str | Path, key: str) -> None:
    if frame.empty:
        raise InputError("the label file has a header but no rows", path, 2)
    for column, name in (("key", key), ("label", "label")):
        empty = frame.index[frame[column] == ""]
        if len(empty):
            raise InputError(f"empty {name}", path, int(frame.at[empty[0], "row"]), name)
    firsts = frame.drop_duplicates("key")
    clash = frame.merge(firsts, on="key", suffixes=("", "_first"))
    clash = clash[clash["label"] != clash["label_first"]]
    if len(clash):
        row = clash.iloc[0]
        raise InputError(
            f"{key} {row['key']!r} is labelled {row['label_first']!r} on line "
            f"{row['row_first']} and {row['label']!r} here",
            path,
            int(row["row"]),
            "label",
        )
    if frame["label"].nunique() < 2:
        raise InputError(
            f"every row has the label {frame['label'].iloc[0]!r}; a classifier needs 2+ classes",
            path,
            2,
            "label",
        )


def _session_histories(
    sequences: EventSequences, frame: pd.DataFrame, path: str | Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, cutoffs) of the histories ending with each labelled session, and found mask."""
    ids = pd.to_numeric(frame["key"], errors="coerce")
    bad = ids.isna() | (ids % 1 != 0)
    if bad.any():
        row = frame[bad].iloc[0]
        raise InputError(
            f"session_id {row['key']!r} is not a whole number (events.parquet's session_idx)",
            path,
            int(row["row"]),
            "session_id",
        )
    sessions = np.asarray(sequences.sessions)
    wanted = ids.to_numpy(np.int64)
    found = np.isin(wanted, sessions)
    # session ids never decrease over the rows, so a session ends where searchsorted(right) says
    ends = np.searchsorted(sessions, wanted[found], side="right")
    users = np.searchsorted(sequences.offsets, ends - 1, side="right") - 1
    return users.astype(np.int64), ends.astype(np.int64), found


def _token_labels(
    sequences: EventSequences,
    frame: pd.DataFrame,
    codes: np.ndarray,
    classes: list[str],
    src_rows: np.ndarray,
    path: str | Path,
) -> TokenTargets:
    rows = pd.to_numeric(frame["key"], errors="coerce")
    if rows.isna().any():
        row = frame[rows.isna()].iloc[0]
        raise InputError(
            f"src_row {row['key']!r} is not a line number", path, int(row["row"]), "src_row"
        )
    position = pd.Series(np.arange(len(src_rows)), index=src_rows)
    where = position.reindex(rows.to_numpy(np.int64))
    found = where.notna().to_numpy()
    if not found.any():
        raise InputError(f"none of the {len(frame)} src_rows is in the dataset", path, 2, "src_row")
    labels = np.full(sequences.num_events, -1, dtype=np.int64)
    labels[where[found].to_numpy(np.int64)] = codes[found]
    return TokenTargets(
        labels,
        classes,
        f"label from {Path(path).name}",
        causal=False,
        unmatched=int((~found).sum()),
    )


def _check_classes(targets: SequenceTargets, what: str) -> SequenceTargets:
    present = np.unique(targets.labels)
    if len(targets.labels) == 0 or len(present) < 2:
        raise BehaviorLensError(
            f"{what}: {len(targets.labels)} examples with {len(present)} class(es); a classifier "
            "needs examples of at least 2 classes"
        )
    return targets


def _check_token_classes(targets: TokenTargets, what: str) -> None:
    present = np.unique(targets.labels[targets.labels >= 0])
    if len(present) < 2:
        raise BehaviorLensError(f"{what}: labelled events of only {len(present)} class(es)")
