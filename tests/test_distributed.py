"""Training past one process: a real `torchrun --nproc_per_node=2` with gloo on the CPU.

Two ranks share each global batch, average gradients, and rank 0 alone evaluates and writes; the
run must load in a single process and validate close to a one-process run with the same seed
and total batch size. A budget-stopped distributed run resumes under torchrun too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core.cli import main
from core.data.ingest import ingest
from core.training.checkpoint import load_run
from core.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ["--dataset", "s", "--epochs", "2", "--batch-size", "128", "--seed", "0", "--device", "cpu"]


def torchrun(workspace: Path, *args: str) -> list[dict]:
    """`torchrun --nproc_per_node=2 -m core -- train …`; the JSON summary of each rank.

    Each rank's stdout goes to its own file (`--redirects 1`): two ranks printing to one pipe
    at the same moment can interleave their lines.
    """
    logs = Path(tempfile.mkdtemp(dir=workspace.parent, prefix="torchrun-"))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--standalone", "--redirects", "1", "--log-dir", str(logs), "-m", "core", "--",
               "train", *args, "--workspace", str(workspace)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    outputs = sorted(logs.rglob("stdout.log"), key=lambda path: int(path.parent.name))
    assert done.returncode == 0, done.stderr[-3000:] + "".join(p.read_text() for p in outputs)
    lines = [line for path in outputs for line in path.read_text().splitlines()]
    return [json.loads(line) for line in lines if line.startswith('{"run"')]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp") / "ws"
    ingest(ROOT / "sample_data" / "events.csv", "s", Workspace.at(root))
    return root


def test_two_processes_train_like_one(sample: Path, capsys) -> None:
    ranks = torchrun(sample, *TRAIN, "--run", "ddp")
    assert len(ranks) == 2 and ranks[0]["steps"] == ranks[1]["steps"] > 0
    assert ranks[0]["val"] == ranks[1]["val"]  # rank 0's validation, broadcast
    loaded = load_run(Workspace.at(sample), "ddp", "cpu")  # one process reads what rank 0 wrote
    assert loaded.dataset == "s"
    status = json.loads((sample / "runs" / "ddp" / "status.json").read_text())
    assert status["state"] == "finished"
    assert main(["train", *TRAIN, "--run", "single", "--workspace", str(sample)]) == 0
    single = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert single["steps"] == ranks[0]["steps"]  # the same total batch size
    assert abs(single["val"]["ndcg@10"] - ranks[0]["val"]["ndcg@10"]) < 0.03


def test_a_distributed_run_resumes_under_torchrun(sample: Path) -> None:
    first = torchrun(sample, *TRAIN, "--run", "again", "--max-minutes", "0.02")
    assert first[0]["stopped"] == "budget" and first[0]["steps"] == first[1]["steps"]
    resumed = torchrun(sample, "--dataset", "s", "--run", "again", "--resume", "--max-minutes", "5")
    assert resumed[0]["stopped"] == "completed" and resumed[0]["epochs"] == 2
    assert resumed[0]["steps"] > first[0]["steps"]
