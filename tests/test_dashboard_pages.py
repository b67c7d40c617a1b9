"""AppTest for every dashboard page: empty workspace, then the sample data with a tiny trained run.

Each test runs the real app (navigation included) in a temp workspace chosen by the
BEHAVIOR_LENS_WORKSPACE variable, switches to a page, and asserts no exception plus what the
page must show.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.workspace import Workspace, atomic_write_json
from dashboard import state

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")  # AppTest.from_file needs an absolute path
SAMPLE = ROOT / "sample_data" / "events.csv"
PAGES = ["home", "data", "train", "attention", "segments", "predict", "anomalies", "reports"]


def open_page(page: str, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv(state.WORKSPACE_ENV, str(workspace))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page != "home":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [
        str(e.value)
        for kind in ("title", "info", "markdown", "caption", "error", "success")
        for e in getattr(at, kind)
    ]
    return "\n".join(parts)


def frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first st.dataframe holding all `columns` (AppTest does not expose dataframe keys)."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            return element.value
    raise AssertionError(f"no dataframe with columns {columns}")


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample data ingested and a 1-epoch tiny run trained on it (shared by the module's tests)."""
    ingest = pytest.importorskip("core.data.ingest")
    run = pytest.importorskip("core.training.run")
    config = pytest.importorskip("core.training.config")
    root = tmp_path_factory.mktemp("dash") / "ws"
    ws = Workspace(root)
    ingest.ingest(SAMPLE, "sample", ws, ingest.IngestOptions())
    run.train_run(
        ws,
        "sample",
        "tiny",
        config.TrainConfig(epochs=1, batch_size=256, eval_max_users=100),
        run.ModelOptions(dim=16, layers=1, heads=2, max_len=20),
    )
    return root


@pytest.fixture
def ws_copy(sample_ws: Path, tmp_path: Path) -> Path:
    """A private copy, for tests that add files to the workspace."""
    target = tmp_path / "ws"
    shutil.copytree(sample_ws, target)
    return target


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_workspace(page, tmp_path, monkeypatch) -> None:
    at = open_page(page, tmp_path / "empty", monkeypatch)
    assert at.title, "every page has a title"
    assert "No dataset" in texts(at) or "No trained run" in texts(at)
    assert not at.error


def test_home_shows_headline_cards(sample_ws, monkeypatch) -> None:
    at = open_page("home", sample_ws, monkeypatch)
    values = [m.value for m in at.metric]
    assert values[:2] == ["1,500", "57,680"]
    assert "baseline" in values[2]
    assert not at.error


def test_data_page_profiles_and_funnel_builder(sample_ws, monkeypatch) -> None:
    at = open_page("data", sample_ws, monkeypatch)
    assert [m.value for m in at.metric][:2] == ["57,680", "1,500"]
    steps = at.multiselect(key="data_fun_steps")
    assert steps.value == ["view", "add_to_cart", "purchase"]
    steps.set_value(["view", "purchase"]).run()
    at.radio(key="data_fun_within").set_value("user").run()
    at.slider(key="data_paths_length").set_value(4).run()
    at.radio(key="data_ret_p").set_value("day").run()
    assert not at.exception and not at.error
    funnel = frame_with(at, "step", "drop_off")
    assert list(funnel["event"]) == ["view", "purchase"]
    assert funnel["count"].iloc[0] >= funnel["count"].iloc[1] > 0


def test_data_page_bad_funnel_is_a_message_not_a_traceback(sample_ws, monkeypatch) -> None:
    at = open_page("data", sample_ws, monkeypatch)
    at.multiselect(key="data_fun_steps").set_value([]).run()
    assert not at.exception
    assert "Pick at least one event type" in texts(at)


def _fake_job(root: Path, run: str, state_name: str) -> None:
    jobs_dir = root / "jobs"
    atomic_write_json(
        jobs_dir / f"{run}.json",
        {"run": run, "pid": 999_999_999, "started": time.time(), "config": {}},
    )
    folder = root / "runs" / run
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        folder / "status.json",
        {"state": state_name, "pid": 999_999_999, "message": "stopped by user"},
    )
    lines = [
        {
            "step": s,
            "total_steps": 4,
            "epoch": 1,
            "loss": 5.0 - s,
            "val": {"ndcg@10": 0.01 * s} if s % 2 == 0 else None,
        }
        for s in range(1, 5)
    ]
    (folder / "progress.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_train_page_monitors_a_job_and_lists_runs(ws_copy, monkeypatch) -> None:
    _fake_job(ws_copy, "stopped-run", "cancelled")
    at = open_page("train", ws_copy, monkeypatch)
    assert "stopped-run" in texts(at) and "cancelled" in texts(at)
    assert len(at.get("plotly_chart")) >= 2  # loss and validation curves
    assert any(b.label == "Resume" for b in at.button)
    runs = frame_with(at, "run", "dataset", "objective")
    assert list(runs["run"]) == ["tiny"] and runs["dataset"].iloc[0] == "sample"
    at.segmented_control(key="train_form_preset").set_value("balanced").run()
    assert at.number_input(key="train_form_epochs_balanced").value == 30
    at.toggle(key="train_eval").set_value(True).run()
    quality = frame_with(at, "model", "ndcg@10")
    assert list(quality["model"]) == ["Transformer", "Most popular", "Markov chain"]


def test_train_page_refuses_a_duplicate_run_name(sample_ws, monkeypatch) -> None:
    at = open_page("train", sample_ws, monkeypatch)
    at.text_input(key="train_form_run_sample_quick demo").set_value("tiny").run()
    at.button(key="train_form_start").click().run()
    assert not at.exception
    assert "already exists" in " ".join(str(e.value) for e in at.error)


def test_attention_page_heatmap_per_layer_and_head(sample_ws, monkeypatch) -> None:
    at = open_page("attention", sample_ws, monkeypatch)
    at.selectbox(key="att_head").set_value(0).run()
    assert not at.exception and not at.error
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # raw heatmap, rollout bars, rollout heatmap
    figure = json.loads(charts[0].proto.spec)
    labels = figure["data"][0]["x"]
    assert labels and all(" · " in label for label in labels)  # "event · item" on the axes


def test_predict_page_what_if_appends_events(sample_ws, monkeypatch) -> None:
    at = open_page("predict", sample_ws, monkeypatch)
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="pred_wi_event").set_value("purchase").run()
    at.button(key="pred_wi_add").click().run()
    assert not at.exception and not at.error
    assert "Appended: purchase" in texts(at)
    at.button(key="pred_wi_clear").click().run()
    assert "Appended" not in texts(at)


def test_segments_and_anomalies_pages_read_run_outputs(ws_copy, monkeypatch) -> None:
    at = open_page("segments", ws_copy, monkeypatch)
    assert "No segments" in texts(at)
    folder = ws_copy / "runs" / "tiny"
    pd.DataFrame(
        {"segment": [0, 1], "name": ["bargain hunters", "buyers"], "size": [3, 2]}
    ).to_parquet(folder / "segments.parquet")
    users = ["2040", "2041", "2042", "2043", "2044"]
    pd.DataFrame(
        {
            "user_id": users,
            "segment": [0, 0, 0, 1, 1],
            "x": [0.0, 1, 2, 3, 4],
            "y": [1.0, 0, 1, 0, 1],
        }
    ).to_parquet(folder / "segment_assignments.parquet")
    pd.DataFrame(
        {
            "user_id": users,
            "score": [0.9, 0.1, 0.5, 0.2, 0.3],
            "reason": ["60 views in 60 s"] + ["normal"] * 4,
        }
    ).to_parquet(folder / "anomalies.parquet")
    at = open_page("segments", ws_copy, monkeypatch)
    assert list(frame_with(at, "segment", "name", "size")["name"]) == ["bargain hunters", "buyers"]
    at.text_input(key="seg_name_1").set_value("decisive buyers").run()
    assert "decisive buyers" in list(frame_with(at, "segment", "name", "size")["name"])
    at = open_page("anomalies", ws_copy, monkeypatch)
    table = frame_with(at, "score", "reason")
    assert table["user_id"].iloc[0] == "2040"
    timeline = frame_with(at, "ts", "session", "src_row")
    assert len(timeline) > 0 and set(timeline.columns) >= {"ts", "event", "item"}


def test_reports_page_builds_and_offers_downloads(sample_ws, monkeypatch) -> None:
    at = open_page("reports", sample_ws, monkeypatch)
    at.selectbox(key="rep_run").set_value("tiny").run()
    at.button(key="rep_build").click().run()
    assert not at.exception and not at.error
    downloads = at.get("download_button")
    assert len(downloads) == 2
    report = at.session_state["bl_report"]
    assert "<html" in report["html"].lower() and "Transformer" in report["html"]


def test_two_tabs_keep_their_own_selection(ws_copy, monkeypatch) -> None:
    shutil.copytree(ws_copy / "datasets" / "sample", ws_copy / "datasets" / "other")
    first = open_page("data", ws_copy, monkeypatch)
    second = open_page("data", ws_copy, monkeypatch)
    assert second.session_state[state.DATASET] == "other"  # first in the list
    first.selectbox(key="data_dataset").set_value("sample").run()
    second.run()
    assert first.session_state[state.DATASET] == "sample"
    assert second.session_state[state.DATASET] == "other"
