"""Past one process: a real `torchrun --nproc_per_node=2` with gloo on the CPU.

Training: two ranks share each global batch under DistributedDataParallel and rank 0 alone
writes; the run must load in a single process and validate close to a one-process run with the
same seed and total batch size, and a budget-stopped distributed run resumes under torchrun.
Scoring: `evaluate` and `predict --all` split the users between the ranks and must give what
one process gives (the same metrics, the same file). The sharding helpers are checked in
process, without a process group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.cli import main
from core.data.ingest import ingest
from core.inference.loading import load_run
from core.inference.scoring import ModelScorer
from core.model import BehaviorTransformer, ModelConfig
from core.training.distributed import DistContext, shard_users
from core.training.sampler import DistributedBatchSampler
from core.training.synthetic import synthetic_sequences
from core.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ["--dataset", "s", "--epochs", "2", "--batch-size", "128", "--seed", "0", "--device", "cpu"]
RANKS = [DistContext(0, 2), DistContext(1, 2)]


def torchrun(workspace: Path, *args: str) -> list[dict]:
    """`torchrun --nproc_per_node=2 -m core -- ARGS…`; the JSON summary each rank printed.

    Each rank's stdout goes to its own file (`--redirects 1`): two ranks printing to one pipe
    at the same moment can interleave their lines.
    """
    logs = Path(tempfile.mkdtemp(dir=workspace.parent, prefix="torchrun-"))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--standalone", "--redirects", "1", "--log-dir", str(logs), "-m", "core", "--",
               *args, "--workspace", str(workspace)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    outputs = sorted(logs.rglob("stdout.log"), key=lambda path: int(path.parent.name))
    assert done.returncode == 0, done.stderr[-3000:] + "".join(p.read_text() for p in outputs)
    lines = [line for path in outputs for line in path.read_text().splitlines()]
    return [json.loads(line) for line in lines if line.startswith("{")]


def in_process(capsys: pytest.CaptureFixture[str], workspace: Path, *args: str) -> dict:
    """The same command in this one process; its JSON summary."""
    assert main([*args, "--workspace", str(workspace)]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp") / "ws"
    ingest(ROOT / "sample_data" / "events.csv", "s", Workspace.at(root))
    return root


@pytest.fixture(scope="module")
def ddp_run(sample: Path) -> list[dict]:
    """Run "ddp", trained by two ranks; each rank's summary."""
    return torchrun(sample, "train", *TRAIN, "--run", "ddp")


def test_two_processes_train_like_one(sample: Path, ddp_run: list[dict], capsys) -> None:
    ranks = ddp_run
    assert len(ranks) == 2 and ranks[0]["steps"] == ranks[1]["steps"] > 0
    assert {r["distributed"] for r in ranks} == {"DistributedDataParallel"}
    assert {r["world_size"] for r in ranks} == {2}
    assert ranks[0]["val"] == ranks[1]["val"]  # rank 0's validation, broadcast
    assert 0 < ranks[0]["data_share"] < 1 and ranks[0]["sequences_per_second"] > 0
    loaded = load_run(Workspace.at(sample), "ddp", "cpu")  # one process reads what rank 0 wrote
    assert loaded.dataset == "s"
    status = json.loads((sample / "runs" / "ddp" / "status.json").read_text())
    assert status["state"] == "finished"
    single = in_process(capsys, sample, "train", *TRAIN, "--run", "single")
    assert single["distributed"] is None and single["world_size"] == 1
    assert single["steps"] == ranks[0]["steps"]  # the same total batch size
    assert abs(single["val"]["ndcg@10"] - ranks[0]["val"]["ndcg@10"]) < 0.03


def test_a_distributed_run_resumes_under_torchrun(sample: Path) -> None:
    first = torchrun(sample, "train", *TRAIN, "--run", "again", "--max-minutes", "0.02")
    assert first[0]["stopped"] == "budget" and first[0]["steps"] == first[1]["steps"]
    resumed = torchrun(
        sample, "train", "--dataset", "s", "--run", "again", "--resume", "--max-minutes", "5"
    )
    assert resumed[0]["stopped"] == "completed" and resumed[0]["epochs"] == 2
    assert resumed[0]["steps"] > first[0]["steps"]
    assert resumed[0]["distributed"] == "DistributedDataParallel"


def test_sharded_evaluate_equals_one_process(sample: Path, ddp_run: list[dict], capsys) -> None:
    sharded = torchrun(sample, "evaluate", "--run", "ddp", "--baselines")
    assert len(sharded) == 1  # rank 0 alone prints
    written = json.loads((sample / "runs" / "ddp" / "metrics.json").read_text())
    single = in_process(capsys, sample, "evaluate", "--run", "ddp", "--baselines")
    baselines = sharded[0].pop("baselines")
    assert baselines.keys() == single["baselines"].keys()
    for name, metrics in single.pop("baselines").items():
        assert baselines[name] == pytest.approx(metrics, abs=1e-6)
    assert sharded[0] == pytest.approx(single, abs=1e-6)
    assert written == json.loads((sample / "runs" / "ddp" / "metrics.json").read_text())


def test_sharded_predict_all_writes_the_same_file(
    sample: Path, ddp_run: list[dict], capsys
) -> None:
    two, one = sample / "two.csv", sample / "one.csv"
    sharded = torchrun(sample, "predict", "--run", "ddp", "--all", "--out", str(two))
    single = in_process(capsys, sample, "predict", "--run", "ddp", "--all", "--out", str(one))
    assert len(sharded) == 1 and sharded[0]["rows"] == single["rows"] > 0
    assert two.read_bytes() == one.read_bytes()


def test_shards_are_contiguous_whole_blocks_that_add_up() -> None:
    users = np.arange(10, 1500)
    shares = [shard_users(users, rank, block=256) for rank in RANKS]
    assert np.array_equal(np.concatenate(shares), users)  # rank order restores the order
    assert len(shares[0]) % 256 == 0 and min(map(len, shares)) > 0
    assert shard_users(users, DistContext(), block=256) is users
    assert [len(shard_users(users[:3], rank, block=256)) for rank in RANKS] == [0, 3]


def test_every_rank_takes_its_slice_of_each_global_batch() -> None:
    users, lengths = np.arange(50), np.arange(50) % 7 + 2
    samplers = [DistributedBatchSampler(users, lengths, 8, 0, rank) for rank in RANKS]
    one = DistributedBatchSampler(users, lengths, 8, 0)
    batches = samplers[0].global_batches(3)
    assert all((a == b).all() for a, b in zip(batches, one.global_batches(3), strict=True))
    assert all((a == b).all() for a, b in zip(batches, samplers[1].global_batches(3), strict=True))
    for batch in batches:
        parts = [sampler.shard(batch) for sampler in samplers]
        assert sorted(np.concatenate(parts).tolist()) == sorted(batch.tolist())
        assert abs(len(parts[0]) - len(parts[1])) <= 1


def test_ranks_encode_the_batches_one_process_would() -> None:
    seqs = synthetic_sequences(num_users=40, num_items=20, num_event_types=3)
    config = ModelConfig(num_items=len(seqs.item_vocab), num_events=len(seqs.event_vocab), dim=8)
    torch.manual_seed(0)
    scorer = ModelScorer(BehaviorTransformer(config), batch_size=8)
    users = np.arange(seqs.num_users)
    cutoffs = seqs.offsets[users + 1]
    whole = dict(_states(scorer.query_states(seqs, users, cutoffs)))
    shares = [dict(_states(scorer.query_states(seqs, users, cutoffs, rank))) for rank in RANKS]
    assert shares[0].keys().isdisjoint(shares[1].keys()) and all(shares)
    assert {**shares[0], **shares[1]}.keys() == whole.keys()
    for share in shares:
        assert all(torch.equal(state, whole[user]) for user, state in share.items())


def _states(batches: object) -> list[tuple[int, torch.Tensor]]:
    return [(int(i), h) for idx, hidden in batches for i, h in zip(idx, hidden, strict=True)]


def test_sharded_anomalies_score_like_one_process(
    sample: Path, ddp_run: list[dict], capsys
) -> None:
    two, one = sample / "anomalies-two.csv", sample / "anomalies-one.csv"
    sharded = torchrun(sample, "anomalies", "--run", "ddp", "--out", str(two))
    single = in_process(capsys, sample, "anomalies", "--run", "ddp", "--out", str(one))
    assert len(sharded) == 1 and sharded[0]["users"] == single["users"] > 0  # rank 0 prints
    a = pd.read_csv(two).set_index("user_id").sort_index()
    b = pd.read_csv(one).set_index("user_id").sort_index()
    assert np.allclose(a["score"], b["score"], atol=1e-3)  # same windows, other batch mates
    assert (a["flagged"] == b["flagged"]).mean() > 0.99
