"""Odd but common logs render honestly: short spans, one event type, date-only stamps, tiny
segments, small probabilities, crawls of two ids, and runs no better than a Markov chain."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.analysis.anomalies import score_anomalies
from core.analysis.naming import (
    SMALL_NAME,
    auto_names,
    merge_small_segments,
    min_segment_size,
    small_segments_note,
)
from core.analysis.time_resolution import dataset_support, support_from_ms, volume_unit
from core.analysis.user_features import user_behaviour
from core.analysis.view_notes import (
    PATHS_MERGED_NOTE,
    event_types_note,
    format_probability,
    probability_tickformat,
)
from core.analysis.volume import event_volume
from core.data.ingest import IngestOptions, ingest
from core.data.store import events_path, load_manifest, load_sequences
from core.evaluation.training_check import BASELINE_FILE, TrainingCheck, training_check
from core.reports.build import build_report
from core.reports.request import ReportRequest
from core.workspace import Workspace

HEADER = "user_id,timestamp,event_type,item_id"


def _ingest(tmp_path: Path, name: str, rows: list[str]) -> Workspace:
    """Dataset `name` from CSV rows (user, time, event, item) in a fresh workspace."""
    path = tmp_path / f"{name}.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    workspace = Workspace.at(tmp_path / "ws")
    ingest(path, name, workspace, IngestOptions())
    return workspace


def _short_log(events: tuple[str, ...] = ("view", "cart")) -> list[str]:
    """12 users within 17 minutes, one event every ~10 s."""
    rows = []
    for u in range(12):
        for s in range(8):
            second = 10 * (u * 8 + s)
            stamp = f"2024-03-01T10:{second // 60:02d}:{second % 60:02d}Z"
            rows.append(f"u{u},{stamp},{events[s % len(events)]},i{(u + s) % 7}")
    return rows


def _date_only_log() -> list[str]:
    """30 users, 6 events each, every time a bare date (midnight)."""
    return [
        f"u{u},2024-01-{1 + (u + s) % 9:02d},{('view', 'cart')[s % 2]},i{(u * 3 + s) % 11}"
        for u in range(30)
        for s in range(6)
    ]


# --- 1. resolution from the span ------------------------------------------------------------


def test_volume_unit_follows_the_span() -> None:
    assert volume_unit(17 * 60) == "minute"
    assert volume_unit(3 * 86400) == "hour"
    assert volume_unit(90 * 86400) == "day"
    assert volume_unit(5 * 365 * 86400) == "week"
    assert volume_unit(17 * 60, time_of_day=False) == "day"  # dates alone cannot go finer


def test_a_17_minute_log_gets_minutes_in_chart_and_report(tmp_path: Path) -> None:
    ws = _ingest(tmp_path, "short", _short_log())
    path = events_path(ws, "short")
    time = dataset_support(path, load_manifest(ws, "short"))
    assert time.unit == "minute" and time.pace and time.note() is None
    volume = event_volume(path, time.unit, by_event=False)
    assert len(volume) >= 15 and volume["events"].sum() == 96
    html = build_report(ws, ReportRequest("short"))
    assert "Event volume per minute" in html and "Events per minute" in html


# --- 2 & 3. one event type; merged repeats ---------------------------------------------------


def test_single_event_type_is_a_sentence_not_a_chart(tmp_path: Path) -> None:
    note = event_types_note(["view"])
    assert note is not None and "one event type (view)" in note and "funnel" in note
    assert event_types_note(["view", "cart"]) is None
    ws = _ingest(tmp_path, "views", _short_log(("view",)))
    html = build_report(ws, ReportRequest("views"))
    assert "This log has one event type (view)" in html
    assert "Events per event type" not in html  # no one-bar chart
    assert "<b>Top paths</b>: this log has one event type" in html  # said, not drawn


def test_report_paths_say_that_repeats_are_merged(tmp_path: Path) -> None:
    ws = _ingest(tmp_path, "short", _short_log())
    assert PATHS_MERGED_NOTE in build_report(ws, ReportRequest("short"))


# --- 4. date-only timestamps -----------------------------------------------------------------


def test_date_only_timestamps_support_no_pace(tmp_path: Path) -> None:
    ws = _ingest(tmp_path, "dates", _date_only_log())
    time = dataset_support(events_path(ws, "dates"), load_manifest(ws, "dates"))
    assert not time.time_of_day and not time.pace and time.unit == "day"
    assert "dates without a time of day" in (time.note() or "")
    seqs = load_sequences(ws, "dates")
    assert not support_from_ms(seqs.timestamps).pace
    assert not support_from_ms(seqs.timestamps + 1000, has_time=False).pace  # no time column
    result = score_anomalies(None, seqs, time=time)
    reasons = " ".join(result.users["reason"])
    for word in ("pace", "within", " in 0 s", "min,"):
        assert word not in reasons
    assert result.summary["time_note"] == time.note()
    behaviour = user_behaviour(seqs, pace=False)
    assert not {"median_gap_s", "session_minutes"} & set(behaviour.columns)


def test_segment_names_leave_pace_out_without_clock_times() -> None:
    base = {"size": 50, "conversion": 0.0, "events_per_session": 9.0, "session_minutes": 1.0}
    profiles = pd.DataFrame([{**base, "segment": 0, "median_gap_s": 0.1, "mix:view": 1.0}])
    overall = pd.Series({**base, "events_per_session": 4.0, "median_gap_s": 30.0, "mix:view": 1.0})
    assert "rapid-fire" in auto_names(profiles, overall)[0]
    assert "rapid-fire" not in auto_names(profiles, overall, pace=False)[0]


# --- 5. catalogue crawls need a real run -----------------------------------------------------


def test_two_consecutive_ids_are_not_a_catalogue_crawl(tmp_path: Path) -> None:
    rows = []
    for u in range(20):  # ordinary users: scattered ids, two of them in order
        ids = [100 + (u * 37 + s * 53) % 400 for s in range(8)]
        ids[3] = ids[2] + 1
        rows += [f"u{u},2024-02-01T10:{s:02d}:{u:02d}Z,view,{i}" for s, i in enumerate(ids)]
    rows += [f"crawler,2024-02-01T11:{s:02d}:00Z,view,{500 + s}" for s in range(12)]
    ws = _ingest(tmp_path, "crawl", rows)
    users = score_anomalies(None, load_sequences(ws, "crawl")).users.set_index("user_id")
    assert "catalogue crawl" in users.loc["crawler", "reason"]
    others = users.drop(index="crawler")["reason"]
    assert not others.str.contains("catalogue crawl").any()


# --- 6. small probabilities ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.37, "37.0%"), (0.0042, "0.42%"), (0.0049, "0.49%"), (0.000042, "0.0042%"), (0.0, "0%")],
)
def test_format_probability_keeps_small_ones_apart(p: float, text: str) -> None:
    assert format_probability(p) == text


def test_probability_axis_gets_finer_for_small_values() -> None:
    assert probability_tickformat(0.37) == ".0%"
    assert probability_tickformat(0.004) == ".2%"


# --- 7. small segments -----------------------------------------------------------------------


def test_small_segments_are_merged_into_one_group() -> None:
    assert min_segment_size(300) == 10 and min_segment_size(5000) == 50
    labels = np.array([0] * 150 + [1] * 140 + [2] * 4 + [3] * 6 + [-1] * 3)
    merged, group = merge_small_segments(labels)
    assert group == 4 and set(merged.tolist()) == {0, 1, 4, -1}
    assert (merged == 4).sum() == 10 and (merged == -1).sum() == 3  # noise kept as it is
    assert merge_small_segments(np.array([0] * 20 + [1] * 20))[1] is None
    profiles = pd.DataFrame({"segment": [0, 4], "name": ["a", SMALL_NAME], "size": [290, 10]})
    assert "fewer than 10 users" in (small_segments_note(profiles) or "")
    assert small_segments_note(profiles.head(1)) is None


# --- 8. barely trained runs ------------------------------------------------------------------


def _fake_run(ws: Workspace, name: str, dataset: str, ndcg: float) -> Path:
    folder = ws.run_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "run": name,
        "dataset": dataset,
        "metrics": {"ndcg@10": ndcg, "split": "valid"},
        "train_config": {"eval_max_users": None, "seed": 0},
        "updated": "2024-01-01T00:00:00",
    }
    (folder / "config.json").write_text(json.dumps(meta))
    return folder


def test_a_run_not_clearly_above_markov_is_barely_trained(tmp_path: Path) -> None:
    ws = _ingest(tmp_path, "short", _short_log())
    folder = _fake_run(ws, "demo", "short", 0.0)
    check = training_check(ws, "demo")
    assert check is not None and check.barely_trained and check.markov_ndcg is not None
    label = check.label() or ""
    assert label.startswith("Barely trained") and f"{check.markov_ndcg:.3f}" in label
    cached = json.loads((folder / BASELINE_FILE).read_text())
    assert cached["markov_ndcg@10"] == pytest.approx(check.markov_ndcg)
    stronger = max(check.markov_ndcg, check.popular_ndcg or 0.0)
    _fake_run(ws, "good", "short", 1.05 * stronger + 0.01)
    assert training_check(ws, "good").label() is None


def test_a_run_above_markov_but_below_the_most_popular_items_is_barely_trained() -> None:
    check = TrainingCheck(model_ndcg=0.054, markov_ndcg=0.011, popular_ndcg=0.065)
    assert check.barely_trained
    assert "the most popular items' 0.065" in (check.label() or "")
    assert TrainingCheck(0.054, 0.011, None).label() is None  # Markov alone: clearly above


def test_the_report_carries_the_barely_trained_label(tmp_path: Path) -> None:
    ws = _ingest(tmp_path, "short", _short_log())
    _fake_run(ws, "demo", "short", 0.0)
    html = build_report(ws, ReportRequest("short", run="demo", sections=["model"]))
    assert "Barely trained" in html
