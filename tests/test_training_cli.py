"""`python -m core train` end to end on a tiny ingested log: JSON summary, run folder, errors."""

from __future__ import annotations

import json
import re

import pytest

from core.analysis.run_info import training_choices
from core.cli import main
from core.inference.loading import load_run


def tiny_log() -> str:
    rows = ["user,item,time,event"]
    for u in range(24):
        for step in range(6):
            item = (u % 5 + step * (1 + u % 3)) % 12
            rows.append(f"u{u},i{item},2024-01-0{1 + step // 3}T10:{10 + step:02d}:00,view")
    return "\n".join(rows) + "\n"


def test_cli_trains_and_prints_a_json_summary(workspace, write_log, capsys) -> None:
    path = write_log("log.csv", tiny_log())
    ws = str(workspace.root)
    assert main(["ingest", "--workspace", ws, "--name", "tiny", str(path)]) == 0
    capsys.readouterr()
    args = [
        "train",
        "--workspace",
        ws,
        "--dataset",
        "tiny",
        "--run",
        "r1",
        "--epochs",
        "2",
        "--dim",
        "16",
        "--layers",
        "1",
        "--heads",
        "2",
        "--max-len",
        "8",
        "--batch-size",
        "8",
        "--threads",
        "1",
    ]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run"] == "r1" and summary["epochs"] == 2
    assert 1 <= summary["best_epoch"] <= 2 and 0.0 <= summary["val"]["ndcg@10"] <= 1.0
    assert summary["seconds"] >= 0
    run = load_run(workspace, "r1")
    assert run.dataset == "tiny" and run.model_config.mode == "causal"
    assert json.loads((workspace.run_dir("r1") / "status.json").read_text())["state"] == "finished"
    # dropout was not given: it is read off the data, with its reason
    assert [c["name"] for c in summary["sized_from_data"]] == ["dropout"]
    saved = json.loads((workspace.run_dir("r1") / "config.json").read_text())
    assert saved["sized_from_data"] == summary["sized_from_data"]
    assert run.model_config.dropout == summary["sized_from_data"][0]["value"]
    assert run.model_config.max_len == 8
    assert run.train_config.threads == 1  # --threads is kept with the run
    shown = training_choices(workspace, "r1")  # what the Train page shows under the run
    assert shown[0].startswith("dropout ") and shown[-1].startswith("item loss: full softmax")

    assert main(args) == 2  # the run exists: one-line error, no traceback
    assert "--resume" in capsys.readouterr().err
    other = [a if a != "r1" else "r2" for a in args]
    assert main([*other, "--heads", "3"]) == 2  # 16 % 3: a user error, not a traceback
    assert "divisible" in capsys.readouterr().err


def test_masked_run_takes_its_hidden_share_from_the_data(workspace, write_log, capsys) -> None:
    path = write_log("log.csv", tiny_log())
    ws = str(workspace.root)
    assert main(["ingest", "--workspace", ws, "--name", "tiny", str(path)]) == 0
    capsys.readouterr()
    args = ["train", "--workspace", ws, "--dataset", "tiny", "--run", "m", "--objective"]
    small = ["--epochs", "1", "--dim", "16", "--layers", "1", "--batch-size", "8", "--threads", "1"]
    assert main([*args, "masked", *small]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    share = {c["name"]: c["value"] for c in summary["sized_from_data"]}["mask_ratio"]
    assert share == 0.6  # 6 events per user: 5 hidden would be 83%, capped at 60%
    assert load_run(workspace, "m").train_config.mask_ratio == share  # resume reads it back
    assert any(c.startswith("mask ratio 0.6: ") for c in training_choices(workspace, "m"))
    assert main([*args, "masked", *small, "--run", "m2", "--mask-ratio", "0.3"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "mask_ratio" not in {c["name"] for c in summary["sized_from_data"]}
    assert load_run(workspace, "m2").train_config.mask_ratio == 0.3


def test_cli_reports_a_missing_dataset(workspace, capsys) -> None:
    code = main(["train", "--workspace", str(workspace.root), "--dataset", "nope", "--run", "r"])
    assert code == 2 and "nope" in capsys.readouterr().err


OLD_FLAGS = [
    "--dataset",
    "--run",
    "--objective",
    "--nsp",
    "--epochs",
    "--max-minutes",
    "--max-len",
    "--dim",
    "--layers",
    "--heads",
    "--dropout",
    "--batch-size",
    "--lr",
    "--loss",
    "--negatives",
    "--patience",
    "--eval-users",
    "--device",
    "--seed",
    "--threads",
    "--analyze",
    "--resume",
]


def test_help_keeps_every_flag_and_shows_the_defaults(capsys) -> None:
    from core.training.config import ModelOptions, TrainConfig

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert set(OLD_FLAGS) <= set(re.findall(r"--[a-z][a-z-]*", text))
    assert f"hidden width (default: {ModelOptions.dim})" in text
    assert f"(default: {TrainConfig.eval_max_users})" in text and "0 = all" in text
