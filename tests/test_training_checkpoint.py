"""Checkpoints: the best weights round-trip through load_run, and a run stopped mid-epoch and
resumed ends bit-for-bit where an uninterrupted run ends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from core.errors import BehaviorLensError
from core.inference.loading import load_run
from core.progress_record import ProgressRecord
from core.training.config import TrainConfig
from core.training.run import ModelOptions, train_on_sequences
from core.training.synthetic import synthetic_sequences
from core.training.trainer import Callback, Trainer
from core.workspace import Workspace

OPTIONS = ModelOptions(max_len=10, dim=16, layers=1, heads=2, dropout=0.3)


def config(**overrides) -> TrainConfig:
    values = dict(epochs=3, batch_size=8, nsp=True, patience=10, lr=5e-3, seed=3)
    return TrainConfig(**{**values, **overrides})


class StopAt(Callback):
    """Requests a stop (as SIGTERM does) once the trainer reaches `step`."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_batch_end(self, trainer: Trainer) -> None:
        if trainer.state.step == self.step:
            trainer.request_stop("cancelled")


class KeepBest(Callback):
    def __init__(self) -> None:
        self.weights: dict[str, torch.Tensor] = {}

    def on_epoch_end(self, trainer: Trainer) -> None:
        if trainer.improved:
            self.weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}


@pytest.fixture(scope="module")
def seqs():
    return synthetic_sequences(num_users=40, num_items=25, seed=2)


def test_best_checkpoint_round_trips_through_load_run(tmp_path: Path, seqs) -> None:
    keep = KeepBest()
    summary = train_on_sequences(
        seqs, "syn", tmp_path / "runs" / "r", config(), OPTIONS, extra_callbacks=[keep]
    )
    loaded = load_run(Workspace(tmp_path), "r", device="cpu")
    for name, value in loaded.model.state_dict().items():
        assert torch.equal(value, keep.weights[name]), name
    meta = json.loads((tmp_path / "runs" / "r" / "config.json").read_text())
    assert meta["best_epoch"] == summary["best_epoch"] and meta["dataset"] == "syn"
    assert meta["metrics"]["ndcg@10"] == summary["val"]["ndcg@10"]
    assert loaded.model_config.dim == 16 and loaded.train_config.nsp is True
    users = np.arange(6)
    cutoffs = seqs.offsets[users + 1] - 1
    prediction = loaded.predict_next(seqs, users, cutoffs)
    scores = loaded.scorer().score_histories(seqs, users, cutoffs)
    assert prediction.item_scores.shape == scores.shape == (6, len(seqs.item_vocab))
    assert (prediction.item_scores.argmax(1) == scores.argmax(1)).all()
    np.testing.assert_allclose(prediction.event_probs.sum(1), 1.0, rtol=1e-5)
    encoding = loaded.encode(seqs, users)
    assert encoding.pooled.shape == (6, 16) and encoding.states.shape == (6, 10, 16)


def test_resumed_run_matches_an_uninterrupted_run(tmp_path: Path, seqs) -> None:
    whole = train_on_sequences(seqs, "syn", tmp_path / "a", config(), OPTIONS)
    steps_per_epoch = int(np.ceil(38 / 8))  # users with >= 2 training events, see fixture
    stopped = train_on_sequences(
        seqs,
        "syn",
        tmp_path / "b",
        config(),
        OPTIONS,
        extra_callbacks=[StopAt(steps_per_epoch + 2)],
    )
    assert stopped["stopped"] == "cancelled"
    status = json.loads((tmp_path / "b" / "status.json").read_text())
    assert status["state"] == "cancelled"
    resumed = train_on_sequences(seqs, "syn", tmp_path / "b", config(), OPTIONS, resume=True)
    assert resumed["epochs"] == whole["epochs"] == 3
    assert resumed["val"] == whole["val"]
    a = load_file(str(tmp_path / "a" / "resume" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "resume" / "model.safetensors"))
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert json.loads((tmp_path / "b" / "status.json").read_text())["state"] == "finished"
    lines = (tmp_path / "b" / "progress.jsonl").read_text().splitlines()
    last = ProgressRecord.from_json(lines[-1])
    assert last.stage == "evaluate" and last.version == 1 and last.val == resumed["val"]
    assert [ProgressRecord.from_json(x).step for x in lines] == sorted(
        ProgressRecord.from_json(x).step for x in lines
    )  # the resumed run's curve does not repeat the steps trained again


def test_existing_run_is_not_overwritten(tmp_path: Path, seqs) -> None:
    train_on_sequences(seqs, "syn", tmp_path / "r", config(epochs=1, nsp=False), OPTIONS)
    with pytest.raises(BehaviorLensError, match="--resume"):
        train_on_sequences(seqs, "syn", tmp_path / "r", config(epochs=1), OPTIONS)
