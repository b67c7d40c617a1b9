"""AppTest for every dashboard page: a fresh workspace (the demo installs itself), a workspace
with the demo switched off, then the demo dataset and shipped run "demo" with its outputs.

Each test runs the real app (navigation included) in a temp workspace chosen by the
BEHAVIOR_LENS_WORKSPACE variable, switches to a page, and asserts no exception plus what the
page must show. The demo installs in about a second, so no test trains a model.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.anomaly_flags import FlagConfig, summarize, with_flags
from core.reports.pdf import CHROMIUM_ENV
from core.workspace import Workspace, atomic_write_json
from dashboard import state
from sample_data.demo import ensure_demo

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")  # AppTest.from_file needs an absolute path
PAGES = [
    "home", "data", "train", "attention", "segments", "predict", "anomalies", "score", "reports",
]  # fmt: skip


def open_page(page: str, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv(state.WORKSPACE_ENV, str(workspace))
    monkeypatch.setenv(state.DEMO_ENV, "1")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page != "home":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [
        str(e.value)
        for kind in ("title", "info", "markdown", "caption", "error", "success", "warning")
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
    """The demo: dataset "sample" and the shipped run "demo" with metrics, segments, anomalies."""
    root = tmp_path_factory.mktemp("dash") / "ws"
    info = ensure_demo(Workspace(root))
    assert info.run == "demo"
    return root


@pytest.fixture
def ws_copy(sample_ws: Path, tmp_path: Path) -> Path:
    """A private copy, for tests that add or remove files in the workspace."""
    target = tmp_path / "ws"
    shutil.copytree(sample_ws, target)
    return target


def stats(root: Path) -> dict:
    return json.loads((root / "datasets" / "sample" / "manifest.json").read_text())["stats"]


@pytest.mark.parametrize("page", PAGES)
def test_fresh_workspace_installs_the_demo_and_every_page_shows_it(page, tmp_path, monkeypatch):
    """A first visitor never sees an empty app: the sample dataset and demo run appear."""
    at = open_page(page, tmp_path / "fresh", monkeypatch)
    assert at.title, "every page has a title"
    assert "No dataset" not in texts(at) and "No trained run" not in texts(at)
    assert not at.error
    ws = Workspace(tmp_path / "fresh")
    assert ws.dataset_names() == ["sample"] and ws.run_names() == ["demo"]
    assert (
        at.get("plotly_chart")
        or at.dataframe
        or at.get("download_button")
        or page
        in (
            "reports",
            "score",  # waits for a second period to be uploaded
        )
    )


@pytest.mark.parametrize("page", PAGES)
def test_every_page_is_polite_when_the_demo_is_off(page, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(state.WORKSPACE_ENV, str(tmp_path / "empty"))
    monkeypatch.setenv(state.DEMO_ENV, "0")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if page != "home":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    assert "No dataset" in texts(at) or "No trained run" in texts(at)
    assert not at.error


def test_home_shows_headline_cards_from_files(sample_ws, monkeypatch) -> None:
    at = open_page("home", sample_ws, monkeypatch)
    cards = {m.label: m for m in at.metric}
    expected = stats(sample_ws)
    assert cards["Users"].value == f"{expected['users']:,}"
    assert cards["Events"].value == f"{expected['events']:,}"
    metrics = json.loads((sample_ws / "runs" / "demo" / "metrics.json").read_text())
    assert cards["Model NDCG@10"].value == f"{metrics['demo']['ndcg@10']:.3f}"
    assert cards["Model NDCG@10"].proto.delta.endswith("vs Markov")  # the best baseline here
    assert len(cards["Model NDCG@10"].proto.delta) <= 16  # longer deltas are cut off on screen
    assert cards["Segments"].value == "6"
    scores = pd.read_parquet(sample_ws / "runs" / "demo" / "anomalies.parquet")
    flagged = with_flags(scores, FlagConfig().false_alarm_rate)["flagged"]
    assert cards["Flagged users"].value == str(int(flagged.sum()))
    assert len(at.get("plotly_chart")) == 2  # volume and quality vs baselines
    assert not at.error


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open a tab of the Data page as a click would (only the open tab's view runs)."""
    at.session_state[state.DATA_TAB] = label
    at.run()
    assert not at.exception, at.exception
    return at


def test_data_page_profiles_and_funnel_builder(sample_ws, monkeypatch) -> None:
    at = open_page("data", sample_ws, monkeypatch)
    expected = stats(sample_ws)
    assert [m.value for m in at.metric][:2] == [f"{expected['events']:,}", f"{expected['users']:,}"]
    assert frame_with(at, "stat") is not None  # the overview's distributions
    assert not at.multiselect, "a closed tab's view does not run"
    steps = open_tab(at, "Funnel").multiselect(key="data_fun_steps_sample")
    assert steps.value == ["view", "add_to_cart", "purchase"]
    steps.set_value(["view", "purchase"]).run()
    at.radio(key="data_fun_within").set_value("user").run()
    funnel = frame_with(at, "step", "drop_off")
    assert list(funnel["event"]) == ["view", "purchase"]
    assert funnel["count"].iloc[0] >= funnel["count"].iloc[1] > 0
    open_tab(at, "Top paths").slider(key="data_paths_length").set_value(4).run()
    open_tab(at, "Retention").radio(key="data_ret_p").set_value("day").run()
    assert not at.exception and not at.error
    assert open_tab(at, "Funnel").multiselect(key="data_fun_steps_sample").value == [
        "view", "purchase",
    ]  # fmt: skip


def test_data_page_bad_funnel_is_a_message_not_a_traceback(sample_ws, monkeypatch) -> None:
    at = open_tab(open_page("data", sample_ws, monkeypatch), "Funnel")
    at.multiselect(key="data_fun_steps_sample").set_value([]).run()
    assert not at.exception
    assert "Pick at least one event type" in texts(at)


def test_a_bad_limit_in_the_server_environment_is_a_message(monkeypatch) -> None:
    """The upload's read options carry the ingest limits, read from the server's environment."""

    def upload_options() -> None:
        from dashboard.components.upload import read_options

        read_options("k")

    monkeypatch.setenv("BEHAVIOR_LENS_MAX_ROWS", "lots")
    at = AppTest.from_function(upload_options, default_timeout=60).run()
    assert not at.exception, at.exception
    message = " ".join(e.value for e in at.error)
    assert "Uploads are off until whoever runs this server fixes a limit" in message
    assert "BEHAVIOR_LENS_MAX_ROWS" in message  # the setting to fix, for the operator


def _fake_job(root: Path, run: str, state_name: str) -> None:
    jobs_dir = root / "jobs"
    atomic_write_json(
        jobs_dir / f"{run}.json",
        {"run": run, "kind": "train", "pid": 999_999_999, "started": time.time(), "config": {}},
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


def test_train_page_monitors_a_job_lists_runs_and_shows_quality(ws_copy, monkeypatch) -> None:
    _fake_job(ws_copy, "stopped-run", "cancelled")
    at = open_page("train", ws_copy, monkeypatch)
    assert "stopped-run" in texts(at) and "cancelled" in texts(at)
    assert len(at.get("plotly_chart")) >= 3  # loss and validation curves, quality vs baselines
    assert any(b.label == "Resume" for b in at.button)
    runs = frame_with(at, "run", "dataset", "kind")
    assert list(runs["run"]) == ["demo"] and runs["kind"].iloc[0] == "pre-train"
    quality = frame_with(at, "model", "ndcg@10")
    assert list(quality["model"])[0] == "Transformer"
    assert set(quality["model"]) == {"Transformer", "Most popular", "Markov chain"}
    at.segmented_control(key="train_form_preset").set_value("balanced").run()
    assert at.number_input(key="train_form_minutes_balanced").value == 15.0
    assert at.number_input(key="train_form_epochs_balanced").value is None  # the budget decides
    assert at.selectbox(key="train_ft_parent_sample").value == "demo"


def test_starting_a_job_switches_the_followed_job(ws_copy, monkeypatch) -> None:
    """Streamlit ignores a selectbox's `index` once its key holds a value: starting a second
    job must set the "Follow job" key itself. A fake launcher writes the job files (no training).
    """
    from core import jobs

    started: list[str] = []

    def fake_start(workspace, config, **_):
        started.append(config.run)
        _fake_job(workspace.root, config.run, "finished")

    monkeypatch.setattr(jobs, "start_training", fake_start)
    _fake_job(ws_copy, "old-run", "finished")
    at = open_page("train", ws_copy, monkeypatch)
    assert at.selectbox(key=state.TRAIN_FOLLOW).value == "old-run"
    at.text_input(key="train_form_run_sample_quick demo").set_value("new-run").run()
    at.button(key="train_form_start").click().run()
    assert not at.exception and started == ["new-run"]
    assert at.selectbox(key=state.TRAIN_FOLLOW).value == "new-run"
    assert at.session_state[state.TRAIN_RUN] == "new-run"
    assert "new-run" in texts(at)  # the monitor below shows the new job


def test_train_page_refuses_duplicate_run_names(sample_ws, monkeypatch) -> None:
    at = open_page("train", sample_ws, monkeypatch)
    at.text_input(key="train_form_run_sample_quick demo").set_value("demo").run()
    at.button(key="train_form_start").click().run()
    assert not at.exception
    assert "already exists" in " ".join(str(e.value) for e in at.error)
    at = open_page("train", sample_ws, monkeypatch)
    at.text_input(key="train_ft_run_demo_next-session-purchase").set_value("demo").run()
    at.button(key="train_ft_start").click().run()
    assert "already exists" in " ".join(str(e.value) for e in at.error)


def test_attention_page_raw_rollout_and_integrated_gradients(sample_ws, monkeypatch) -> None:
    at = open_page("attention", sample_ws, monkeypatch)
    at.selectbox(key="att_head_demo").set_value(0).run()
    assert not at.exception and not at.error
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # raw heatmap, rollout bars, rollout heatmap, IG bars
    figure = json.loads(charts[0].proto.spec)
    labels = figure["data"][0]["x"]
    assert labels and all(" · " in label for label in labels)  # "event · item" on the axes
    assert "exploratory" in " ".join(t.label for t in at.tabs).lower()
    ig = json.loads(charts[3].proto.spec)["data"][0]
    assert ig["x"] == labels  # one attribution per event of the timeline
    assert "completeness error" in texts(at)


def test_attention_page_earlier_session_explains_an_earlier_history(sample_ws, monkeypatch):
    at = open_page("attention", sample_ws, monkeypatch)
    last = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["x"]
    session_key = f"att_session_demo_{at.session_state[state.USER]}"
    box = at.selectbox(key=session_key)
    first_session = int(box.options[0].split()[-1])  # options are shown as "session N"
    at.selectbox(key=session_key).set_value(first_session).run()
    assert not at.exception and not at.error
    first = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["x"]
    assert first != last and len(first) <= len(last)


def test_predict_page_what_if_and_generation(sample_ws, monkeypatch) -> None:
    at = open_page("predict", sample_ws, monkeypatch)
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="pred_wi_event_demo").set_value("purchase").run()
    at.button(key="pred_wi_add").click().run()
    assert not at.exception and not at.error
    assert "Appended:** purchase" in texts(at)
    assert len(at.get("plotly_chart")) == 6  # now, before, after
    at.button(key="pred_gen").click().run()
    generated = frame_with(at, "step", "item", "event", "item_prob")
    assert len(generated) == 8
    at.button(key="pred_wi_clear").click().run()
    assert "Appended" not in texts(at)


def test_predict_page_counts_the_whole_last_session(sample_ws, monkeypatch) -> None:
    """The what-if line once counted the session cut to the model's window ("last 8 of 25"
    for a 35-event session)."""
    from core.analysis.timeline import session_steps
    from core.data.store import load_sequences

    sequences = load_sequences(Workspace(sample_ws), "sample")
    lengths = {
        str(u): len(session_steps(sequences, str(u), max_steps=sequences.num_events))
        for u in sequences.user_ids[:200]
    }
    user = max(lengths, key=lengths.get)
    at = open_page("predict", sample_ws, monkeypatch)
    at.session_state[state.USER] = user
    at.run()
    line = next(m.value for m in at.markdown if m.value.startswith("**Last session:**"))
    assert lengths[user] <= 8 or f"last 8 of {lengths[user]} events" in line


def test_segments_page_map_profiles_and_rename(ws_copy, monkeypatch) -> None:
    at = open_page("segments", ws_copy, monkeypatch)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(figure["data"]) == 6 and figure["layout"]["dragmode"] == "lasso"
    profiles = at.dataframe[1].value
    assert profiles.shape[1] == 4  # four segments side by side by default
    at.text_input(key="seg_name_demo_1").set_value("decisive buyers")
    at.button[-1].click().run()  # "Save names" of the rename form
    assert not at.exception and not at.error
    saved = json.loads((ws_copy / "runs" / "demo" / "segment_names.json").read_text())
    assert saved["1"] == "decisive buyers"
    assert "decisive buyers" in list(at.dataframe[1].value.columns)


def test_segments_page_computes_missing_segments(ws_copy, monkeypatch) -> None:
    for name in ("segments.parquet", "segment_assignments.parquet"):
        (ws_copy / "runs" / "demo" / name).unlink()
    at = open_page("segments", ws_copy, monkeypatch)
    assert "No segments" in texts(at)
    at.button(key="seg_compute").click().run()
    assert not at.exception and not at.error
    assert (ws_copy / "runs" / "demo" / "segment_assignments.parquet").is_file()
    assert at.get("plotly_chart"), "the map appears after computing"


def test_segments_page_finds_session_intents(ws_copy, monkeypatch) -> None:
    (ws_copy / "runs" / "demo" / "session_intents.parquet").unlink()  # the demo ships them
    at = open_page("segments", ws_copy, monkeypatch)
    assert "Session intents" in [s.value for s in at.subheader]
    at.button(key="seg_intents_demo").click().run()
    assert not at.exception and not at.error
    table = frame_with(at, "Intent", "Sessions", "Sessions with a purchase")
    assert len(table) >= 3 and table["Intent"].is_unique


def test_score_page_scores_a_new_period_and_offers_downloads(ws_copy, monkeypatch) -> None:
    from core.data.ingest import ingest

    lines = (ROOT / "sample_data" / "events.csv").read_text().splitlines()
    later = ws_copy.parent / "later.csv"
    later.write_text("\n".join([lines[0], *lines[-3000:]]) + "\n")
    ingest(later, "later", Workspace(ws_copy))
    at = open_page("score", ws_copy, monkeypatch)
    assert at.selectbox(key="score_dataset_demo").value == "later"
    at.button(key="score_go_demo_later").click().run()
    assert not at.exception and not at.error
    verdict = [m.value for m in (*at.success, *at.warning)]
    assert any(v.startswith(("The model still beats", "Retrain")) for v in verdict)
    table = frame_with(at, "user_id", "segment_name", "anomaly_score")
    assert len(table) > 0 and table["segment_name"].notna().all()
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download users (CSV)", "Download predictions (CSV)"]


def test_segment_map_selection_maps_back_to_users(sample_ws) -> None:
    from dashboard.components import charts

    frame = pd.read_parquet(sample_ws / "runs" / "demo" / "segment_assignments.parquet")
    figure = charts.segment_map(frame)
    trace = figure.data[2]
    event = {"selection": {"points": [{"curve_number": 2, "point_index": 1}]}}
    picked = charts.selected_rows(event, frame)
    assert list(picked["user_id"]) == [trace.customdata[1][0]]
    assert charts.selected_rows(None, frame).empty


def test_anomalies_page_ranks_with_reasons_and_drills_down(sample_ws, monkeypatch) -> None:
    at = open_page("anomalies", sample_ws, monkeypatch)
    table = frame_with(at, "score", "reason")
    assert table["score"].is_monotonic_decreasing and table["reason"].str.len().min() > 0
    assert len(at.get("plotly_chart")) == 1  # score distribution
    scores = pd.read_parquet(sample_ws / "runs" / "demo" / "anomalies.parquet")
    assert summarize(scores, 0.01).sentence() in texts(at)  # "Flagged at a 1% false-alarm rate"
    at.select_slider(key="ano_rate_demo").set_value(0.001).run()
    assert summarize(scores, 0.001).sentence() in texts(at)
    assert "false_alarm_rate" in frame_with(at, "score", "reason")
    second = str(table["user_id"].iloc[1])
    at.selectbox(key="ano_drill_sample").set_value(second).run()
    timeline = frame_with(at, "ts", "session", "src_row")
    assert len(timeline) > 0 and set(timeline.columns) >= {"ts", "event", "item"}
    assert f"Timeline of user {second}" in texts(at)


def test_anomalies_page_computes_missing_scores(ws_copy, monkeypatch) -> None:
    (ws_copy / "runs" / "demo" / "anomalies.parquet").unlink()
    at = open_page("anomalies", ws_copy, monkeypatch)
    assert "No anomaly scores" in texts(at)
    at.button(key="ano_compute").click().run()
    assert not at.exception and not at.error
    assert frame_with(at, "score", "reason")["score"].is_monotonic_decreasing


def test_reports_page_builds_for_one_segment_and_offers_downloads(ws_copy, monkeypatch) -> None:
    (ws_copy / "runs" / "demo" / "segment_names.json").write_text('{"1": "decisive buyers"}')
    engine = ws_copy / "chromium"  # the PDF is printed only on a click, so a stand-in will do
    engine.write_text("#!/bin/sh\n")
    engine.chmod(0o755)
    monkeypatch.setenv(CHROMIUM_ENV, str(engine))
    at = open_page("reports", ws_copy, monkeypatch)
    assert at.selectbox(key="rep_run_sample").value == "demo"
    assert set(at.multiselect(key="rep_sections_demo").value) >= {"model", "segments"}
    at.selectbox(key="rep_segment_demo").set_value("1").run()
    at.button(key="rep_build").click().run()
    assert not at.exception and not at.error
    buttons = at.get("download_button")
    assert [b.proto.label for b in buttons] == [
        "Download HTML", "Download PDF", "Download CSV tables (zip)",
    ]  # fmt: skip
    report = at.session_state[state.REPORT]
    assert "<html" in report["html"].lower() and "decisive buyers" in report["html"]
    monkeypatch.setenv(CHROMIUM_ENV, str(ws_copy / "no-chromium"))  # a server without Chromium
    at.run()
    assert len(at.get("download_button")) == 2
    assert "ask whoever runs the dashboard to install it" in texts(at)


def test_two_tabs_keep_their_own_selection(ws_copy, monkeypatch) -> None:
    shutil.copytree(ws_copy / "datasets" / "sample", ws_copy / "datasets" / "other")
    first = open_page("data", ws_copy, monkeypatch)
    second = open_page("data", ws_copy, monkeypatch)
    assert second.session_state[state.DATASET] == "sample"  # the demo dataset by default
    second.selectbox(key="data_dataset").set_value("other").run()
    first.run()
    assert first.session_state[state.DATASET] == "sample"
    assert second.session_state[state.DATASET] == "other"


def test_run_table_shows_a_dash_for_unevaluated_runs() -> None:
    from dashboard.components.training import runs_for_display

    table = pd.DataFrame({"run": ["a", "b"], "epochs": [5, 3], "val mrr": [0.25709, None]})
    shown = runs_for_display(table)
    assert list(shown["val mrr"]) == ["0.257", "—"] and list(shown["epochs"]) == [5, 3]


def test_file_names_the_pages_read_match_core() -> None:
    """state names some run files itself, so that pages showing them need not import the
    modules that write them (torch, scikit-learn); the names must stay the writers' names."""
    from core.analysis import anomalies, segments, session_intents
    from core.reports import build

    assert state.INTENTS_FILE == session_intents.INTENTS_FILE
    assert state.SEGMENTS_FILE == segments.SEGMENTS_FILE == build.RUN_SEGMENTS_FILE
    assert state.ASSIGNMENTS_FILE == segments.ASSIGNMENTS_FILE == build.RUN_ASSIGNMENTS_FILE
    assert state.ANOMALIES_FILE == anomalies.ANOMALIES_FILE == build.RUN_ANOMALIES_FILE
    assert state.METRICS_FILE == build.RUN_METRICS_FILE
