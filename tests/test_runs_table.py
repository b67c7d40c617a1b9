"""`python -m core runs`: runs side by side with the baselines, epochs run vs best epoch, and the
dataset's default run, remembered on disk and opened by the dashboard's run pickers."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.run_info import evaluate_and_save, run_table
from core.analysis.runs_table import (
    DEFAULT_RUN_FILE,
    compare_runs,
    default_run,
    newest_run,
    preferred_run,
    set_default_run,
)
from core.cli import main
from core.data.ingest import ingest
from core.data.store import load_sequences
from core.errors import BehaviorLensError
from core.training.config import ModelOptions, TrainConfig
from core.training.run import train_on_sequences
from core.workspace import Workspace, atomic_write_json, read_json
from dashboard import state
from sample_data.demo import ensure_demo

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def _log(path: Path) -> Path:
    rows = ["user,item,time,event"]
    for u in range(24):
        for step in range(6):
            item = (u % 5 + step * (1 + u % 3)) % 12
            rows.append(f"u{u},i{item},2024-01-0{1 + step // 3}T10:{10 + step:02d}:00,view")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Dataset "tiny" with runs "a" (3 epochs, evaluated with baselines) and "b" (2 epochs)."""
    root = tmp_path_factory.mktemp("runs_table")
    workspace = Workspace.at(root / "ws")
    ingest(_log(root / "log.csv"), "tiny", workspace)
    sequences = load_sequences(workspace, "tiny")
    options = ModelOptions(max_len=8, dim=16, layers=1, heads=2, dropout=0.1)
    for run, epochs in (("a", 3), ("b", 2)):
        config = TrainConfig(epochs=epochs, eval_max_users=24, device="cpu", seed=0, patience=1)
        train_on_sequences(sequences, "tiny", workspace.run_dir(run), config, options)
    evaluate_and_save(workspace, "a", split="test", protocol="full")
    return workspace


def test_runs_sit_beside_the_baselines_with_epochs_run_and_best_epoch(two_runs) -> None:
    table = compare_runs(two_runs, "tiny").set_index("run")
    assert set(table.index) == {"a", "b"}
    a, b = table.loc["a"], table.loc["b"]
    metrics = read_json(two_runs.run_dir("a") / "metrics.json")
    assert a["figures"] == "test" and a["protocol"] == "full"
    assert a["ndcg@10"] == pytest.approx(metrics["a"]["ndcg@10"])
    assert a["popular ndcg@10"] == pytest.approx(metrics["popular"]["ndcg@10"])
    assert a["markov hr@10"] == pytest.approx(metrics["markov"]["hr@10"])
    config = read_json(two_runs.run_dir("b") / "config.json")
    assert b["figures"] == "validation" and b["ndcg@10"] == pytest.approx(
        config["metrics"]["ndcg@10"]
    )
    assert b["popular ndcg@10"] is None or b["popular ndcg@10"] != b["popular ndcg@10"]  # NaN
    for run, row in table.iterrows():
        meta = read_json(two_runs.run_dir(run) / "config.json")
        assert row["epochs run"] == meta["epoch"] and row["best epoch"] == meta["best_epoch"]
        assert (row["dim"], row["layers"], row["heads"]) == (16, 1, 2)
        assert row["parameters"] > 0 and row["minutes"] >= 0 and row["status"] == "finished"
    assert table.loc["a", "epochs run"] == 3 and table.loc["b", "epochs run"] == 2
    old = run_table(two_runs).set_index("run")  # the Train page's fine-tune list: same fix
    assert old.loc["a", "epochs run"] == 3 and "best epoch" in old
    assert compare_runs(two_runs, "other").empty


def test_default_run_is_remembered_and_preferred(tmp_path: Path, two_runs, capsys) -> None:
    ws = Workspace.at(tmp_path / "ws")
    shutil.copytree(two_runs.root, ws.root)
    newest = max(["a", "b"], key=lambda r: (read_json(ws.run_dir(r) / "config.json")["created"], r))
    assert default_run(ws, "tiny") is None and preferred_run(ws, "tiny") == newest
    args = ["runs", "--workspace", str(ws.root), "--dataset", "tiny"]
    assert main([*args, "--set-default", "a"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["default"] == "a" and [r["default"] for r in summary["runs"]].count(True) == 1
    assert read_json(ws.dataset_dir("tiny") / DEFAULT_RUN_FILE)["run"] == "a"
    assert preferred_run(ws, "tiny") == "a"
    assert main([*args, "--set-default", "nope"]) == 2  # one line, no traceback
    assert main(["runs", "--workspace", str(ws.root), "--set-default", "a"]) == 2
    shutil.rmtree(ws.run_dir("a"))  # a removed default falls back to the newest run
    assert default_run(ws, "tiny") is None and preferred_run(ws, "tiny") == "b"


def test_a_run_of_another_dataset_cannot_be_its_default(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    ensure_demo(ws)
    shutil.copytree(ws.dataset_dir("sample"), ws.dataset_dir("other"))
    with pytest.raises(BehaviorLensError, match="trained on dataset 'sample'"):
        set_default_run(ws, "other", "demo")


@pytest.fixture
def demo_two_runs(tmp_path: Path) -> Path:
    """The demo workspace plus "demo-new", a copy of the demo run created later."""
    ws = Workspace.at(tmp_path / "ws")
    ensure_demo(ws)
    shutil.copytree(ws.run_dir("demo"), ws.run_dir("demo-new"))
    meta = read_json(ws.run_dir("demo-new") / "config.json")
    atomic_write_json(ws.run_dir("demo-new") / "config.json", {**meta, "created": "2999-01-01"})
    return ws.root


def _open(page: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv(state.WORKSPACE_ENV, str(root))
    monkeypatch.setenv(state.DEMO_ENV, "1")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def test_pickers_open_on_the_default_else_the_newest_run(demo_two_runs, monkeypatch) -> None:
    at = _open("predict", demo_two_runs, monkeypatch)
    assert at.selectbox(key="pred_run").value == "demo-new"  # no default yet: the newest
    at = _open("train", demo_two_runs, monkeypatch)
    runs = next(e.value for e in at.dataframe if "best epoch" in e.value.columns)
    assert set(runs["run"]) == {"demo", "demo-new"}
    assert {"epochs run", "best epoch", "popular ndcg@10", "markov ndcg@10"} <= set(runs.columns)
    at.selectbox(key="train_runs_default_sample_pick").set_value("demo").run()
    at.button(key="train_runs_default_sample").click().run()
    assert not at.exception
    assert default_run(Workspace(demo_two_runs), "sample") == "demo"
    at = _open("predict", demo_two_runs, monkeypatch)  # a new tab opens on the default
    assert at.selectbox(key="pred_run").value == "demo"
    at.button(key="pred_export").click().run()
    assert not at.exception and len(at.get("download_button")) == 1


def test_pages_open_on_a_finished_run_and_never_offer_one_still_training(
    demo_two_runs, monkeypatch
) -> None:
    """A newer cancelled run is not what pages open on; a run still training (its config.json
    already written, as the trainer does at start) is not offered at all."""
    ws = Workspace(demo_two_runs)
    atomic_write_json(ws.run_dir("demo-new") / "status.json", {"state": "cancelled"})
    assert newest_run(ws, "sample") == "demo"
    shutil.copytree(ws.run_dir("demo"), ws.run_dir("busy"))
    status = {"state": "running", "pid": os.getpid(), "updated": time.time()}  # alive: ours
    atomic_write_json(ws.run_dir("busy") / "status.json", status)
    at = _open("predict", demo_two_runs, monkeypatch)
    assert at.selectbox(key="pred_run").value == "demo"
    assert "busy" not in at.selectbox(key="pred_run").options
    assert "demo-new" in at.selectbox(key="pred_run").options  # cancelled: still pickable
