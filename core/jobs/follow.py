"""Following a job from any process: its state, progress lines, and whether it is still alive.

A process that died without writing a final state (killed, crashed on import) is reported as
failed with the tail of its log, so the UI never spins forever on a dead job.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from core import fs_atomic
from core.jobs.files import (
    jobs_dir,
    log_file,
    log_tail,
    progress_file,
    read_job,
    read_json_or_none,
    status_file,
)
from core.progress_record import (
    JobState,
    ProgressRecord,
    RecordVersionError,
    read_progress_file,
)
from core.workspace import Workspace

ACTIVE_STATES = ("starting", "running", "analyzing")
STARTUP_GRACE = 120.0  # seconds a job launched without a noted pid may take to report itself


@dataclass
class JobStatus:
    """What the UI shows about one job, merged from the job file, status.json and the process."""

    run: str
    state: str  # starting | running | finished | failed | cancelled | unknown
    pid: int | None = None
    started: float | None = None  # Unix seconds
    updated: float | None = None  # Unix seconds of the last status/progress write
    message: str = ""
    alive: bool = False  # the process still exists
    log_tail: str = ""  # last lines of the job log, for failures
    summary: dict[str, Any] = field(default_factory=dict)  # the CLI's last-line JSON, when done

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_status(workspace: Workspace, run: str) -> JobStatus:
    """Merge the trainer's status.json with what we know about the process.

    A process that died without writing a final state (killed, crashed on import) is reported as
    failed with the tail of its log, so the UI never spins forever on a dead job.
    """
    record = read_job(workspace, run) or {}
    try:
        status = read_status(workspace, run)
    except RecordVersionError as error:  # written by a newer Behavior Lens: say so, follow none
        return JobStatus(run=run, state="unknown", message=str(error))
    if status is not None and _is_stale(status, record):
        status = None  # left by an earlier attempt; the relaunched process has not written yet
    pid = (status.pid if status else None) or record.get("pid")
    alive = pid is not None and is_alive(int(pid))
    state = (status.state if status else "") or ("starting" if record else "unknown")
    message = str(status.message or "") if status else ""
    log = log_file(workspace, run)
    if state in ACTIVE_STATES and not alive and (record or status) and not _launching(record, pid):
        if record.get("cancelled") and status is None:  # stopped before it said anything
            state, message = "cancelled", "cancelled before training started"
        else:  # killed (SIGKILL, OOM, a reboot) or crashed before it could say so
            state = "failed"
            message = f"the training process ended without reporting a result; its log: {log}"
    tail = log_tail(log) if log.is_file() else ""
    return JobStatus(
        run=run,
        state=state,
        pid=int(pid) if pid is not None else None,
        started=_as_time((status.started if status else None) or record.get("started")),
        updated=_as_time(status.updated if status else None),
        message=message,
        alive=alive,
        log_tail=tail,
        summary=_summary_from_log(tail) if state == "finished" else {},
    )


def read_status(workspace: Workspace, run: str) -> JobState | None:
    """The job's status.json as a `JobState`, or None while there is none (or it is being
    rewritten); a newer format is refused (`RecordVersionError`)."""
    payload = read_json_or_none(status_file(workspace, run))
    return JobState.from_dict(payload) if payload else None


def read_progress(workspace: Workspace, run: str, since_line: int = 0) -> list[ProgressRecord]:
    """Progress records written so far (from line `since_line`); a half-written last line is
    skipped, a line of a newer format refused (`RecordVersionError`)."""
    return read_progress_file(progress_file(workspace, run), since_line)


def list_jobs(workspace: Workspace) -> list[JobStatus]:
    """Every job the dashboard launched in this workspace, newest first."""
    folder = jobs_dir(workspace)
    if not folder.is_dir():
        return []
    runs = [
        path.stem
        for path in folder.glob("*.json")
        if not path.name.startswith(".") and not path.name.endswith(".status.json")
    ]
    statuses = [job_status(workspace, run) for run in runs]
    return sorted(statuses, key=lambda s: s.started or 0.0, reverse=True)


def wait(workspace: Workspace, run: str, timeout: float, poll: float = 0.2) -> JobStatus:
    """Block until the job leaves the active states or `timeout` seconds pass (for CLI/tests)."""
    deadline = time.monotonic() + timeout
    status = job_status(workspace, run)
    while status.active and time.monotonic() < deadline:
        time.sleep(poll)
        status = job_status(workspace, run)
    return status


def _launching(record: dict[str, Any], pid: Any) -> bool:
    """Launched moments ago by a dashboard that died before noting the pid, and the job has not
    written its status yet: give it STARTUP_GRACE seconds before calling it failed."""
    started = float(record.get("started") or 0.0)
    return pid is None and bool(record) and time.time() - started < STARTUP_GRACE


def _is_stale(status: JobState, record: dict[str, Any]) -> bool:
    """status.json from a previous process of the same run (before a resume) is not this job's."""
    if not record or status.pid in (None, record.get("pid")):
        return False
    updated = _as_time(status.updated)
    return updated is None or updated < float(record.get("started", 0.0))


def is_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie; reaps it when it is our own child."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child (launched by another Streamlit process): ask the kernel instead
    return fs_atomic.process_alive(pid)


def _as_time(value: Any) -> float | None:
    """status.json may carry Unix seconds or ISO text; the UI wants seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _summary_from_log(tail: str) -> dict[str, Any]:
    for line in reversed(tail.strip().splitlines()):
        if line.startswith("{"):
            try:
                payload = json.loads(line)
            except json.JSONDecodeError:
                return {}
            return payload if isinstance(payload, dict) else {}
    return {}
