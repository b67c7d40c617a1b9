"""Where a job's files live, and reading them without ever failing on a half-written one.

    WORKSPACE/jobs/RUN.json     what was launched: kind, pid, command line, log file, start time
    WORKSPACE/jobs/RUN.log      the job's stdout + stderr (last line = the CLI's JSON summary)
    WORKSPACE/runs/RUN/status.json     state, pid, started, updated, message (core.progress_record)
    WORKSPACE/runs/RUN/progress.jsonl  one ProgressRecord per line

A fine-tuning job cannot write into runs/RUN/ before it finishes (that folder appears whole), so
it keeps the same two files as jobs/RUN.status.json and jobs/RUN.progress.jsonl; the readers
look in the run folder first, then there. The job file sits outside runs/RUN/ because the
trainer may replace that folder atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.workspace import Workspace, read_json, validate_name

_LOG_TAIL_BYTES = 4000


def jobs_dir(workspace: Workspace) -> Path:
    return workspace.root / "jobs"


def job_file(workspace: Workspace, run: str) -> Path:
    return jobs_dir(workspace) / f"{validate_name(run, 'run name')}.json"


def log_file(workspace: Workspace, run: str) -> Path:
    return jobs_dir(workspace) / f"{validate_name(run, 'run name')}.log"


def status_file(workspace: Workspace, run: str) -> Path:
    """status.json of the run folder, or the job folder's copy kept while a fine-tune runs."""
    inside = workspace.run_dir(run) / "status.json"
    return inside if inside.is_file() else finetune_status_path(workspace, run)


def progress_file(workspace: Workspace, run: str) -> Path:
    """progress.jsonl of the run folder, or the job folder's copy kept while a fine-tune runs."""
    inside = workspace.run_dir(run) / "progress.jsonl"
    return inside if inside.is_file() else finetune_progress_path(workspace, run)


def read_job(workspace: Workspace, run: str) -> dict[str, Any] | None:
    """The launch record of a job, or None when the dashboard never launched this run."""
    path = job_file(workspace, run)
    return read_json_or_none(path)


def read_json_or_none(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        payload = read_json(path)
    except (json.JSONDecodeError, OSError):
        return None  # being rewritten right now; the next poll will see it
    return payload if isinstance(payload, dict) else None


def log_tail(path: Path) -> str:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - _LOG_TAIL_BYTES))
        return handle.read().decode("utf-8", errors="replace")


def finetune_status_path(workspace: Workspace, run: str) -> Path:
    """Where a fine-tuning job keeps status.json until its run folder appears whole."""
    return jobs_dir(workspace) / f"{validate_name(run, 'run name')}.status.json"


def finetune_progress_path(workspace: Workspace, run: str) -> Path:
    """Where a fine-tuning job keeps progress.jsonl until its run folder appears whole."""
    return jobs_dir(workspace) / f"{validate_name(run, 'run name')}.progress.jsonl"
