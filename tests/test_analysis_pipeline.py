"""One step from a log to every insight: `train --analyze`, `analyze`, and the dashboard's
background job, which chains the analysis in the same process with progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import jobs
from core.analysis.pipeline import ANALYSIS_FILE, analyze_run
from core.cli import main
from core.data.ingest import ingest
from core.workspace import Workspace
from tests.test_segments_meaning import items_only_log

OUTPUTS = (
    "metrics.json",
    "segments.parquet",
    "segment_assignments.parquet",
    "session_intents.parquet",
    "anomalies.parquet",
    ANALYSIS_FILE,
)


@pytest.fixture
def plays(tmp_path: Path) -> Workspace:
    log, _ = items_only_log(tmp_path / "plays.txt", users=60)
    workspace = Workspace.at(tmp_path / "ws")
    ingest(log, "plays", workspace)
    return workspace


def test_train_with_analyze_leaves_every_insight(plays: Workspace, capsys) -> None:
    args = ["train", "--dataset", "plays", "--run", "r", "--epochs", "2", "--analyze"]
    assert main([*args, "--workspace", str(plays.root)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {s["state"] for s in summary["analysis"].values()} == {"done"}
    run_dir = plays.run_dir("r")
    assert all((run_dir / name).is_file() for name in OUTPUTS)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "finished" and "analysed" in status["message"]
    lines = [json.loads(x) for x in (run_dir / "progress.jsonl").read_text().splitlines()]
    assert [x["message"] for x in lines if x.get("stage") == "analyze"][-1] == "done"


def test_analyze_skips_what_the_log_cannot_support(plays: Workspace, capsys) -> None:
    ws = ["--workspace", str(plays.root)]
    assert main(["train", "--dataset", "plays", "--run", "r", "--epochs", "1", *ws]) == 0
    for name in OUTPUTS:
        assert not (plays.run_dir("r") / name).exists() or name == "metrics.json"
    result = analyze_run(plays, "r")
    # one session per user here (no clock times): every step still runs or says why not
    assert set(result.steps) == {"evaluate", "segments", "session intents", "anomalies"}
    assert all(s["state"] in ("done", "skipped") for s in result.steps.values())
    skipped = [s for s in result.steps.values() if s["state"] == "skipped"]
    assert all(s["reason"] and "--" not in s["reason"] for s in skipped)
    assert main(["analyze", "--run", "r", *ws]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run"] == "r"


def test_background_job_chains_the_analysis(plays: Workspace) -> None:
    config = jobs.TrainJobConfig(dataset="plays", run="bg", epochs=2, device="cpu")
    assert "--analyze" in config.to_args()
    jobs.start_training(plays, config)
    status = jobs.wait(plays, "bg", timeout=240)
    assert status.state == "finished", status.log_tail
    assert all((plays.run_dir("bg") / name).is_file() for name in OUTPUTS)
