"""The real path: ingest -> train a parent run -> `finetune` -> a new run that loads back;
`explain` on both runs. Tiny data: the point is the wiring, files and JSON, not the accuracy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.training.finetune.run import load_finetuned
from core.workspace import Workspace


def tiny_log(path: Path, users: int = 40, seed: int = 0) -> Path:
    """users x 3-4 sessions (a day apart) of view/add_to_cart/purchase events."""
    rng = np.random.default_rng(seed)
    lines = ["user_id,timestamp,event_type,item_id,category"]
    for u in range(users):
        t = 1_790_000_000 + u * 100
        for _ in range(int(rng.integers(3, 5))):
            for k in range(int(rng.integers(2, 6))):
                event = rng.choice(["view", "add_to_cart", "purchase"], p=[0.6, 0.25, 0.15])
                item = int(rng.integers(100, 130))
                lines.append(f"{1000 + u},{t + 60 * k},{event},{item},c{item % 3}")
            t += 86_400
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("ft")
    ws = Workspace(root / "ws")
    log = tiny_log(root / "log.csv")
    assert main(["ingest", str(log), "--name", "tiny", "--workspace", str(ws.root)]) == 0
    assert (
        main(
            [
                "train",
                "--dataset",
                "tiny",
                "--run",
                "base",
                "--workspace",
                str(ws.root),
                "--epochs",
                "1",
                "--dim",
                "16",
                "--layers",
                "1",
                "--max-len",
                "20",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    return ws


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_finetune_cli_writes_a_run_that_loads_back(trained: Workspace, capsys) -> None:
    capsys.readouterr()
    code = main(
        [
            "finetune",
            "--run",
            "base",
            "--name",
            "nsp",
            "--workspace",
            str(trained.root),
            "--target",
            "next-session-purchase",
            "--epochs",
            "2",
            "--freeze-blocks",
            "1",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    summary = last_json(capsys)
    assert summary["run"] == "nsp" and summary["task"] == "sequence"
    for part in ("metrics", "baseline"):
        assert {"roc_auc", "pr_auc", "f1", "confusion_matrix"} <= set(summary[part])
    run_dir = trained.run_dir("nsp")
    assert {p.name for p in run_dir.iterdir()} == {
        "config.json",
        "model.safetensors",
        "head.safetensors",
    }
    config = json.loads((run_dir / "config.json").read_text())
    assert config["parent"] == "base" and config["kind"] == "finetune"
    assert config["finetune_config"]["freeze_blocks"] == 1
    loaded, model = load_finetuned(trained, "nsp", "cpu")
    assert model.task == "sequence" and loaded.dataset == "tiny"
    batch_items = torch.tensor([[3, 4, 5]])
    from core.model.transformer import EncoderInput

    logits = model(EncoderInput(batch_items, torch.tensor([[3, 3, 4]]))).logits
    assert logits.shape == (1, 2)


def test_finetune_cli_errors_are_one_line(trained: Workspace, capsys, tmp_path) -> None:
    args = ["finetune", "--run", "base", "--workspace", str(trained.root), "--device", "cpu"]
    assert main([*args, "--name", "x", "--target", "churn", "--churn-days", "400"]) == 2
    assert "spans only" in capsys.readouterr().err
    bad = tmp_path / "labels.csv"
    bad.write_text("user_id,label\n1000,a\n1001,\n")
    assert main([*args, "--name", "y", "--labels", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3:label" in err and "Traceback" not in err
    assert main([*args, "--name", "z", "--tag", "precedes-purchase", "--freeze-blocks", "9"]) == 2
    assert "freeze-blocks" in capsys.readouterr().err
    assert not trained.run_dir("x").exists() and not trained.run_dir("z").exists()


def test_explain_cli_on_a_user(trained: Workspace, capsys, tmp_path) -> None:
    capsys.readouterr()
    out = tmp_path / "ex.json"
    code = main(
        [
            "explain",
            "--run",
            "base",
            "--user",
            "1003",
            "--workspace",
            str(trained.root),
            "--steps",
            "16",
            "--top",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = last_json(capsys)
    assert len(summary["top_events"]) == 3
    assert sum(summary["rollout_last"]) == pytest.approx(1.0, abs=1e-4)
    full = json.loads(out.read_text())
    assert len(full["attention"]) == 1  # one layer
    assert "exploratory" in full["notes"]["attention"]
    assert (
        main(["explain", "--run", "base", "--user", "nobody", "--workspace", str(trained.root)])
        == 2
    )
    assert "no user 'nobody'" in capsys.readouterr().err


OLD_FLAGS = [
    "--run",
    "--name",
    "--labels",
    "--target",
    "--tag",
    "--churn-days",
    "--purchase-events",
    "--freeze-embeddings",
    "--freeze-blocks",
    "--epochs",
    "--max-minutes",
    "--lr",
    "--weight-decay",
    "--dropout",
    "--no-class-weights",
    "--patience",
    "--device",
    "--seed",
]


def test_help_keeps_every_flag_and_shows_the_defaults(capsys) -> None:
    from core.training.config import FineTuneConfig
    from core.training.targets import CHURN_DAYS

    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert set(OLD_FLAGS) <= set(re.findall(r"--[a-z][a-z-]*", text))
    assert f"(default: {FineTuneConfig.epochs})" in text and f"(default: {CHURN_DAYS:g})" in text
