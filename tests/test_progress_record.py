"""One progress record for every job: round trip, version refusal, lines of older runs, and the
dashboard's progress functions on what a pre-training job and a fine-tuning job really write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core import jobs
from core.model.transformer import BehaviorTransformer
from core.progress_record import (
    JobFiles,
    JobState,
    ProgressRecord,
    RecordVersionError,
    read_progress_file,
)
from core.training import targets as tg
from core.training.config import TrainConfig
from core.training.finetune.fit import FineTuneConfig
from core.training.finetune.run import finetune_encoder
from core.training.run import ModelOptions, model_config_for, train_on_sequences
from core.training.synthetic import synthetic_sequences
from core.workspace import Workspace
from dashboard.components.training import _eta_text, _fraction, progress_frame

OPTIONS = ModelOptions(max_len=12, dim=16, layers=1, heads=2, dropout=0.1)


def test_record_round_trips_through_a_line() -> None:
    record = ProgressRecord(
        "evaluate", 8, 16, epoch=2, epochs=4, loss=1.5, val={"ndcg@10": 0.2}, elapsed=3.2, eta=3.2
    )
    line = record.to_json()
    assert json.loads(line)["version"] == 1 and "\n" not in line
    assert ProgressRecord.from_json(line) == record
    assert record.fraction == 0.5
    state = JobState("running", 12, "2026-12-01T00:00:00+00:00", "2026-12-01T00:01:00+00:00")
    assert JobState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_a_newer_version_is_refused_with_its_number(tmp_path: Path) -> None:
    with pytest.raises(RecordVersionError, match="version 7.*reads version 1"):
        ProgressRecord.from_json('{"version": 7, "stage": "train"}')
    with pytest.raises(RecordVersionError, match="format version 2"):
        JobState.from_dict({"version": 2, "state": "running"})
    path = tmp_path / "progress.jsonl"
    path.write_text('{"stage": "train", "step": 1}\n{"version": 7, "stage": "train"}\n')
    with pytest.raises(RecordVersionError, match=r"progress.jsonl, line 2"):
        read_progress_file(path)


def test_lines_of_older_runs_are_read() -> None:
    train = ProgressRecord.from_json(
        '{"stage": "train", "epoch": 1, "epochs": 2, "step": 3, "total_steps": 6, "loss": 2.0,'
        ' "val": null, "elapsed": 1.5, "eta": 1.5}'
    )
    assert (train.version, train.step, train.fraction, train.eta) == (1, 3, 0.5, 1.5)
    analysis = ProgressRecord.from_json(
        '{"stage": "analyze", "analysis_step": 1, "analysis_steps": 4, "message": "segments"}'
    )
    assert (analysis.step, analysis.total_steps, analysis.message) == (1, 4, "segments")
    finetune = ProgressRecord.from_json(
        '{"stage": "finetune", "step": 2, "total_steps": 5, "loss": 0.4, "val_score": 0.8,'
        ' "message": "epoch 2/5"}'
    )
    assert finetune.val == {"score": 0.8} and finetune.fraction == 0.4
    bare = ProgressRecord.from_json('{"step": 4, "total_steps": 4, "val": {"ndcg@10": 0.1}}')
    assert bare.stage == "evaluate" and bare.val == {"ndcg@10": 0.1}
    old_status = JobState.from_dict({"state": "running", "pid": 3, "started": 1.0})
    assert (old_status.state, old_status.started, old_status.message) == ("running", 1.0, "")


def test_half_written_and_damaged_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    good = ProgressRecord("train", 1, 2).to_json()
    path.write_text(f"{good}\n[1, 2]\nnot json\n{good}\n{good[:10]}")
    assert [r.step for r in read_progress_file(path)] == [1, 1]
    assert read_progress_file(path, since_line=3) == [ProgressRecord("train", 1, 2)]


@pytest.fixture(scope="module")
def seqs():
    return synthetic_sequences(num_users=40, num_event_types=3, min_len=6, max_len=12, seed=2)


def test_dashboard_follows_a_pretraining_job(tmp_path: Path, seqs) -> None:
    ws = Workspace(tmp_path)
    config = TrainConfig(epochs=2, batch_size=8, seed=1)
    summary = train_on_sequences(seqs, "syn", ws.run_dir("r"), config, OPTIONS)
    records = jobs.read_progress(ws, "r")
    assert {r.stage for r in records} == {"train", "evaluate"}
    assert all(r.version == 1 and r.epochs == 2 for r in records)
    assert records[-1].val == summary["val"] and _fraction(records[-1]) == 1.0
    frame = progress_frame(records)
    assert {"step", "loss", "val ndcg@10"} <= set(frame.columns)
    assert frame["step"].is_monotonic_increasing
    assert _eta_text(records[-1]) == " · about 0 s left"
    status = jobs.job_status(ws, "r")
    assert status.state == "finished" and status.pid is not None


def _encoder(seqs) -> BehaviorTransformer:
    torch.manual_seed(0)
    config = model_config_for(seqs, OPTIONS, "causal")
    return BehaviorTransformer(config)


def test_dashboard_follows_a_finetuning_job(tmp_path: Path, seqs) -> None:
    ws = Workspace(tmp_path)
    jobs.jobs_dir(ws).mkdir()
    files = JobFiles(jobs.jobs_dir(ws) / "ft.progress.jsonl", jobs.jobs_dir(ws) / "ft.status.json")
    targets = tg.precedes_purchase(seqs, ("e2",))
    config = FineTuneConfig(epochs=2, batch_size=8, patience=5, device="cpu")
    result = finetune_encoder(_encoder(seqs), seqs, targets, config, None, files)
    records = jobs.read_progress(ws, "ft")
    assert {r.stage for r in records} == {"finetune", "evaluate"}
    evaluations = [r for r in records if r.stage == "evaluate"]
    assert (
        [r.epoch for r in evaluations] == [1, 2] == [e["epoch"] for e in result.history.epochs_log]
    )
    assert _fraction(records[-1]) == 1.0
    frame = progress_frame(records)
    assert {"step", "loss", "val roc_auc"} <= set(frame.columns)
    state = JobState.from_dict(json.loads(files.status_path.read_text()))
    assert state.state == "running" and state.message.startswith("epoch 2/2, val score")
