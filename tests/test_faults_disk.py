"""A full disk: `ingest` and `train` fail with one `error: disk full…` line and exit code 2, never
a traceback, and leave nothing half-written: the previous dataset and run are intact.

The workspace lives on a real size-limited file system: a small tmpfs (`mount -t tmpfs -o
size=…`, needs root and a mount-capable container), filled to a few KiB. Where mounting is not
allowed, the command runs under RLIMIT_FSIZE instead (each file it writes is capped, the write
fails with EFBIG), which exercises the same error path.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_faults_support import (
    ROOT,
    RUN,
    TRAIN,
    assert_checkpoint_files_load,
    base_workspace,
    child_env,
    cli,
    small_log,
    temp_debris,
    tree,
)

from core.inference.loading import load_run
from core.workspace import Workspace

FREE_BYTES = 16 * 1024  # what is left on the small disk: less than any dataset or checkpoint


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 2 MiB tmpfs at tmp_path/disk, or None when this machine does not let us mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)]
    try:
        mounted = subprocess.run(command, capture_output=True, check=False).returncode == 0
    except OSError:  # no mount command here
        mounted = False
    if not mounted:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Write a filler file until only `leave` bytes are free."""
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    with open(disk / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))


def run_full(workspace: Path, args: list[str], capped: bool) -> subprocess.CompletedProcess[str]:
    """`python -m core ARGS` on the full disk (or, `capped`, under a small RLIMIT_FSIZE)."""

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (FREE_BYTES, FREE_BYTES))

    return subprocess.run(
        [sys.executable, "-m", "core", *args, "--workspace", str(workspace)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=cap if capped else None,
    )


@pytest.fixture
def full_workspace(small_disk, tmp_path_factory) -> tuple[Path, bool]:
    """The session's workspace (dataset "s", run "r") on a nearly full disk; (path, capped)."""
    into = (small_disk or tmp_path_factory.mktemp("capped")) / "ws"
    workspace, _ = base_workspace(tmp_path_factory, into)
    for scratch in workspace.rglob("*"):  # what the analysis of other tests may have added
        if scratch.name.startswith(".cli."):
            scratch.unlink()
    if small_disk is not None:
        fill(small_disk, FREE_BYTES)
    return workspace, small_disk is None


def assert_one_error_line(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("error: disk full"), lines
    assert sum(line.startswith("error:") for line in lines) == 1


def test_ingest_on_a_full_disk_keeps_the_previous_dataset(full_workspace, tmp_path) -> None:
    workspace, capped = full_workspace
    before = tree(workspace)
    bigger = small_log(tmp_path / "log")  # the same rows again: a new version of dataset "s"
    result = run_full(workspace, ["ingest", str(bigger), "--name", "s"], capped)
    assert_one_error_line(result)
    assert tree(workspace) == before
    assert temp_debris(workspace) == []


def test_training_on_a_full_disk_keeps_the_previous_run(full_workspace) -> None:
    workspace, capped = full_workspace
    before = tree(workspace / "runs" / RUN)
    args = [*TRAIN]
    args[args.index(RUN)] = "r2"
    # the fork server's process where the disk is really full (a per-file cap needs its own)
    result = run_full(workspace, args, capped) if capped else cli(workspace, *args)
    assert_one_error_line(result)
    assert tree(workspace / "runs" / RUN) == before
    assert load_run(Workspace(workspace), RUN, "cpu").meta["run"] == RUN
    assert_checkpoint_files_load(workspace / "runs" / "r2")
    assert Workspace(workspace).run_names() == [RUN]  # r2 never became a run
    assert temp_debris(workspace) == []
    shutil.rmtree(workspace / "runs" / "r2")
