"""The dashboard's bounded reads of large run tables (core.analysis.result_tables) and the views
built on them: the same rows a whole-table read would give, never the whole table on screen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.anomaly_flags import RATE_COLUMN, false_alarm_rates
from core.analysis.result_tables import anomaly_table, map_points, row_count, top_rows
from core.workspace import Workspace
from dashboard import state
from dashboard.components import charts
from sample_data.demo import ensure_demo

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def scores_file(tmp_path: Path) -> Path:
    """Ten users with tied and missing scores, no stored rates (an older anomalies file)."""
    frame = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(10)],
            "score": [1.0, 5.0, np.nan, 5.0, 2.0, 9.0, 0.5, 5.0, 3.0, 2.0],
            "reason": [f"reason {i}" for i in range(10)],
        }
    )
    path = tmp_path / "anomalies.parquet"
    frame.to_parquet(path)
    return path


def test_top_rows_match_a_stable_pandas_sort(scores_file: Path) -> None:
    whole = pd.read_parquet(scores_file).sort_values("score", ascending=False, kind="stable")
    top = top_rows(scores_file, "score", 6, ["user_id", "score"])
    assert list(top.columns) == ["user_id", "score"]
    assert list(top["user_id"]) == list(whole["user_id"][:6])  # ties keep file order
    assert top_rows(scores_file, "score", 50)["user_id"].iloc[-1] == "u2"  # NaN last
    assert row_count(scores_file) == 10


def test_anomaly_table_rates_are_ranked_against_every_user(scores_file: Path) -> None:
    table = anomaly_table(scores_file, 3, ("user_id", "score", RATE_COLUMN, "reason"))
    expected = false_alarm_rates(pd.read_parquet(scores_file)["score"].to_numpy())
    assert len(table.scores) == 10
    np.testing.assert_allclose(table.scores[RATE_COLUMN], expected)
    assert list(table.top["user_id"]) == ["u5", "u1", "u3"]
    np.testing.assert_allclose(table.top[RATE_COLUMN], expected[[5, 1, 3]])


def test_map_points_sample_only_placed_users_and_repeat(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    xy = rng.normal(size=(1000, 2))
    xy[::4] = np.nan  # the segment step placed three users in four
    frame = pd.DataFrame({"user_id": [str(i) for i in range(1000)], "segment": 0})
    frame[["x", "y"]] = xy
    path = tmp_path / "segment_assignments.parquet"
    frame.to_parquet(path)
    shown = map_points(path, 100, ("user_id", "segment", "x", "y"))
    assert (shown.users, shown.placed, len(shown.points)) == (1000, 750, 100)
    assert np.isfinite(shown.points[["x", "y"]].to_numpy()).all()
    again = map_points(path, 100, ("user_id", "segment", "x", "y"))
    pd.testing.assert_frame_equal(shown.points, again.points)  # a selection maps back
    assert len(map_points(path, 5000, ("user_id",)).points) == 750


def test_score_histogram_sends_bins_not_every_score() -> None:
    scores = pd.DataFrame({"score": np.r_[np.random.default_rng(0).normal(size=50_000), np.nan]})
    figure = charts.score_histogram(scores, flagged_at=2.5, bins=40)
    (bars,) = figure.data
    assert len(bars.y) == 40 and int(np.sum(bars.y)) == 50_000
    assert figure.layout.shapes[0].x0 == 2.5  # the "flagged" line


def test_segments_page_states_the_map_sample(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "ws"
    ensure_demo(Workspace(root))
    folder = root / "runs" / "demo"
    small = pd.read_parquet(folder / "segment_assignments.parquet")
    big = pd.concat([small] * 15, ignore_index=True)  # 22,500 users: more than the map draws
    big["user_id"] = [f"u{i}" for i in range(len(big))]
    big.to_parquet(folder / "segment_assignments.parquet")
    monkeypatch.setenv(state.WORKSPACE_ENV, str(root))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/segments.py").run()
    assert not at.exception, at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert sum(len(trace["customdata"]) for trace in figure["data"]) == 20_000  # one per user
    assert any("Showing 20,000 of 22,500 users" in c.value for c in at.caption)
