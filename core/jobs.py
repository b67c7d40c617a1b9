"""Background training jobs: launch `python -m core train …` detached, poll it, cancel, resume.

The dashboard must not train inside its own process: a page reload, a second tab or a Streamlit
rerun would kill or duplicate the work. So a job is a separate process in its own session
(`start_new_session=True`), which survives the page that started it. Everything the UI needs to
find it again lives on disk, never in memory:

    WORKSPACE/jobs/RUN.json     what we launched: pid, command line, log file, start time
    WORKSPACE/jobs/RUN.log      the job's stdout + stderr (last line = the CLI's JSON summary)
    WORKSPACE/runs/RUN/status.json    written by the trainer: {"state", "pid", "started", "updated",
                                      "message"}, state in running|finished|failed|cancelled
    WORKSPACE/runs/RUN/progress.jsonl one JSON object per progress event (stage, epoch, step,
                                      total steps, loss, val metrics, elapsed, eta)

A fine-tuning job (core/finetune_job.py) cannot write into runs/RUN/ before it finishes (that
folder appears whole), so it keeps the same two files as jobs/RUN.status.json and
jobs/RUN.progress.jsonl; the readers below look in the run folder first, then there.

The job file sits outside `runs/RUN/` because the trainer may replace that folder atomically.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core import fs_atomic
from core.errors import BehaviorLensError, NotFoundError
from core.faults import fault_point
from core.workspace import Workspace, atomic_write_json, read_json, validate_name

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ACTIVE_STATES = ("starting", "running", "analyzing")
_LOG_TAIL_BYTES = 4000
STARTUP_GRACE = 120.0  # seconds a job launched without a noted pid may take to report itself


@dataclass
class TrainJobConfig:
    """The knobs of `python -m core train` the dashboard exposes; None = the trainer's default."""

    dataset: str  # dataset name in the workspace
    run: str  # run name (folder under WORKSPACE/runs)
    objective: str = "causal"  # "causal" (next event, SASRec) or "masked" (BERT4Rec)
    epochs: int | None = None  # passes over the data; None = trainer default
    max_minutes: float | None = None  # wall-clock budget; training stops cleanly when spent
    max_len: int | None = None  # longest history the model reads
    dim: int | None = None  # hidden width
    layers: int | None = None  # Transformer blocks
    heads: int | None = None  # attention heads per block (must divide dim)
    batch_size: int | None = None  # sequences per step
    lr: float | None = None  # AdamW learning rate
    nsp: bool = False  # add the next-session-prediction auxiliary loss
    device: str = "auto"  # "auto" (cuda when present), "cpu" or "cuda"
    seed: int | None = None  # random seed; None = trainer default
    analyze: bool = True  # then evaluate, segment and score anomalies in the same job

    def to_args(self) -> list[str]:
        """The CLI arguments after `python -m core train`, without `--workspace`."""
        args = ["--dataset", self.dataset, "--run", self.run, "--objective", self.objective]
        flags = {
            "--epochs": self.epochs,
            "--max-minutes": self.max_minutes,
            "--max-len": self.max_len,
            "--dim": self.dim,
            "--layers": self.layers,
            "--heads": self.heads,
            "--batch-size": self.batch_size,
            "--lr": self.lr,
            "--seed": self.seed,
        }
        for flag, value in flags.items():
            if value is not None:
                args += [flag, str(value)]
        if self.nsp:
            args.append("--nsp")
        if self.analyze:
            args.append("--analyze")
        return [*args, "--device", self.device]


# Presets shown in the dashboard: each overrides only what differs from the trainer's defaults.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # two minutes on a laptop: enough to see curves move and attention form. So few steps learn
    # more at twice the default rate (sample_data, 2 minutes: test NDCG@10 0.61 vs 0.56). The
    # budget, not the epochs, ends it: 3 epochs left a 55k-item log at chance (taobao head)
    "quick demo": {
        "lr": 2e-3,
        "epochs": 50,
        "dim": 32,
        "layers": 1,
        "max_len": 30,
        "max_minutes": 2,
    },
    # the known-good recipe at moderate length
    "balanced": {
        "epochs": 30,
        "max_minutes": 15,
    },
    # let early stopping decide, within an hour
    "best quality": {
        "epochs": 200,
        "max_minutes": 60,
    },
}


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


def jobs_dir(workspace: Workspace) -> Path:
    return workspace.root / "jobs"


def job_file(workspace: Workspace, run: str) -> Path:
    return jobs_dir(workspace) / f"{validate_name(run, 'run name')}.json"


def log_file(workspace: Workspace, run: str) -> Path:
    return jobs_dir(workspace) / f"{validate_name(run, 'run name')}.log"


def status_file(workspace: Workspace, run: str) -> Path:
    """status.json of the run folder, or the job folder's copy kept while a fine-tune runs."""
    inside = workspace.run_dir(run) / "status.json"
    return inside if inside.is_file() else jobs_dir(workspace) / f"{run}.status.json"


def progress_file(workspace: Workspace, run: str) -> Path:
    """progress.jsonl of the run folder, or the job folder's copy kept while a fine-tune runs."""
    inside = workspace.run_dir(run) / "progress.jsonl"
    return inside if inside.is_file() else jobs_dir(workspace) / f"{run}.progress.jsonl"


def start_training(
    workspace: Workspace, config: TrainJobConfig, resume: bool = False, python: str | None = None
) -> JobStatus:
    """Launch training detached from the caller; refuse when the run is already training.

    The child gets its own session so it is not killed with the Streamlit script run or the
    terminal, and its own log file so a crash leaves a readable reason.
    """
    validate_name(config.dataset, "dataset name")
    validate_name(config.run, "run name")
    current = job_status(workspace, config.run)
    if current.active:
        raise BehaviorLensError(f"run {config.run!r} is already training (pid {current.pid})")
    if not resume and (workspace.run_dir(config.run) / "config.json").is_file():
        raise BehaviorLensError(
            f"run {config.run!r} already exists: pick another name or resume it"
        )
    command = [python or sys.executable, "-m", "core", "train", *config.to_args()]
    command += ["--workspace", str(workspace.root.resolve())]
    if resume:
        command.append("--resume")
    return spawn(workspace, config.run, asdict(config), command)


def spawn(
    workspace: Workspace, run: str, config: dict[str, Any], command: list[str], kind: str = "train"
) -> JobStatus:
    """Start `command` detached, logging to jobs/RUN.log, and record it in jobs/RUN.json.

    The record is written before the launch (without a pid) and again after it: a dashboard
    killed in between leaves a job the pages still find (its pid then comes from status.json).
    """
    log = log_file(workspace, run)
    log.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "run": run,
        "kind": kind,
        "pid": None,
        "command": command,
        "config": config,
        "started": time.time(),
        "log": str(log),
    }
    atomic_write_json(job_file(workspace, run), record)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the dashboard's group: it outlives the server
        )
    fault_point("jobs.after_launch")
    atomic_write_json(job_file(workspace, run), {**record, "pid": process.pid})
    return job_status(workspace, run)


def read_job(workspace: Workspace, run: str) -> dict[str, Any] | None:
    """The launch record of a job, or None when the dashboard never launched this run."""
    path = job_file(workspace, run)
    return _read_json_or_none(path)


def job_config(workspace: Workspace, run: str) -> TrainJobConfig:
    """The config a job was launched with (to resume it with the same knobs)."""
    record = read_job(workspace, run)
    if record is None or "config" not in record:
        raise NotFoundError(f"no launched job for run {run!r} in {workspace.root}")
    if record.get("kind", "train") != "train":
        raise BehaviorLensError(f"run {run!r} is a fine-tuning job: start it again instead")
    return TrainJobConfig(**record["config"])


def job_status(workspace: Workspace, run: str) -> JobStatus:
    """Merge the trainer's status.json with what we know about the process.

    A process that died without writing a final state (killed, crashed on import) is reported as
    failed with the tail of its log, so the UI never spins forever on a dead job.
    """
    record = read_job(workspace, run) or {}
    status = _read_json_or_none(status_file(workspace, run)) or {}
    if _is_stale(status, record):
        status = {}  # left by an earlier attempt; the relaunched process has not written yet
    pid = status.get("pid") or record.get("pid")
    alive = pid is not None and _is_alive(int(pid))
    state = status.get("state") or ("starting" if record else "unknown")
    message = str(status.get("message") or "")
    log = log_file(workspace, run)
    if state in ACTIVE_STATES and not alive and (record or status) and not _launching(record, pid):
        state = "failed"  # killed (SIGKILL, OOM, a reboot) or crashed before it could say so
        message = f"the training process ended without reporting a result; its log: {log}"
    tail = _tail(log) if log.is_file() else ""
    return JobStatus(
        run=run,
        state=state,
        pid=int(pid) if pid is not None else None,
        started=_as_time(status.get("started") or record.get("started")),
        updated=_as_time(status.get("updated")),
        message=message,
        alive=alive,
        log_tail=tail,
        summary=_summary_from_log(tail) if state == "finished" else {},
    )


def read_progress(workspace: Workspace, run: str, since_line: int = 0) -> list[dict[str, Any]]:
    """Progress events written so far (from line `since_line`); a half-written last line is skipped."""
    path = progress_file(workspace, run)
    if not path.is_file():
        return []
    events: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle):
            if number < since_line or not line.endswith("\n"):
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def cancel(workspace: Workspace, run: str) -> bool:
    """Ask a running job to stop (SIGTERM: the trainer checkpoints and exits as cancelled).

    Returns False when there was nothing alive to cancel.
    """
    status = job_status(workspace, run)
    if not (status.active and status.alive) or status.pid is None:
        return False
    try:
        os.killpg(status.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(status.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
    return True


def resume(workspace: Workspace, run: str, python: str | None = None) -> JobStatus:
    """Relaunch a stopped job with its original knobs plus `--resume`."""
    return start_training(workspace, job_config(workspace, run), resume=True, python=python)


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


def _is_stale(status: dict[str, Any], record: dict[str, Any]) -> bool:
    """status.json from a previous process of the same run (before a resume) is not this job's."""
    if not status or not record or status.get("pid") in (None, record.get("pid")):
        return False
    updated = _as_time(status.get("updated"))
    return updated is None or updated < float(record.get("started", 0.0))


def _is_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie; reaps it when it is our own child."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child (launched by another Streamlit process): ask the kernel instead
    return fs_atomic.process_alive(pid)


def _read_json_or_none(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        payload = read_json(path)
    except (json.JSONDecodeError, OSError):
        return None  # being rewritten right now; the next poll will see it
    return payload if isinstance(payload, dict) else None


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


def _tail(path: Path) -> str:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - _LOG_TAIL_BYTES))
        return handle.read().decode("utf-8", errors="replace")


def _summary_from_log(tail: str) -> dict[str, Any]:
    for line in reversed(tail.strip().splitlines()):
        if line.startswith("{"):
            try:
                payload = json.loads(line)
            except json.JSONDecodeError:
                return {}
            return payload if isinstance(payload, dict) else {}
    return {}
