"""Session intents: what each visit was for, beside who the user is.

An intent is often a property of a visit, not of a person: the same user researches on Monday
and buys on Friday. Sessions are clustered on what happens in them (event mix, length, variety
of items, searches, conversion) plus, with two or more event types, the model's predicted
behaviour in the session, and, with real items, the mean trained embedding of its items.
The clustering is fit on a seeded sample of at most `max_fit_sessions` sessions and every
session is assigned to its nearest centre, so the cost stays bounded on logs with millions of
sessions. Single-event sessions carry too little to cluster and form their own group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.analysis.clustering import Segmenter, nearest_centre
from core.analysis.event_mix import event_mix
from core.analysis.item_labels import TOKEN_SEPARATOR
from core.analysis.naming import auto_names
from core.analysis.segment_profile import c_tf_idf, top_tokens
from core.analysis.segment_space import block
from core.analysis.user_features import EventRoles
from core.analysis.user_sample import MAX_ANALYSIS_USERS, UserSample, sample_users
from core.analysis.user_vectors import real_event_types, session_behaviour
from core.data.items import ItemCatalog
from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.workspace import Workspace, json_bytes, parquet_bytes, write_together

if TYPE_CHECKING:
    from core.inference.loading import LoadedRun

INTENTS_FILE = "session_intents.parquet"  # one row per intent: name, sessions, profile
SESSION_ASSIGNMENTS_FILE = "session_assignments.parquet"  # session_idx, user_id, intent
INTENTS_META_FILE = "session_intents.json"  # k, stability, silhouette, sessions
SINGLE = -2  # intent id of one-event sessions
SINGLE_NAME = "single-event visits"
MAX_INTENT_SESSIONS = 300_000  # sessions read by the model at most; past this, a user sample


@dataclass
class SessionIntentConfig:
    """How to find session intents; defaults need no knowledge of the data."""

    k_min: int = 3  # fewest intents tried
    k_max: int = 8  # most intents tried
    max_fit_sessions: int = 50_000  # sessions the clustering is fit on; the rest are assigned
    model_weight: float = 0.5  # weight of the model's predicted behaviour against the features
    seed: int = 0  # seeds the sample and k-means


def session_table(sequences: EventSequences) -> pd.DataFrame:
    """One row per session: user, first row, events, item variety, event mix, conversion."""
    sessions = np.asarray(sequences.sessions, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sessions[1:] != sessions[:-1]])  # (S,)
    sizes = np.diff(np.r_[starts, len(sessions)])  # (S,)
    owner = np.searchsorted(sequences.offsets, starts, side="right") - 1  # (S,)
    which = np.repeat(np.arange(len(starts)), sizes)  # (N,) session position of each row
    items = np.asarray(sequences.items, dtype=np.int64)
    real = items >= sequences.item_vocab.first_real_id
    distinct = pd.Series(items[real]).groupby(which[real]).nunique()
    frame = pd.DataFrame({"user": owner, "start": starts, "events": sizes})
    frame["session"] = sessions[starts]
    frame["variety"] = distinct.reindex(np.arange(len(starts)), fill_value=0).to_numpy() / sizes
    purchase = EventRoles().ids(sequences, "purchase")
    bought = np.isin(sequences.events, purchase).astype(np.int64)
    frame["conversion"] = np.add.reduceat(bought, starts) > 0 if len(starts) else []
    mix = event_mix(which, sequences)
    return frame.join(mix)


def find_intents(
    loaded: LoadedRun,
    sequences: EventSequences,
    config: SessionIntentConfig | None = None,
    catalog: ItemCatalog | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(assignments, profiles, summary): the intent of every session and what each intent is."""
    config = config or SessionIntentConfig()
    table = session_table(sequences)
    multi = np.flatnonzero(table["events"].to_numpy() >= 2)
    if len(multi) < 3 * config.k_min:
        raise BehaviorLensError(
            f"session intents need sessions of 2+ events; this log has {len(multi)}"
        )
    X = _space(loaded, sequences, table, multi, config)
    rng = np.random.default_rng(config.seed)
    fit = np.sort(rng.choice(len(multi), min(len(multi), config.max_fit_sessions), replace=False))
    seg = Segmenter(k_range=(config.k_min, config.k_max), seed=config.seed).fit(X[fit])
    labels = np.full(len(table), SINGLE, dtype=np.int64)
    labels[multi] = nearest_centre(X, seg.centers_)
    profiles = _profiles(sequences, table, labels, catalog or ItemCatalog())
    assignments = pd.DataFrame(
        {
            "session_idx": table["session"].to_numpy(),
            "user_id": sequences.user_ids[table["user"].to_numpy()].astype(str),
            "intent": labels,
        }
    )
    names = dict(zip(profiles["intent"], profiles["name"], strict=True))
    assignments["intent_name"] = assignments["intent"].map(names)
    summary = {
        "sessions": int(len(table)),
        "clustered": int(len(multi)),
        "fit_on": int(len(fit)),
        "k": int(seg.k_),
        "stability": round(seg.stability_, 4),
        "silhouette": None if np.isnan(seg.silhouette_) else round(seg.silhouette_, 4),
        "names": {str(k): v for k, v in names.items()},
    }
    return assignments, profiles, summary


def _space(
    loaded: LoadedRun,
    sequences: EventSequences,
    table: pd.DataFrame,
    rows: np.ndarray,
    config: SessionIntentConfig,
) -> np.ndarray:
    features = table.iloc[rows].drop(columns=["user", "start", "session"])
    features["events"] = np.log1p(features["events"])
    parts = [block(features.to_numpy(dtype=np.float64), 99, config.seed)]
    if config.model_weight > 0 and real_event_types(sequences) >= 2:
        predicted = session_behaviour(loaded.model, sequences)[rows]
        parts.append(block(np.log(predicted + 1e-4), 8, config.seed))
        parts[-1] = None if parts[-1] is None else parts[-1] * config.model_weight
    kept = [p for p in parts if p is not None]
    return np.hstack(kept) if kept else np.zeros((len(rows), 1))


def _profiles(
    sequences: EventSequences, table: pd.DataFrame, labels: np.ndarray, catalog: ItemCatalog
) -> pd.DataFrame:
    """One row per intent: sessions, share, users, events per session, conversion, mix, tops."""
    frame = table.assign(intent=labels)
    groups = frame.groupby("intent")
    mix = [c for c in frame.columns if c.startswith("mix:")]
    profile = pd.DataFrame(
        {
            "sessions": groups.size(),
            "users": groups["user"].nunique(),
            "events_per_session": groups["events"].mean(),
            "conversion": groups["conversion"].mean(),
        }
    ).join(groups[mix].mean())
    profile.insert(1, "share", profile["sessions"] / len(frame))
    per_event = np.repeat(labels, table["events"].to_numpy())  # (N,) intent of each event
    profile = profile.join(_tops(sequences, per_event, catalog))
    overall_row = frame[[*mix, "conversion"]].astype(float).mean()
    overall_row["events_per_session"] = float(frame["events"].mean())
    named = profile.reset_index().rename(columns={"intent": "segment"})
    names = auto_names(named.assign(size=named["sessions"]), overall_row, pace=False)
    names[SINGLE] = SINGLE_NAME
    profile.insert(0, "name", [names[int(i)] for i in profile.index])
    return profile.reset_index()


def _tops(sequences: EventSequences, per_event: np.ndarray, catalog: ItemCatalog) -> pd.DataFrame:
    items, cats = np.asarray(sequences.items), np.asarray(sequences.categories)
    item_w = c_tf_idf(items, per_event, len(sequences.item_vocab))
    cat_w = c_tf_idf(cats, per_event, len(sequences.category_vocab))
    no_item = sequences.item_vocab.no_item_id
    rows = {}
    for intent, weights in item_w.items():
        if no_item is not None:
            weights[no_item] = 0.0
        ids = top_tokens(weights, sequences.item_vocab.tokens)
        rows[intent] = {
            "top_categories": ", ".join(top_tokens(cat_w[intent], sequences.category_vocab.tokens)),
            "top_items": TOKEN_SEPARATOR.join(catalog.labels(ids)),
            "top_item_ids": TOKEN_SEPARATOR.join(ids),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def intents_run(
    workspace: Workspace, run: str, config: SessionIntentConfig | None = None
) -> tuple[pd.DataFrame, dict]:
    """Finds the session intents of a run's dataset and writes them into the run folder."""
    from core.data.items import load_item_catalog
    from core.data.store import load_sequences
    from core.inference.loading import load_run

    loaded = load_run(workspace, run)
    sample = _intent_sample(load_sequences(workspace, loaded.dataset))
    sequences = sample.sequences
    loaded.check_vocab(sequences)
    catalog = load_item_catalog(workspace, loaded.dataset)
    assignments, profiles, summary = find_intents(loaded, sequences, config, catalog)
    summary.update(sample.summary())
    write_together(  # one change: every session's intent is one the profiles list
        loaded.run_dir,
        {
            SESSION_ASSIGNMENTS_FILE: parquet_bytes(assignments),
            INTENTS_FILE: parquet_bytes(profiles),
            INTENTS_META_FILE: json_bytes(summary),
        },
    )
    return profiles, summary


def _intent_sample(sequences: EventSequences) -> UserSample:
    """Every user while the log has at most MAX_INTENT_SESSIONS sessions, else a seeded sample
    of users holding about that many: each session is one forward pass of the model."""
    sessions = len(np.unique(sequences.sessions))
    if sessions <= MAX_INTENT_SESSIONS:
        return sample_users(sequences, None)
    users = max(int(sequences.num_users * MAX_INTENT_SESSIONS / sessions), 1)
    return sample_users(sequences, min(users, MAX_ANALYSIS_USERS))
