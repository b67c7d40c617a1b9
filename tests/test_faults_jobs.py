"""The dashboard server dies while a background training runs.

A launcher process starts a training job exactly as the Train page does (`core.jobs.
start_training`) and is SIGKILLed right after the launch, before it could even note the job's
pid (fault point `jobs.after_launch`), as when the server is killed or restarted. The job runs in its own session, so it keeps training; a fresh Train page
(AppTest: a restarted server has no memory) finds it on disk and follows it. When the job itself
is then killed, the page shows it as failed, with where its log is, and offers to resume it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_faults_support import ROOT, base_workspace, child_env

from core import jobs
from core.workspace import Workspace

TRAIN_PAGE = str(ROOT / "dashboard" / "app_pages" / "train.py")  # AppTest wants it absolute
LAUNCHER = """
import sys, time
from pathlib import Path
from core import jobs
from core.workspace import Workspace
config = jobs.TrainJobConfig(dataset="s", run=sys.argv[2], epochs=500, dim=16, layers=1, heads=1,
                             max_len=20, batch_size=32, device="cpu", analyze=False)
jobs.start_training(Workspace(Path(sys.argv[1])), config)  # SIGKILLs itself once launched
time.sleep(600)  # not reached
"""


def launch_and_kill_the_launcher(workspace: Path, run: str) -> jobs.JobStatus:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(workspace), run],
        cwd=ROOT,
        env=child_env("jobs.after_launch"),  # killed right after the launch: the worst moment
        start_new_session=True,  # its own group, as a server started from a terminal
    )
    assert launcher.wait(timeout=60) == -signal.SIGKILL
    with contextlib.suppress(ProcessLookupError):
        os.killpg(launcher.pid, signal.SIGKILL)  # anything else of the server's group
    assert jobs.read_job(Workspace(workspace), run)["pid"] is None  # it died before noting it
    return wait_for(workspace, run, lambda s: len(jobs.read_progress(Workspace(workspace), run)))


def wait_for(workspace: Path, run: str, ready, timeout: float = 120) -> jobs.JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.job_status(Workspace(workspace), run)
        if ready(status) or not status.active:
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {run} not ready after {timeout} s")


def open_train_page(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The Train page of a freshly started server."""
    monkeypatch.setenv("BEHAVIOR_LENS_WORKSPACE", str(workspace))
    monkeypatch.setenv("BEHAVIOR_LENS_DEMO", "0")
    at = AppTest.from_file(TRAIN_PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def page_text(at: AppTest) -> str:
    kinds = ("markdown", "caption", "error", "info", "warning")
    return "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))


@pytest.fixture
def ws(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    workspace, _ = base_workspace(tmp_path_factory, tmp_path / "ws")
    return workspace


def test_a_job_outlives_the_server_and_the_restarted_page_follows_it(ws: Path, monkeypatch):
    status = launch_and_kill_the_launcher(ws, "bg")
    assert status.state == "running" and status.alive, status
    seen = len(jobs.read_progress(Workspace(ws), "bg"))
    later = wait_for(ws, "bg", lambda s: len(jobs.read_progress(Workspace(ws), "bg")) > seen)
    assert later.state == "running" and later.alive  # still training after the server died
    try:
        at = open_train_page(ws, monkeypatch)  # a restarted server: nothing in memory
        follow = next(box for box in at.selectbox if box.label == "Follow job")
        assert follow.value == "bg" and "bg" in follow.options[0]
        assert "bg** — running" in page_text(at)
        assert any(button.label == "Cancel" for button in at.button)
    finally:
        os.kill(later.pid, signal.SIGKILL)  # now the job itself dies, without a word
    dead = wait_for(ws, "bg", lambda s: not s.alive)
    assert dead.state == "failed" and "bg.log" in dead.message, dead
    at = open_train_page(ws, monkeypatch)
    text = page_text(at)
    assert "bg** — failed" in text and "bg.log" in text, text
    assert any(button.label == "Resume" for button in at.button)
