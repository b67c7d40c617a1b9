"""core.analysis.timeline and core.analysis.run_info on the demo workspace (installs in ~1 s)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.analysis import run_info, timeline
from core.data.store import events_path, load_sequences
from core.errors import NotFoundError
from core.workspace import Workspace
from sample_data.demo import ensure_demo


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("timeline") / "ws")
    ensure_demo(ws)
    return ws


@pytest.fixture(scope="module")
def seqs(demo_ws: Workspace):
    return load_sequences(demo_ws, "sample")


def _busy_user(seqs) -> str:
    """A user with several sessions."""
    for u in range(seqs.num_users):
        if len(set(seqs.sessions[seqs.user_slice(u)].tolist())) >= 3:
            return str(seqs.user_ids[u])
    raise AssertionError("no user with 3 sessions in the sample")


def test_user_timeline_is_the_users_events_in_time_order(demo_ws, seqs) -> None:
    user = _busy_user(seqs)
    frame = timeline.user_timeline(events_path(demo_ws, "sample"), user)
    assert len(frame) == len(seqs.items[seqs.user_slice(seqs.user_index(user))])
    assert frame["ts"].is_monotonic_increasing
    assert list(frame.columns) == ["ts", "session", "event", "item", "category", "src_row"]
    assert timeline.user_timeline(events_path(demo_ws, "sample"), "no-such-user").empty


def test_history_until_cuts_at_the_end_of_a_session(seqs) -> None:
    user = _busy_user(seqs)
    sessions = timeline.user_sessions(seqs, user)
    assert sessions == sorted(sessions) and len(sessions) >= 3
    whole = timeline.history_until(seqs, user)
    first = timeline.history_until(seqs, user, sessions[0])
    assert whole.num_users == first.num_users == 1
    assert whole.num_events == len(seqs.items[seqs.user_slice(seqs.user_index(user))])
    assert 0 < first.num_events < whole.num_events
    assert set(first.sessions.tolist()) == {sessions[0]}
    np.testing.assert_array_equal(first.items, whole.items[: first.num_events])
    assert first.item_vocab is seqs.item_vocab  # the run's vocabularies still match
    with pytest.raises(NotFoundError):
        timeline.history_until(seqs, user, session=-5)
    with pytest.raises(NotFoundError):
        timeline.user_sessions(seqs, "no-such-user")


def test_session_steps_are_the_last_sessions_tokens(seqs) -> None:
    user = _busy_user(seqs)
    last = timeline.user_sessions(seqs, user)[-1]
    steps = timeline.session_steps(seqs, user)
    rows = seqs.user_slice(seqs.user_index(user))
    expected = int((seqs.sessions[rows] == last).sum())
    assert len(steps) == min(expected, 50)
    item, event = steps[-1]
    assert item == seqs.item_vocab.token_of(int(seqs.items[rows.stop - 1]))
    assert event == seqs.event_vocab.token_of(int(seqs.events[rows.stop - 1]))
    assert len(timeline.session_steps(seqs, user, max_steps=1)) == 1


def test_quality_table_and_headline_come_from_the_run_files(demo_ws) -> None:
    quality = run_info.quality_table(demo_ws, "demo")
    metrics = json.loads((demo_ws.run_dir("demo") / "metrics.json").read_text())
    assert quality["model"].iloc[0] == "Transformer"
    assert quality["ndcg@10"].iloc[0] == pytest.approx(metrics["demo"]["ndcg@10"])
    head = run_info.headline(demo_ws, "sample", "demo")
    assert head.users == 1500 and head.segments == 6
    best = max(metrics["popular"]["ndcg@10"], metrics["markov"]["ndcg@10"])
    assert head.baseline_ndcg == pytest.approx(best)
    assert 0 < head.flagged < head.scored == 1500
    plain = run_info.headline(demo_ws, "sample", None)
    assert plain.model_ndcg is None and plain.segments is None


def test_run_table_and_renamed_segments(demo_ws, tmp_path: Path) -> None:
    table = run_info.run_table(demo_ws)
    assert list(table["run"]) == ["demo"] and table["kind"].iloc[0] == "pre-train"
    assert "test ndcg@10" in table and run_info.runs_of(demo_ws, "sample") == ["demo"]
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(demo_ws.root, ws.root)
    (ws.run_dir("demo") / "segment_names.json").write_text('{"2": "crawlers"}')
    named = run_info.named_segments(ws, "demo")
    assert named.set_index("segment").loc[2, "name"] == "crawlers"
    (ws.run_dir("demo") / "metrics.json").unlink()
    assert run_info.quality_table(ws, "demo") is None


def test_evaluate_run_writes_metrics_json(demo_ws, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(demo_ws.root, ws.root)
    (ws.run_dir("demo") / "metrics.json").unlink()
    table = run_info.evaluate_run(ws, "demo", max_users=60)
    assert set(table["model"]) == {"Transformer", "Most popular", "Markov chain"}
    assert (table["users"] == 60).all()
    assert run_info.quality_table(ws, "demo").equals(table)
