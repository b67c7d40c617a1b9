"""Behaviour features per user and per session, computed from `EventSequences` with numpy/pandas.

Segments combine these with the model's embeddings (what a user does, in numbers an analyst can
read back in a profile), and anomalies use the rate features (pace, bursts, repetition,
sequential-id runs) both to score and to explain. Event names differ between logs, so which event
types count as a purchase or a cart action is detected by name and can be overridden.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis.event_mix import event_mix
from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED

PURCHASE_PATTERN = r"purchase|buy|order|checkout|transaction|convert|payment|paid"
CART_PATTERN = r"cart|basket|bag"
BURST_WINDOW_S = 60.0  # burst size = most events of one session inside this many seconds


@dataclass(frozen=True)
class EventRoles:
    """Which event types mean "purchase" and "cart"; names matched case-insensitively."""

    purchase: tuple[str, ...] | None = None  # None: detect by PURCHASE_PATTERN
    cart: tuple[str, ...] | None = None  # None: detect by CART_PATTERN

    def ids(self, sequences: EventSequences, role: str) -> np.ndarray:
        """Event ids of a role ('purchase' or 'cart'); empty when the log has no such event."""
        names = getattr(self, role)
        tokens = sequences.event_vocab.tokens
        if names is not None:
            wanted = {n.lower() for n in names}
            hits = [i for i, t in enumerate(tokens) if i >= NUM_RESERVED and t.lower() in wanted]
        else:
            pattern = re.compile(PURCHASE_PATTERN if role == "purchase" else CART_PATTERN, re.I)
            hits = [i for i, t in enumerate(tokens) if i >= NUM_RESERVED and pattern.search(t)]
            if role == "cart":  # "remove_from_cart" is not a cart addition
                hits = [i for i in hits if not re.search(r"remove|delete", tokens[i], re.I)]
        return np.asarray(hits, dtype=np.int64)


def event_frame(sequences: EventSequences) -> pd.DataFrame:
    """One row per event: user, session, ts (s), event, item, category, plus in-session gaps."""
    offsets = np.asarray(sequences.offsets, dtype=np.int64)
    users = np.repeat(np.arange(sequences.num_users), np.diff(offsets))  # (N,)
    frame = pd.DataFrame(
        {
            "user": users,
            "session": np.asarray(sequences.sessions, dtype=np.int64),
            "ts": np.asarray(sequences.timestamps, dtype=np.int64) / 1000.0,
            "event": np.asarray(sequences.events, dtype=np.int64),
            "item": np.asarray(sequences.items, dtype=np.int64),
            "category": np.asarray(sequences.categories, dtype=np.int64),
        }
    )
    same = np.r_[False, frame["session"].to_numpy()[1:] == frame["session"].to_numpy()[:-1]]
    gap = np.r_[np.nan, np.diff(frame["ts"].to_numpy())]
    frame["gap"] = np.where(same, np.maximum(gap, 0.0), np.nan)  # seconds since previous event
    return frame


TIME_COLUMNS = ("median_gap_s", "session_minutes", "events_per_min", "burst")  # need clock times


def user_behaviour(
    sequences: EventSequences,
    roles: EventRoles | None = None,
    frame: pd.DataFrame | None = None,
    pace: bool = True,
) -> pd.DataFrame:
    """One row per user (index = user index): event mix, session shape, conversion, repeats.

    Columns: `mix:<event>` shares, `sessions`, `events_per_session`, `session_minutes`
    (medians), `median_gap_s`, `conversion` (share of sessions with a purchase-like event),
    `cart_rate` (share with a cart event), `repeat_items` (share of events on an item the user
    met in an earlier session), `revisits` (share of events on an item already seen in the same
    session), `top_category_share`. With `pace=False` (no clock times, see
    core.analysis.time_resolution) the time columns are left out rather than filled with
    artefacts of midnight or line-number timestamps.
    """
    roles = roles or EventRoles()
    f = event_frame(sequences) if frame is None else frame
    sessions = session_table(sequences, roles, f)
    per_user = sessions.groupby("user")
    out = pd.DataFrame(
        {
            "sessions": per_user.size(),
            "events_per_session": per_user["events"].median(),
            "session_minutes": per_user["seconds"].median() / 60.0,
            "conversion": per_user["purchase"].mean(),
            "cart_rate": per_user["cart"].mean(),
        }
    )
    out["median_gap_s"] = f.groupby("user")["gap"].median()
    real = f["item"] >= sequences.item_vocab.first_real_id  # a search has no item to revisit
    out["repeat_items"] = _repeat_share(f, real)
    out["revisits"] = (f.duplicated(["session", "item"]) & real).groupby(f["user"]).mean()
    out["top_category_share"] = _top_share(f, "category")
    mix = event_mix(f["user"].to_numpy(), sequences)
    out = out.join(mix).fillna(0.0)
    return out if pace else out.drop(columns=[c for c in TIME_COLUMNS if c in out])


def session_table(
    sequences: EventSequences,
    roles: EventRoles | None = None,
    frame: pd.DataFrame | None = None,
    pace: bool = True,
) -> pd.DataFrame:
    """One row per session: user, events, seconds, purchase/cart flags, and rate features.

    Rate features: `median_gap_s`, `events_per_min`, `burst` (most events in any
    BURST_WINDOW_S window), `same_event_run` (longest run of one event type) with `run_event`,
    `sequential_run` (longest run of item ids counting up by one, for numeric ids).
    With `pace=False` the clock-time features (gap, rate, burst) are NaN: unknown, not unusual.
    """
    roles = roles or EventRoles()
    f = event_frame(sequences) if frame is None else frame
    purchase, cart = roles.ids(sequences, "purchase"), roles.ids(sequences, "cart")
    g = f.groupby("session", sort=True)
    table = pd.DataFrame(
        {
            "user": g["user"].first(),
            "events": g.size(),
            "seconds": g["ts"].max() - g["ts"].min(),
            "purchase": f["event"].isin(purchase).groupby(f["session"]).any(),
            "cart": f["event"].isin(cart).groupby(f["session"]).any(),
            "median_gap_s": g["gap"].median(),
        }
    )
    minutes = np.maximum(table["seconds"].to_numpy() / 60.0, 1.0 / 60.0)
    table["events_per_min"] = (table["events"] - 1).clip(lower=0) / minutes
    table["burst"] = _burst_sizes(f)
    run, run_event = _longest_runs(f["session"].to_numpy(), f["event"].to_numpy())
    table["same_event_run"], table["run_event"] = run, run_event
    table["sequential_run"] = _sequential_runs(f, sequences)
    if not pace:
        table[["median_gap_s", "events_per_min", "burst"]] = np.nan
    return table


def _repeat_share(f: pd.DataFrame, real: pd.Series) -> pd.Series:
    """Share of a user's events on an item first met in an earlier session (`real`: the rows
    that have an item)."""
    first_session = f.groupby(["user", "item"])["session"].transform("min")
    return ((f["session"] > first_session) & real).groupby(f["user"]).mean()


def _top_share(f: pd.DataFrame, column: str) -> pd.Series:
    counts = f.groupby(["user", column]).size()
    return counts.groupby(level=0).max() / counts.groupby(level=0).sum()


def _burst_sizes(f: pd.DataFrame) -> np.ndarray:
    """(S,) most events of each session within any BURST_WINDOW_S seconds (rows sorted by ts)."""
    ts, sess = f["ts"].to_numpy(), f["session"].to_numpy()
    starts = np.flatnonzero(np.r_[True, sess[1:] != sess[:-1]])  # (S,) first row of a session
    seg = np.cumsum(np.r_[True, sess[1:] != sess[:-1]]) - 1  # (N,) session ordinal per row
    local = ts - ts[starts][seg]  # (N,) seconds since the session began, >= 0
    span = np.maximum.reduceat(local, starts) + 2 * BURST_WINDOW_S  # (S,) room between sessions
    key = local + np.r_[0.0, np.cumsum(span)[:-1]][seg]  # (N,) increasing, sessions apart
    later = np.searchsorted(key, key + BURST_WINDOW_S, side="right")  # first row past the window
    counts = later - np.arange(len(sess))  # (N,) events in [t, t + window] of the same session
    return pd.Series(counts).groupby(sess).max().to_numpy()


def _longest_runs(sess: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S,) longest run of equal consecutive `values` per session, and the value that ran."""
    breaks = np.r_[True, (values[1:] != values[:-1]) | (sess[1:] != sess[:-1])]
    run_id = np.cumsum(breaks) - 1
    run_len = np.bincount(run_id)  # (R,)
    run_sess, run_val = sess[breaks], values[breaks]  # (R,)
    runs = pd.DataFrame({"session": run_sess, "len": run_len, "value": run_val})
    best = runs.sort_values(["session", "len"], ascending=[True, False]).drop_duplicates("session")
    return best["len"].to_numpy(), best["value"].to_numpy()


def _sequential_runs(f: pd.DataFrame, sequences: EventSequences) -> np.ndarray:
    """(S,) longest run of numeric item ids going up by exactly one (a catalogue crawl)."""
    numeric = pd.to_numeric(pd.Series(sequences.item_vocab.tokens), errors="coerce").to_numpy()
    ids = numeric[f["item"].to_numpy()]  # (N,) float, NaN for non-numeric ids
    sess = f["session"].to_numpy()
    step = np.r_[False, (np.diff(ids) == 1) & (sess[1:] == sess[:-1])]
    breaks = ~step
    run_id = np.cumsum(breaks) - 1
    run_len = np.bincount(run_id)
    return pd.Series(run_len[run_id]).groupby(sess).max().to_numpy()
