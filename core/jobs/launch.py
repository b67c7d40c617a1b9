"""Launching, resuming and cancelling jobs: `python -m core …` detached from the caller.

The dashboard must not train inside its own process: a page reload, a second tab or a Streamlit
rerun would kill or duplicate the work. So a job is a separate process in its own session
(`start_new_session=True`), which survives the page that started it; everything needed to find
it again is on disk (core.jobs.files).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.errors import BehaviorLensError, NotFoundError
from core.faults import fault_point
from core.jobs.config import FineTuneJobConfig, TrainJobConfig
from core.jobs.files import (
    finetune_progress_path,
    finetune_status_path,
    job_file,
    log_file,
    read_job,
)
from core.jobs.follow import JobStatus, job_status
from core.workspace import Workspace, atomic_write_json, validate_name

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


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


def job_config(workspace: Workspace, run: str) -> TrainJobConfig | FineTuneJobConfig:
    """The config a job was launched with (to resume it with the same knobs)."""
    record = read_job(workspace, run)
    if record is None or "config" not in record:
        raise NotFoundError(f"no launched job for run {run!r} in {workspace.root}")
    if record.get("kind", "train") == "finetune":
        return FineTuneJobConfig(**record["config"])
    return TrainJobConfig(**record["config"])


def resume(workspace: Workspace, run: str, python: str | None = None) -> JobStatus:
    """Relaunch a stopped job with its original knobs.

    Pre-training continues from its last checkpoint (`--resume`). Fine-tuning starts again
    from its parent run: it writes its run folder only when it finishes, so a stopped one has
    nothing to continue from, and its minutes-long budget makes a restart the honest resume.
    """
    config = job_config(workspace, run)
    if isinstance(config, FineTuneJobConfig):
        return start_finetune(workspace, config, python=python)
    return start_training(workspace, config, resume=True, python=python)


def cancel(workspace: Workspace, run: str) -> bool:
    """Ask a running job to stop (SIGTERM: the trainer checkpoints and exits as cancelled).

    Returns False when there was nothing alive to cancel.
    """
    status = job_status(workspace, run)
    if not (status.active and status.alive) or status.pid is None:
        return False
    record = read_job(workspace, run)
    if record is not None:  # so a process stopped before it could say so reads as cancelled
        atomic_write_json(job_file(workspace, run), {**record, "cancelled": time.time()})
    try:
        os.killpg(status.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(status.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
    return True


def start_finetune(
    workspace: Workspace, config: FineTuneJobConfig, python: str | None = None
) -> JobStatus:
    """Launch fine-tuning detached; refuse a duplicate name or a missing parent run."""
    validate_name(config.run, "run name")
    workspace.existing_run_dir(config.parent)
    if job_status(workspace, config.run).active:
        raise BehaviorLensError(f"run {config.run!r} is already training")
    if workspace.run_dir(config.run).exists():
        raise BehaviorLensError(f"run {config.run!r} already exists: pick another name")
    for stale in (
        finetune_status_path(workspace, config.run),
        finetune_progress_path(workspace, config.run),
    ):
        stale.unlink(missing_ok=True)
    command = [python or sys.executable, "-m", "core.jobs.finetune_worker", *config.to_args()]
    command += ["--workspace", str(workspace.root.resolve())]
    return spawn(workspace, config.run, asdict(config), command, kind="finetune")
