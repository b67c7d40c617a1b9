"""Train -> evaluate -> predict on sample_data, end to end: the model beats most-popular."""

from __future__ import annotations

import json

import pytest
from fixtures_model import SampleRun, trained_sample

from core.cli import main
from core.evaluation.leave_one_out import evaluate
from core.evaluation.report import evaluate_baselines


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    return trained_sample(tmp_path_factory)


def test_trained_model_beats_the_popularity_baseline_on_the_test_split(
    sample_run: SampleRun,
) -> None:
    seqs = sample_run.sequences
    model = evaluate(sample_run.loaded.scorer(), seqs, split="test", protocol="full")
    baselines = evaluate_baselines(seqs, split="test", protocol="full")
    assert model["users"] == baselines["popular"]["users"]
    # every user is scored, except those whose held-out event is a search (no item to rank)
    assert model["users"] + model["skipped_users"] == len(seqs.user_ids)
    assert model["item_less_events"] > 0 and model["skipped_users"] < 0.05 * len(seqs.user_ids)
    assert model["ndcg@10"] > baselines["popular"]["ndcg@10"] + 0.02, (model, baselines)
    assert model["hr@10"] > baselines["popular"]["hr@10"]


def test_evaluate_and_predict_commands_on_the_trained_run(sample_run: SampleRun, capsys) -> None:
    ws = str(sample_run.workspace.root)
    assert main(["evaluate", "--run", sample_run.run, "--baselines", "--workspace", ws]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["protocol"] == "full"
    assert summary["ndcg@10"] > summary["baselines"]["popular"]["ndcg@10"]
    user = str(sample_run.sequences.user_ids[0])
    argv = ["predict", "--run", sample_run.run, "--user", user, "--top-k", "3", "--workspace", ws]
    assert main(argv) == 0
    prediction = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert prediction["user"] == user and len(prediction["items"]) == 3
