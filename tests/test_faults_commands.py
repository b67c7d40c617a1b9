"""`ingest`, `segment`, `anomalies`, `score` and `report` SIGKILLed mid-way leave the workspace
byte for byte as it was.

Each command is killed at the last moment before it would change anything (its output complete
in temp files, not renamed in: the worst place) and, for the slow ones, after a short delay in
the middle of its computation. The whole workspace tree is hashed before and after; only the
hidden temp names of the atomic writers and `.lock` files are ignored, and the next successful
write in a folder sweeps the temp names a killed writer left there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from test_faults_support import (
    ROOT,
    RUN,
    base_workspace,
    cli,
    killed,
    summary,
    temp_debris,
    tree,
)

from core import fs_atomic
from core.locks import JOURNAL, folder_lock
from core.workspace import atomic_directory


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's workspace (dataset "s", run "r") plus a second period "s2", analysed once."""
    workspace, _ = base_workspace(tmp_path_factory, tmp_path_factory.mktemp("cmds") / "ws")
    lines = (ROOT / "sample_data" / "events.csv").read_text(encoding="utf-8").splitlines()
    period = workspace.parent / "s2.csv"
    period.write_text("\n".join([lines[0], *lines[3001:6001]]) + "\n", encoding="utf-8")
    summary(cli(workspace, "ingest", str(period), "--name", "s2"))
    summary(cli(workspace, "segment", "--run", RUN))
    summary(cli(workspace, "anomalies", "--run", RUN))
    return workspace


def commands(workspace: Path) -> dict[str, list[str]]:
    period = str(workspace.parent / "s2.csv")
    return {
        "ingest": ["ingest", period, "--name", "s"],  # replaces dataset "s"
        "segment": ["segment", "--run", RUN, "--k", "3"],
        "anomalies": ["anomalies", "--run", RUN, "--false-alarm-rate", "0.02"],
        "score": ["score", "--run", RUN, "--dataset", "s2"],
        "report": ["report", "--run", RUN, "--out", str(workspace / "report.html")],
    }


# the commit point of each command: its output staged whole, about to be renamed in
COMMIT_POINTS = [
    ("ingest", "atomic_directory.before_rename"),
    ("segment", "write_together.before_rename"),
    ("anomalies", "write_together.before_rename"),
    ("score", "atomic_directory.before_rename"),
    ("report", "atomic_write.before_rename"),
]


@pytest.mark.parametrize(("command", "point"), COMMIT_POINTS)
def test_a_kill_at_the_commit_point_changes_nothing(ws: Path, command: str, point: str) -> None:
    before = tree(ws)
    result = cli(ws, *commands(ws)[command], fault=point)
    assert killed(result), result.stderr
    assert tree(ws) == before


@pytest.mark.parametrize("command", ["ingest", "segment", "score"])
def test_a_kill_in_the_middle_of_the_work_changes_nothing(ws: Path, command: str) -> None:
    before = tree(ws)

    def kill_soon(pid: int) -> None:
        threading.Timer(0.1, os.kill, (pid, signal.SIGKILL)).start()

    result = cli(ws, *commands(ws)[command], on_start=kill_soon)
    if not killed(result):
        pytest.skip(f"{command} finished within 0.1 s, before the kill")  # pragma: no cover
    assert tree(ws) == before


def test_a_kill_between_the_renames_of_a_group_write_is_undone_by_the_next_reader(
    ws: Path,
) -> None:
    """Killed after some of segment's files were renamed in: the mix is visible on disk only
    until the run folder's lock is next taken (any reader or writer), which rolls it back."""
    before = tree(ws)
    result = cli(ws, *commands(ws)["segment"], fault="write_together.between_renames@5")
    assert killed(result), result.stderr
    run_dir = ws / "runs" / RUN
    assert (run_dir / JOURNAL).exists()  # the dead writer's journal: a commit never finished
    with folder_lock(run_dir, shared=True):  # what every reader of several run files does
        pass
    assert tree(ws) == before


def test_the_next_write_sweeps_what_killed_writers_left(ws: Path) -> None:
    """Runs last in this module: after the kills above, one good run of each writer cleans up."""
    for command in ("anomalies", "score", "report", "ingest"):
        summary(cli(ws, *commands(ws)[command]))
    assert temp_debris(ws) == []


def test_a_folder_is_replaced_in_one_step_and_dead_writers_debris_is_swept(tmp_path: Path) -> None:
    target = tmp_path / "d"
    target.mkdir()
    (target / "old").write_text("old")
    with atomic_directory(target) as staging:
        (staging / "new").write_text("new")
        assert fs_atomic.is_temp_name(staging.name)
    assert [p.name for p in target.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # the old one is gone too
    dead = subprocess.Popen(["true"])
    dead.wait()
    mine = f".x.{fs_atomic.temp_prefix(tmp_path).split('.')[-2]}.abc.tmp"
    theirs = mine.replace(f"-{os.getpid()}.", f"-{dead.pid}.")
    for name in (mine, theirs):
        (tmp_path / name).write_text("partial")
    fs_atomic.sweep_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine, "d"]  # ours is still being written
