"""One user's events, for drill-downs and what-if: the timeline table and history windows.

The dashboard shows a user's events when an analyst clicks a segment point or an anomaly, and
the model views need "the history up to the end of session S" or "the (item, event) steps of a
session". These are data operations, so they live here (no Streamlit), tested on tiny data.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from core.data.sequences import EventSequences
from core.errors import NotFoundError

TIMELINE_LIMIT = 500  # events shown per user timeline: enough to read, small enough to render


def user_timeline(events_file: Path, user_id: str, limit: int = TIMELINE_LIMIT) -> pd.DataFrame:
    """The user's events in time order: ts, session, event, item, category, src_row."""
    query = (
        "SELECT ts, session_idx AS session, event, item, category, src_row FROM read_parquet(?) "
        "WHERE user_id = ? ORDER BY ts, src_row LIMIT ?"
    )
    with duckdb.connect() as con:
        return con.execute(query, [str(events_file), str(user_id), int(limit)]).df()


def _user(sequences: EventSequences, user_id: str) -> int:
    try:
        return sequences.user_index(str(user_id))
    except KeyError:
        raise NotFoundError(
            f"no user {user_id!r} in this dataset ({sequences.num_users} users)"
        ) from None


def user_sessions(sequences: EventSequences, user_id: str) -> list[int]:
    """The user's global session indices, oldest first."""
    rows = sequences.user_slice(_user(sequences, user_id))
    return list(dict.fromkeys(int(s) for s in sequences.sessions[rows]))


def _rows_until(sequences: EventSequences, user_id: str, session: int | None) -> slice:
    """Rows of the user's history up to the end of `session` (None: the whole history)."""
    rows = sequences.user_slice(_user(sequences, user_id))
    if session is None:
        return rows
    hits = np.flatnonzero(sequences.sessions[rows] == session)
    if len(hits) == 0:
        raise NotFoundError(f"user {user_id!r} has no session {session}")
    return slice(rows.start, rows.start + int(hits[-1]) + 1)


def history_until(
    sequences: EventSequences, user_id: str, session: int | None = None
) -> EventSequences:
    """A one-user EventSequences: the user's events up to the end of `session`.

    Same vocabularies as `sequences`, so a run trained on the dataset scores it unchanged
    (e.g. `explain_user` on the history as it stood when that session ended).
    """
    rows = _rows_until(sequences, user_id, session)
    return sequences.with_rows(
        np.asarray([str(user_id)], dtype=object),
        np.asarray([0, rows.stop - rows.start], dtype=np.int64),
        rows,
    )


def session_steps(
    sequences: EventSequences, user_id: str, session: int | None = None, max_steps: int = 50
) -> list[tuple[str, str]]:
    """The (item, event) tokens of one session (None: the user's last), at most the last
    `max_steps`: the starting point of a what-if."""
    sessions = user_sessions(sequences, user_id)
    wanted = sessions[-1] if session is None else session
    rows = _rows_until(sequences, user_id, wanted)
    picked = np.arange(rows.start, rows.stop)[sequences.sessions[rows] == wanted][-max_steps:]
    return [
        (
            sequences.item_vocab.token_of(int(sequences.items[r])),
            sequences.event_vocab.token_of(int(sequences.events[r])),
        )
        for r in picked
    ]
