"""Switching run or dataset never leaves the previous one's values on a page, a run finished
after the app started is listed on the next rerun, and no page speaks in command-line words.

The workspace holds the demo (dataset "sample", run "demo"), "demo-copy" (the demo run under
another name, with other segment names and fewer anomaly rows) and a second small dataset
"shop" with other event types and items, and a 1-epoch run "shop-run" on it (seconds to train).
Each test opens a page on the demo, switches, and asserts that nothing of the demo is shown.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.runs_table import set_default_run
from core.data.ingest import IngestOptions, ingest
from core.data.store import load_sequences
from core.training.config import ModelOptions, TrainConfig
from core.training.run import train_on_sequences
from core.workspace import Workspace, atomic_write_json, read_json
from dashboard import state
from sample_data.demo import ensure_demo
from tests.test_dashboard_pages import PAGES, frame_with, open_page, texts

COPY = "demo-copy"  # the demo run with other segment names and fewer anomaly rows
SHOP, SHOP_RUN = "shop", "shop-run"  # a second dataset and its run
SHOP_EVENTS = ("browse", "basket", "order")  # none of them is an event type of the demo
SHOP_ITEMS = [str(1001 + i) for i in range(8)]
DROPPED = 5  # the demo's most anomalous users, left out of the copy's scores
CLI_WORDS = re.compile(r"--[a-z]|\bpid\b|/tmp/|python -m")


def _shop_log(path: Path) -> Path:
    """40 users, one session each: browse two items, then basket and sometimes order."""
    rows = ["user_id,timestamp,event_type,item_id"]
    for u in range(40):
        first, second = SHOP_ITEMS[u % 8], SHOP_ITEMS[(u + 3) % 8]
        steps = [("browse", first), ("browse", second), ("basket", second)]
        steps += [("order", second)] * (u % 2)
        for s, (event, item) in enumerate(steps):
            rows.append(f"u{u},2024-01-0{1 + u % 5}T10:{s:02d}:00Z,{event},{item}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _copy_demo_run(ws: Workspace) -> None:
    shutil.copytree(ws.run_dir("demo"), ws.run_dir(COPY))
    folder = ws.run_dir(COPY)
    meta = read_json(folder / "config.json")  # older than the demo: pages still open on "demo"
    atomic_write_json(folder / "config.json", {**meta, "created": "2000-01-01T00:00:00"})
    metrics = read_json(folder / "metrics.json")
    atomic_write_json(folder / "metrics.json", {COPY if k == "demo" else k: v for k, v in metrics.items()})  # fmt: skip
    segments = pd.read_parquet(folder / "segments.parquet")["segment"]
    atomic_write_json(folder / "segment_names.json", {str(s): f"copy group {s}" for s in segments})
    scores = pd.read_parquet(folder / "anomalies.parquet").sort_values("score", ascending=False)
    scores.iloc[DROPPED:].to_parquet(folder / "anomalies.parquet")


@pytest.fixture(scope="module")
def two_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stale")
    ws = Workspace.at(root / "ws")
    ensure_demo(ws)
    _copy_demo_run(ws)
    ingest(_shop_log(root / "shop.csv"), SHOP, ws, IngestOptions())
    config = TrainConfig(epochs=1, eval_max_users=10, device="cpu", seed=0)
    options = ModelOptions(max_len=8, dim=16, layers=1, heads=1, dropout=0.1)
    train_on_sequences(load_sequences(ws, SHOP), SHOP, ws.run_dir(SHOP_RUN), config, options)
    return ws.root


def _demo_segment_names(root: Path) -> list[str]:
    return list(pd.read_parquet(root / "runs" / "demo" / "segments.parquet")["name"])


def _pick(at: AppTest, key: str, value: str) -> AppTest:
    at.selectbox(key=key).set_value(value).run()
    assert not at.exception, at.exception
    return at


def _tab(at: AppTest, label: str) -> AppTest:
    """Open a tab of the Data page (only the open tab's view runs)."""
    at.session_state[state.DATA_TAB] = label
    at.run()
    assert not at.exception, at.exception
    return at


def test_home_switches_cards_and_runs_with_the_dataset(two_ws, monkeypatch) -> None:
    at = open_page("home", two_ws, monkeypatch)
    assert at.selectbox(key="home_run").value == "demo"
    _pick(at, "home_dataset", SHOP)
    assert at.selectbox(key="home_run").options == [SHOP_RUN]
    assert at.selectbox(key="home_run").value == SHOP_RUN
    cards = {m.label: m.value for m in at.metric}
    assert cards["Users"] == "40" and cards["Segments"] == "—"  # shop-run has no segments


def test_data_page_views_follow_the_dataset(two_ws, monkeypatch) -> None:
    at = _tab(open_page("data", two_ws, monkeypatch), "Funnel")
    assert "view" in at.multiselect(key="data_fun_steps_sample").value
    _pick(at, "data_dataset", SHOP)
    steps = at.multiselect(key=f"data_fun_steps_{SHOP}")
    assert set(steps.options) == set(SHOP_EVENTS) and set(steps.value) <= set(SHOP_EVENTS)
    start = _tab(at, "Top paths").selectbox(key=f"data_paths_start_{SHOP}")
    assert set(start.options) == {"(first event)", *SHOP_EVENTS}
    assert {m.label: m.value for m in at.metric}["Users"] == "40"
    assert "events.csv" not in texts(at)  # the demo's source file is not named any more


def test_train_page_forms_and_pickers_follow_the_dataset(two_ws, monkeypatch) -> None:
    at = open_page("train", two_ws, monkeypatch)
    assert at.selectbox(key="train_ft_parent_sample").options == ["demo", COPY]
    _pick(at, "train_dataset", SHOP)
    assert at.selectbox(key=f"train_ft_parent_{SHOP}").options == [SHOP_RUN]
    assert at.selectbox(key="train_quality_run").value == SHOP_RUN
    assert at.selectbox(key=f"train_runs_default_{SHOP}_pick").options == [SHOP_RUN]
    assert at.text_input(key=f"train_form_run_{SHOP}_quick demo").value.startswith(f"{SHOP}-")
    assert set(frame_with(at, "run", "dataset", "kind")["run"]) == {SHOP_RUN}


def test_attention_page_follows_the_run(two_ws, monkeypatch) -> None:
    at = open_page("attention", two_ws, monkeypatch)
    _pick(at, "att_run", SHOP_RUN)
    user = at.session_state[state.USER]
    assert user.startswith("u")  # a shop user, not the demo's numeric ids
    assert at.selectbox(key=f"att_layer_{SHOP_RUN}").options == ["layer 1"]
    assert at.selectbox(key=f"att_session_{SHOP_RUN}_{user}").value is not None
    heatmap = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["x"]
    events = [label.split(" · ")[0].split(": ")[-1] for label in heatmap]  # "0: browse · 1002"
    assert events and set(events) <= set(SHOP_EVENTS), heatmap
    assert not at.error


def test_predict_what_if_follows_the_run(two_ws, monkeypatch) -> None:
    """The what-if item once kept the demo's item and warned it was not in the vocabulary."""
    at = open_page("predict", two_ws, monkeypatch)
    demo_user = at.session_state[state.USER]
    demo_item = at.selectbox(key=f"pred_wi_item_demo_{demo_user}_0").value
    assert demo_item and demo_item not in SHOP_ITEMS
    _pick(at, "pred_run", SHOP_RUN)
    user = at.session_state[state.USER]
    item = at.selectbox(key=f"pred_wi_item_{SHOP_RUN}_{user}_0")
    assert item.value in SHOP_ITEMS and demo_item not in item.options
    assert set(at.selectbox(key=f"pred_wi_event_{SHOP_RUN}").options) == set(SHOP_EVENTS)
    at.button(key="pred_wi_add").click().run()
    assert not at.exception and not at.error
    assert "vocabulary" not in texts(at)


def test_segments_page_shows_only_the_new_runs_names(two_ws, monkeypatch) -> None:
    at = open_page("segments", two_ws, monkeypatch)
    old = _demo_segment_names(two_ws)
    assert old[0] in texts(at) or old[0] in " ".join(at.multiselect(key="seg_compare_demo").options)
    _pick(at, "seg_run", COPY)
    chips = at.multiselect(key=f"seg_compare_{COPY}")
    shown = " ".join([*chips.options, *map(str, chips.value)])
    assert "copy group 0" in shown and not any(name in shown for name in old)
    names = [at.text_input(key=f"seg_name_{COPY}_{s}").value for s in range(len(old))]
    assert names == [f"copy group {s}" for s in range(len(old))]
    profiles = at.dataframe[1].value
    assert not set(old) & set(map(str, profiles.columns))


def test_anomalies_page_shows_only_the_new_runs_scores(two_ws, monkeypatch) -> None:
    at = open_page("anomalies", two_ws, monkeypatch)
    top = list(frame_with(at, "score", "reason")["user_id"].astype(str)[:DROPPED])
    _pick(at, "ano_run", COPY)
    shown = set(frame_with(at, "score", "reason")["user_id"].astype(str))
    assert shown and not shown & set(top)
    assert at.selectbox(key="ano_drill_sample").value not in top


def test_score_page_offers_only_other_datasets_of_the_new_run(two_ws, monkeypatch) -> None:
    at = open_page("score", two_ws, monkeypatch)
    assert at.selectbox(key="score_dataset_demo").options == [SHOP]
    _pick(at, "score_run", SHOP_RUN)
    assert at.selectbox(key=f"score_dataset_{SHOP_RUN}").options == ["sample"]


def test_reports_page_never_shows_another_runs_report(two_ws, monkeypatch) -> None:
    at = open_page("reports", two_ws, monkeypatch)
    at.multiselect(key="rep_sections_demo").set_value(["summary"]).run()
    at.button(key="rep_build").click().run()
    assert not at.exception and at.get("download_button")
    _pick(at, "rep_run_sample", COPY)
    assert not at.get("download_button") and not at.get("iframe")
    assert "copy group 1" in " ".join(at.selectbox(key=f"rep_segment_{COPY}").options)
    _pick(at, "rep_dataset", SHOP)
    assert at.selectbox(key=f"rep_run_{SHOP}").value == SHOP_RUN


# --- the workspace changes while the app is open -------------------------------------------


def _job(root: Path, run: str, state_name: str, pid: int) -> None:
    """A job record and status as a training process leaves them (no process is started)."""
    record = {"run": run, "kind": "train", "pid": pid, "started": time.time(), "config": {}}
    atomic_write_json(root / "jobs" / f"{run}.json", record)
    status = {"state": state_name, "pid": pid, "updated": time.time(), "message": "epoch 1/1"}
    atomic_write_json(root / "runs" / run / "status.json", status)


def _finish(root: Path, run: str) -> None:
    """The run's files appear (a copy of the demo run), then its status says finished."""
    for name in ("config.json", "model.safetensors", "metrics.json", "progress.jsonl"):
        shutil.copy(root / "runs" / "demo" / name, root / "runs" / run / name)
    _job(root, run, "finished", os.getpid())


@pytest.fixture
def demo_ws(tmp_path: Path) -> Path:
    ensure_demo(Workspace.at(tmp_path / "ws"))
    return tmp_path / "ws"


def test_a_run_finished_after_the_app_started_is_listed_on_the_next_rerun(demo_ws, monkeypatch):
    at = open_page("train", demo_ws, monkeypatch)
    (demo_ws / "runs" / "late").mkdir()
    _job(demo_ws, "late", "running", os.getpid())  # alive: this test's own process
    at.run()
    assert at.selectbox(key=state.TRAIN_FOLLOW).options == ["late · running"]
    assert "late" not in at.selectbox(key="train_quality_run").options
    _finish(demo_ws, "late")
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key=state.TRAIN_FOLLOW).options == ["late · finished"]
    assert "late" in at.selectbox(key="train_quality_run").options
    assert "late" in set(frame_with(at, "run", "dataset", "kind")["run"])
    other_tab = open_page("predict", demo_ws, monkeypatch)
    assert "late" in other_tab.selectbox(key="pred_run").options


def test_a_run_this_tab_trained_is_what_the_pages_open_on(demo_ws, monkeypatch) -> None:
    """Quality vs baselines and Reports once fell back to the demo after a run was trained."""
    from core import jobs

    monkeypatch.setattr(
        jobs, "start_training", lambda ws, config, **_: _job(ws.root, config.run, "running", os.getpid())
    )  # fmt: skip
    set_default_run(Workspace.at(demo_ws), "sample", "demo")  # the pickers' own choice: demo
    at = open_page("train", demo_ws, monkeypatch)
    (demo_ws / "runs" / "fresh").mkdir()
    at.text_input(key="train_form_run_sample_quick demo").set_value("fresh").run()
    at.button(key="train_form_start").click().run()
    assert at.selectbox(key="train_quality_run").value == "demo"  # still training
    _finish(demo_ws, "fresh")
    at.run()
    assert at.selectbox(key="train_quality_run").value == "fresh"
    at.switch_page("app_pages/reports.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="rep_run_sample").value == "fresh"


def test_a_dataset_without_runs_says_whose_run_a_page_shows(demo_ws, monkeypatch, tmp_path):
    """The demo's run stays on screen for a new dataset with no run, but never unannounced."""
    ingest(_shop_log(tmp_path / "shop.csv"), SHOP, Workspace.at(demo_ws), IngestOptions())
    at = open_page("segments", demo_ws, monkeypatch)
    assert not any("No run has been trained on" in i.value for i in at.info)
    at.session_state[state.DATASET] = SHOP
    at.run()
    assert not at.exception, at.exception
    said = " ".join(i.value for i in at.info).replace("\\", "")
    assert f"No run has been trained on **{SHOP}** yet" in said and "trained on **sample**" in said


def test_after_a_start_the_form_offers_a_new_run_name(demo_ws, monkeypatch) -> None:
    """Pressing Start again once a run had finished was refused: the name was the old run's."""
    from core import jobs

    monkeypatch.setattr(
        jobs, "start_training", lambda ws, config, **_: _job(ws.root, config.run, "running", os.getpid())
    )  # fmt: skip
    at = open_page("train", demo_ws, monkeypatch)
    name = at.text_input(key="train_form_run_sample_quick demo")
    name.set_value("first").run()
    at.button(key="train_form_start").click().run()
    assert not at.exception, at.exception
    at.run()
    fresh = at.text_input(key="train_form_run_sample_quick demo").value
    assert fresh != "first" and fresh.startswith("sample-quick-")


def test_top_paths_offer_no_category_labels_on_a_log_without_categories(two_ws, monkeypatch):
    at = open_page("data", two_ws, monkeypatch)
    _tab(at, "Top paths")
    assert at.radio(key="data_paths_level").value == "event"  # the demo has categories
    at.session_state[state.DATASET] = SHOP
    _tab(at, "Top paths")
    assert "data_paths_level" not in [r.key for r in at.radio]  # "(none) -> (end)" before
    assert not at.exception and not at.error


# --- words for analysts ----------------------------------------------------------------------


def _all_text(at: AppTest) -> str:
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error")
    kinds += ("success", "toast", "exception")
    parts = [str(e.value) for kind in kinds for e in at.get(kind)]
    parts += [str(e.proto.label) for e in at.get("expandable")]  # expanders and status labels
    return "\n".join(parts)


@pytest.mark.parametrize("page", PAGES)
def test_no_page_speaks_in_command_line_words(page, demo_ws, monkeypatch) -> None:
    """A stopped job (its status names the CLI's resume flag) and a job refused with its
    process id are on the Train page too: the dashboard says both without flags or ids."""
    _job(demo_ws, "stopped", "cancelled", 999_999_999)
    message = f"stopped at epoch 1, step 4; --resume (pid 999999999) in {demo_ws}/runs"
    status = read_json(demo_ws / "runs" / "stopped" / "status.json")
    atomic_write_json(demo_ws / "runs" / "stopped" / "status.json", {**status, "message": message})
    at = open_page(page, demo_ws, monkeypatch)
    text = _all_text(at)
    assert not CLI_WORDS.findall(text), CLI_WORDS.findall(text)
    assert str(demo_ws) not in text and str(Path.cwd()) not in text
    if page == "train":
        assert "stopped at epoch 1, step 4" in text
