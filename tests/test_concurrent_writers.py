"""Concurrent writers never corrupt a run's outputs (issue #13).

Real processes on the same tiny run at once: `analyze` (evaluate, segment, session intents,
anomalies in turn), `segment --k 3` and `anomalies`, so segments and anomalies each have two
writers, while this process keeps reading the outputs under the run's shared lock (`core.locks.folder_lock`), as a report does. Every command must
succeed, every file must be complete, the files of one step must come from one writer
(segments, assignments and their summary agree), and no temp file may remain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from core.analysis.naming import read_renames, save_renames
from core.data.ingest import ingest
from core.data.store import load_sequences
from core.locks import LOCK_FILE, folder_lock
from core.training.config import TrainConfig
from core.training.run import ModelOptions, train_on_sequences
from core.workspace import Workspace, write_together

ROOT = Path(__file__).resolve().parent.parent
RUN = "shared"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A few hundred users of the sample log and a 1-epoch, 16-wide model trained on them."""
    root = tmp_path_factory.mktemp("concurrent")
    lines = (ROOT / "sample_data" / "events.csv").read_text().splitlines()[:4001]
    log = root / "log.csv"
    log.write_text("\n".join(lines) + "\n")
    workspace = Workspace(root / "ws")
    ingest(log, "slice", workspace)
    config = TrainConfig(epochs=1, eval_max_users=20, device="cpu", seed=0)
    options = ModelOptions(max_len=20, dim=16, layers=1, heads=1, dropout=0.1)
    sequences = load_sequences(workspace, "slice")
    train_on_sequences(sequences, "slice", workspace.run_dir(RUN), config, options)
    return workspace


def _command(workspace: Workspace, *args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "core", *args, "--run", RUN, "--workspace", str(workspace.root)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _consistent_read(run_dir: Path) -> tuple[int, int] | None:
    """Segments, assignments and summary read under the shared lock; (k, users) or None."""
    with folder_lock(run_dir, shared=True):
        if not (run_dir / "segments.parquet").is_file():
            return None
        segments = pd.read_parquet(run_dir / "segments.parquet")
        users = pd.read_parquet(run_dir / "segment_assignments.parquet")
        summary = json.loads((run_dir / "segments.json").read_text())
    _assert_segments_agree(segments, users, summary)
    return summary["k"], len(users)


def _assert_segments_agree(segments: pd.DataFrame, users: pd.DataFrame, summary: dict) -> None:
    counts = users["segment"].value_counts().to_dict()
    assert set(counts) <= set(segments["segment"])  # every user's segment exists
    assert {str(s): int(n) for s, n in counts.items()} == summary["sizes"]
    assert dict(zip(segments["segment"], segments["size"], strict=True)) == counts


def test_concurrent_analysis_processes_leave_complete_consistent_outputs(
    tiny_run: Workspace,
) -> None:
    run_dir = tiny_run.run_dir(RUN)
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_while_writing() -> None:
        while not stop.is_set():
            try:
                found = _consistent_read(run_dir)
            except BaseException as error:  # reported by the main thread
                errors.append(error)
                return
            if found is not None and found not in seen:
                seen.append(found)
            time.sleep(0.02)

    reader = threading.Thread(target=read_while_writing)
    reader.start()
    started = time.monotonic()
    processes = {
        "analyze": _command(tiny_run, "analyze"),
        "segment k=3": _command(tiny_run, "segment", "--k", "3", "--seed", "1"),
        "anomalies": _command(tiny_run, "anomalies"),
    }
    results = {name: (p.wait(timeout=240), p.stderr.read()) for name, p in processes.items()}
    stop.set()
    reader.join()
    print(f"3 concurrent commands took {time.monotonic() - started:.1f} s; reads saw {seen}")
    for name, (code, stderr) in results.items():
        assert code == 0, f"{name} exited {code}: {stderr[-2000:]}"
    assert not errors, errors[0]
    k, users = _consistent_read(run_dir) or (0, 0)
    assert 3 <= k <= 8 and users > 100
    model = json.loads((run_dir / "segment_model.json").read_text())
    assert len(model["centers"]) == k  # the segmenter beside them is the same writer's
    intents = pd.read_parquet(run_dir / "session_intents.parquet")
    sessions = pd.read_parquet(run_dir / "session_assignments.parquet")
    assert set(sessions["intent"]) <= set(intents["intent"])
    anomalies = pd.read_parquet(run_dir / "anomalies.parquet")
    assert anomalies["user_id"].is_unique and len(anomalies) > 100
    assert RUN in json.loads((run_dir / "metrics.json").read_text())
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_renames_both_kept(tiny_run: Workspace) -> None:
    """Two analysts renaming different segments at once: the read-modify-write is locked."""
    run_dir = tiny_run.run_dir(RUN)
    threads = [
        threading.Thread(target=save_renames, args=(run_dir, {seg: f"name {seg}"}))
        for seg in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read_renames(run_dir) == {seg: f"name {seg}" for seg in range(8)}
    save_renames(run_dir, {seg: "" for seg in range(8)})


def test_write_together_waits_for_readers_and_leaves_no_temp_on_failure(
    tmp_path: Path,
) -> None:
    write_together(tmp_path, {"a.json": b"1", "b.json": b"1"})
    done = threading.Event()
    with folder_lock(tmp_path, shared=True):
        writer = threading.Thread(
            target=lambda: (write_together(tmp_path, {"a.json": b"2", "b.json": b"2"}), done.set())
        )
        writer.start()
        time.sleep(0.3)
        assert not done.is_set()  # staged, but not swapped in while a reader holds the lock
        assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes() == b"1"
    writer.join(timeout=10)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes() == b"2"
    with pytest.raises(TypeError):
        write_together(tmp_path, {"a.json": b"3", "b.json": "not bytes"})  # type: ignore[dict-item]
    assert (tmp_path / "a.json").read_bytes() == b"2"  # nothing of the failed write is in place
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE, "a.json", "b.json"]
    write_together(tmp_path, {"b.json": None})  # None removes
    assert not (tmp_path / "b.json").exists()
