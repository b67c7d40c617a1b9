"""Anomalies: users and sessions whose pace, bursts, repetition or events surprise the model.

Each session gets rate features (`user_features.session_table`) and its mean surprise (negative
log-likelihood per event under the run's model, `embeddings.event_surprise`). Every feature is
turned into a robust z-score (median / MAD of log values over all sessions, higher = more
unusual), each capped so no single feature decides alone, and summed. A user's score is their
worst session's plus their whole-history surprise. Each user's score becomes a false-alarm rate
(how often a normal user of this log scores as high, `anomaly_flags`), and users at or below the
analyst's rate are flagged; percentiles still rank. The reason names the top features in words
an analyst can check ("150 views in 3 min, 18× normal pace"), and only features the log has:
no pace without clock times, no repetition of one event type when the log has only one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.analysis.anomaly_flags import (
    RATE_COLUMN,
    FlagConfig,
    false_alarm_rates,
    rates_against,
)
from core.analysis.embeddings import SURPRISE_EVENTS, event_surprise
from core.analysis.time_resolution import TimeSupport, support_from_ms
from core.analysis.user_features import BURST_WINDOW_S, event_frame, session_table
from core.analysis.user_sample import sample_users
from core.data.sequences import EventSequences
from core.locks import folder_lock
from core.progress import ProgressCallback, ProgressEvent, ignore_progress
from core.training.distributed import DistContext, device_for
from core.workspace import Workspace, json_bytes, parquet_bytes, read_json, write_together

if TYPE_CHECKING:
    from core.inference.loading import LoadedRun

ANOMALIES_FILE = "anomalies.parquet"  # one row per user (docs/contracts.md)
SESSION_ANOMALIES_FILE = "anomaly_sessions.parquet"  # one row per session
ANOMALY_MODEL_FILE = "anomaly_model.json"  # fitted scorers + typical values (score new data)
# feature -> (sign, use log1p): sign -1 means "smaller is more anomalous" (gaps)
FEATURES: dict[str, tuple[float, bool]] = {
    "median_gap_s": (-1.0, True),
    "events_per_min": (1.0, True),
    "burst": (1.0, True),
    "same_event_run": (1.0, True),
    "sequential_run": (1.0, True),
    "surprise": (1.0, False),
}


PACE_RATIO_SAID = 1.5  # "N× normal pace" only when the gaps are at least this much shorter
PACE_FEATURES = ("median_gap_s", "events_per_min", "burst")  # need clock times to mean anything
MIX_FEATURES = ("same_event_run",)  # need two event types: with one, a run is the session length
CRAWL_MIN_STEPS = 5  # a catalogue crawl climbs item ids by one at least this many times in a row
CRAWL_MIN_SHARE = 0.3  # ... and covers at least this share of the session's events
MIN_RATE_EVENTS = 5  # sessions shorter than this get no pace features (unknown, not anomalous)
LOG_SCALE_FLOOR = 0.25  # smallest scale of a log feature: x1.3 is never "many sigmas" by itself


class AnomalyScorer:
    """Robust z-scores per feature, capped and summed (scikit-learn estimator contract).

    Learned: `center_` and `scale_` (per feature, on the transformed values), `features_`.
    """

    def __init__(self, features: dict[str, tuple[float, bool]] | None = None, cap: float = 8.0):
        self.features = features  # None: FEATURES, restricted to the columns present
        self.cap = cap  # most any one feature adds to the score

    def fit(self, table: pd.DataFrame) -> AnomalyScorer:
        spec = self.features or FEATURES
        self.features_ = {k: v for k, v in spec.items() if k in table}
        values = self._transformed(table)
        self.center_ = np.nanmedian(values, axis=0)  # (F,)
        mad = 1.4826 * np.nanmedian(np.abs(values - self.center_), axis=0)
        q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
        logs = np.array([use_log for _, use_log in self.features_.values()], dtype=bool)
        floor = np.maximum(0.1 * np.nanstd(values, axis=0), np.where(logs, LOG_SCALE_FLOOR, 1e-6))
        self.scale_ = np.maximum.reduce([mad, (q75 - q25) / 1.349, floor])  # (F,)
        return self

    def _transformed(self, table: pd.DataFrame) -> np.ndarray:
        cols = []
        for name, (sign, use_log) in self.features_.items():
            x = table[name].to_numpy(dtype=np.float64)
            cols.append(sign * (np.log1p(np.maximum(x, 0.0)) if use_log else x))
        return np.column_stack(cols) if cols else np.zeros((len(table), 0))

    def z_scores(self, table: pd.DataFrame) -> pd.DataFrame:
        """(n, F) how unusual each feature is, clipped to [0, cap]; NaN (unknown) counts as 0."""
        z = (self._transformed(table) - self.center_) / self.scale_
        z = np.clip(np.nan_to_num(z, nan=0.0), 0.0, self.cap)
        return pd.DataFrame(z, index=table.index, columns=list(self.features_))

    def score_samples(self, table: pd.DataFrame) -> np.ndarray:
        """(n,) anomaly score, higher = more anomalous."""
        return self.z_scores(table).sum(axis=1).to_numpy()

    def to_dict(self) -> dict:
        return {
            "features": [[k, *v] for k, v in self.features_.items()],  # a list: order matters
            "center": np.asarray(self.center_).tolist(),
            "scale": np.asarray(self.scale_).tolist(),
            "cap": self.cap,
        }

    @classmethod
    def from_dict(cls, payload: dict) -> AnomalyScorer:
        """A scorer fitted elsewhere (the training period), to score new data against it."""
        features = {str(k): (float(sign), bool(log)) for k, sign, log in payload["features"]}
        scorer = cls(features, float(payload["cap"]))
        scorer.features_ = features
        scorer.center_ = np.asarray(payload["center"], dtype=np.float64)
        scorer.scale_ = np.asarray(payload["scale"], dtype=np.float64)
        return scorer


@dataclass
class AnomalyResult:
    users: pd.DataFrame  # user_id, score, false_alarm_rate, flagged, percentile, reason, ...
    sessions: pd.DataFrame  # session, user_id, score, percentile, reason, feature columns
    summary: dict  # the CLI's last-line JSON
    model: dict | None = None  # anomaly_model.json: the fitted scorers, to score new data


def score_anomalies(
    loaded: LoadedRun | None,
    sequences: EventSequences,
    on_progress: ProgressCallback | None = None,
    time: TimeSupport | None = None,
    config: FlagConfig | None = None,
    reference: dict | None = None,
    context: DistContext | None = None,
) -> AnomalyResult | None:
    """Scores every session and user; `loaded=None` uses the rate features alone.

    `reference` (a training run's anomaly_model.json plus its users' `scores`) scores new data
    against the training period: its scorers, typical values and reference scores, never refit.

    Under torchrun (`context`) the model's forward passes are shared between the ranks and
    rank 0 alone finishes the scoring (the others get None).

    `time` says what the timestamps support (default: read off `sequences`); without clock
    times the pace, gap and burst features are neither scored nor named in reasons. Users are
    flagged at `config.false_alarm_rate` (default `FlagConfig()`).
    """
    progress = on_progress or ignore_progress
    config = config or FlagConfig()
    mix = len(np.unique(sequences.events)) > 1
    time = time or support_from_ms(sequences.timestamps)
    frame = event_frame(sequences)
    sessions = session_table(sequences, frame=frame, pace=time.pace)
    user_surprise = None
    if loaded is not None:
        loaded.check_vocab(sequences)
        scored = event_surprise(loaded.model, sequences, on_progress=progress, context=context)
        if scored is None:
            return None  # torchrun: this rank's share went to rank 0, which finishes
        item_nll, event_nll = scored
        nll = pd.Series(item_nll + event_nll)
        sessions["surprise"] = nll.groupby(frame["session"].to_numpy()).mean()
        user_surprise = nll.groupby(frame["user"].to_numpy()).mean()
    short = sessions["events"] < MIN_RATE_EVENTS  # a pace read off 2-3 events is noise
    sessions.loc[short, ["median_gap_s", "events_per_min"]] = np.nan
    sessions = sessions.rename_axis("session_idx").reset_index()
    progress(ProgressEvent("anomalies", 0, 1, "scoring"))
    if reference is None:
        scorer = AnomalyScorer(_features(time, mix)).fit(sessions)
    else:
        scorer = AnomalyScorer.from_dict(reference["sessions"])
        for missing in set(scorer.features_) - set(sessions.columns):
            sessions[missing] = np.nan  # a feature the new data cannot have: unknown, not 0
    z = scorer.z_scores(sessions)
    z.loc[~_is_crawl(sessions), "sequential_run"] = 0.0  # two ids in order are not a crawl
    sessions["score"] = z.sum(axis=1)
    typical = _typical(sessions) if reference is None else dict(reference["typical"])
    names = sequences.event_vocab.tokens if mix else []  # one event type: not worth naming
    sessions["reason"] = _reasons(sessions, z, typical, names)
    sessions["user_id"] = sequences.user_ids.astype(str)[sessions["user"].to_numpy()]
    sessions["percentile"] = _percentile(sessions["score"].to_numpy())
    users, user_scorer = _users(
        sessions, user_surprise, typical, config.false_alarm_rate, reference
    )
    progress(ProgressEvent("anomalies", 1, 1, "done"))
    summary = _summary(users, loaded is not None, config.false_alarm_rate)
    summary["time_note"] = time.note()
    if loaded is not None and sequences.num_events > SURPRISE_EVENTS:
        summary["surprise_note"] = (
            f"model surprise read from each user's latest {loaded.model.config.max_len} events"
        )
    model = {
        "sessions": scorer.to_dict(),
        "users": None if user_scorer is None else user_scorer.to_dict(),
        "typical": typical,
    }
    return AnomalyResult(users, _session_output(sessions), summary, model)


def _features(time: TimeSupport, mix: bool) -> dict[str, tuple[float, bool]]:
    """FEATURES the log supports: no pace, gap or burst without clock times, and no same-event
    run with one event type."""
    dropped = (() if time.pace else PACE_FEATURES) + (() if mix else MIX_FEATURES)
    return {k: v for k, v in FEATURES.items() if k not in dropped}


def _is_crawl(sessions: pd.DataFrame) -> pd.Series:
    """Sessions whose id run is a real crawl: long enough and a clear share of the session."""
    run = sessions["sequential_run"]
    return (run - 1 >= CRAWL_MIN_STEPS) & (run >= CRAWL_MIN_SHARE * sessions["events"])


def _typical(sessions: pd.DataFrame) -> dict[str, float]:
    cols = [c for c in ("median_gap_s", "burst", "surprise", "events_per_min") if c in sessions]
    return {c: float(np.nanmedian(sessions[c])) for c in cols if sessions[c].notna().any()}


def _users(
    sessions: pd.DataFrame,
    user_surprise: pd.Series | None,
    typical: dict[str, float],
    rate: float,
    reference: dict | None = None,
) -> tuple[pd.DataFrame, AnomalyScorer | None]:
    """(users, the history-surprise scorer): one row per user with the worst session's features
    and reason, plus history surprise, the false-alarm rate of the score and whether it is
    flagged at `rate` (against `reference`'s scores when given)."""
    worst = sessions.sort_values("score", ascending=False).drop_duplicates("user")
    users = worst.set_index("user").sort_index()
    users = users.rename(columns={"score": "session_score"})
    users["score"] = users["session_score"]
    user_scorer = None
    if user_surprise is not None:
        per_user = pd.DataFrame({"surprise": user_surprise.reindex(users.index)})
        if reference is not None and reference.get("users"):
            user_scorer = AnomalyScorer.from_dict(reference["users"])
        else:
            user_scorer = AnomalyScorer({"surprise": (1.0, False)}).fit(per_user)
        users["user_surprise"] = per_user["surprise"]
        users["score"] = users["session_score"] + user_scorer.z_scores(per_user)["surprise"]
    users["percentile"] = _percentile(users["score"].to_numpy())
    scores = users["score"].to_numpy()
    if reference is None:
        users[RATE_COLUMN] = false_alarm_rates(scores)
    else:
        users[RATE_COLUMN] = rates_against(scores, np.asarray(reference["scores"], dtype=float))
    users["flagged"] = users[RATE_COLUMN] <= rate
    users = users.reset_index(drop=True).rename(columns={"session_idx": "session"})
    front = ["user_id", "score", RATE_COLUMN, "flagged", "percentile", "reason", "session"]
    rest = [c for c in users.columns if c not in front and c not in ("run_event", "user")]
    return users[front + rest].sort_values("score", ascending=False, kind="stable"), user_scorer


def _percentile(score: np.ndarray) -> np.ndarray:
    """Share of units scoring at most this much, in percent (100 = the most anomalous)."""
    ranks = pd.Series(score).rank(method="max").to_numpy()
    return np.round(100.0 * ranks / max(len(score), 1), 2)


def _session_output(sessions: pd.DataFrame) -> pd.DataFrame:
    out = sessions.drop(columns=["user", "run_event"]).reset_index(drop=True)
    front = ["session_idx", "user_id", "score", "percentile", "reason"]
    out = out[front + [c for c in out.columns if c not in front]]
    return out.sort_values("score", ascending=False, kind="stable")


def _summary(users: pd.DataFrame, with_model: bool, rate: float) -> dict:
    top = users.head(5)
    return {
        "users": int(len(users)),
        "false_alarm_rate": rate,
        "flagged": int(users["flagged"].sum()),
        "model_surprise": with_model,
        "top": [
            {"user_id": u, "score": round(float(s), 3), "reason": r}
            for u, s, r in zip(top["user_id"], top["score"], top["reason"], strict=True)
        ],
    }


# --- reasons ---------------------------------------------------------------------------------


REASON_COLUMNS = ("events", "seconds", "run_event", *FEATURES)  # what the phrases quote


def _reasons(
    sessions: pd.DataFrame, z: pd.DataFrame, typical: dict[str, float], events: list[str]
) -> list[str]:
    """Each session's two strongest features in words; pace, burst and rate collapse into one
    phrase. Plain arrays and one Python step per unusual session only: a 10M-event log has
    over a million sessions, and a pandas row lookup each took most of the step's time."""
    values = z.to_numpy()  # (S, F)
    features = list(z.columns)
    columns = {c: sessions[c].to_numpy() for c in REASON_COLUMNS if c in sessions}
    order = np.argsort(-values, axis=1, kind="stable")  # (S, F) strongest first, ties in order
    reasons = ["nothing unusual"] * len(values)
    for i in np.flatnonzero(values.max(axis=1, initial=0.0) >= 1.0):
        row = {name: column[i] for name, column in columns.items()}
        phrases: list[str] = []
        for f in order[i]:
            if values[i, f] < 1.0 or len(phrases) == 2:
                break
            phrase = _phrase(features[f], row, typical, events)
            if phrase not in phrases:
                phrases.append(phrase)
        reasons[i] = "; ".join(phrases)
    return reasons


def _phrase(feature: str, row: dict, typical: dict[str, float], events: list[str]) -> str:
    event = events[int(row["run_event"])] if 0 <= int(row["run_event"]) < len(events) else "event"
    if feature in ("median_gap_s", "events_per_min"):
        gap = max(float(row["median_gap_s"]), 0.5) if pd.notna(row["median_gap_s"]) else 0.5
        ratio = typical.get("median_gap_s", gap) / gap
        which = f" ({_plural(event)})" if events else ""  # one event type: nothing to name
        said = f"{int(row['events'])} events{which} in {_duration(row['seconds'])}"
        if ratio >= PACE_RATIO_SAID:
            return f"{said}, {ratio:.0f}× normal pace"
        # the gaps are ordinary: what stands out is how much the session holds per minute
        seconds = max(float(row["seconds"]), 1.0)
        usual = typical.get("events_per_min")
        rate = f"{60.0 * int(row['events']) / seconds:.1f} a minute"
        return f"{said}, {rate}" + (f" (typical {usual:.1f})" if usual is not None else "")
    if feature == "burst":
        usual = typical.get("burst", 1.0)
        return f"{int(row['burst'])} events within {BURST_WINDOW_S:.0f} s (typical {usual:.0f})"
    if feature == "same_event_run":
        return f"{int(row['same_event_run'])} {_plural(event)} in a row"
    if feature == "sequential_run":
        run, events = int(row["sequential_run"]), int(row["events"])
        return f"{run} consecutive item ids in order, {run / events:.0%} of the session (catalogue crawl)"
    if feature == "surprise":
        usual = typical.get("surprise", float("nan"))  # mean -log p per event, in nats
        return (
            f"events the model finds unlikely (each about {_odds(row['surprise'])} "
            f"vs {_odds(usual)} typical)"
        )
    return feature


def _odds(nats: float) -> str:
    """A mean surprise (-log p per event) as odds an analyst reads: 5.1 -> "1 in 164"."""
    if not np.isfinite(nats):
        return "1 in ?"
    return f"1 in {min(np.exp(nats), 1e9):,.0f}"


def _plural(event: str) -> str:
    return event if event.endswith("s") else f"{event}s"


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- run folder ------------------------------------------------------------------------------


def anomalies_run(
    workspace: Workspace,
    run: str,
    on_progress: ProgressCallback | None = None,
    config: FlagConfig | None = None,
    context: DistContext | None = None,
) -> AnomalyResult | None:
    """Scores a run's dataset and writes anomalies.parquet and anomaly_sessions.parquet.

    Under torchrun (`context`) every rank reads its share and rank 0 alone scores and writes
    (the others get None)."""
    from core.data.store import load_manifest, load_sequences
    from core.inference.loading import load_run, resolve_device

    context = context or DistContext()
    loaded = load_run(workspace, run, device_for(context, resolve_device("auto")))
    sample = sample_users(load_sequences(workspace, loaded.dataset))
    has_time = bool(load_manifest(workspace, loaded.dataset).get("has_time", True))
    time = support_from_ms(sample.sequences.timestamps, has_time)
    result = score_anomalies(loaded, sample.sequences, on_progress, time, config, context=context)
    if result is None:
        return None
    result.summary.update(sample.summary())
    model = {**result.model, "pace": time.pace, "sample_note": sample.note()}  # for the page
    write_together(  # one change: the model's reference scores are the users written beside it
        loaded.run_dir,
        {
            ANOMALIES_FILE: parquet_bytes(result.users),
            SESSION_ANOMALIES_FILE: parquet_bytes(result.sessions),
            ANOMALY_MODEL_FILE: json_bytes(model),
        },
    )
    return result


def training_reference(run_dir: Path) -> dict | None:
    """The run's anomaly model with its users' scores: the reference new data is scored
    against. None when anomalies were computed before the model was saved (recompute them)."""
    model_path, users_path = run_dir / ANOMALY_MODEL_FILE, run_dir / ANOMALIES_FILE
    with folder_lock(run_dir, shared=True):  # both from the same write
        if not (model_path.is_file() and users_path.is_file()):
            return None
        scores = pd.read_parquet(users_path, columns=["score"])["score"].to_numpy()
        model = read_json(model_path)
    return {**model, "scores": scores}
