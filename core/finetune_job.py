"""Fine-tuning as a background job: `python -m core.finetune_job --workspace W <finetune args>`.

The same work as `python -m core finetune`, plus what a dashboard needs to follow it from
another process: jobs/NAME.status.json (running → finished | failed | cancelled) and
jobs/NAME.progress.jsonl (one line per progress event). They live in jobs/ because the run folder
is written whole at the end (core.training.finetune_run). `start_finetune` launches it through
core.jobs, detached, like pre-training.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from core import jobs
from core.errors import BehaviorLensError
from core.progress import ProgressEvent
from core.workspace import Workspace, atomic_write_json, validate_name

DERIVED_TARGETS = ("next-session-purchase", "churn", "precedes-purchase")  # offered targets


@dataclass
class FineTuneJobConfig:
    """The fine-tuning knobs the dashboard exposes; None = the fine-tuner's default."""

    parent: str  # pre-trained run to start from
    run: str  # name of the new fine-tuned run
    target: str = "next-session-purchase"  # one of DERIVED_TARGETS
    epochs: int | None = None  # maximum epochs
    max_minutes: float | None = None  # wall-clock budget
    churn_days: float = 14.0  # churn: days without activity that count as churned
    device: str = "auto"  # "auto" (cuda when present), "cpu" or "cuda"

    def to_args(self) -> list[str]:
        """Arguments of `python -m core finetune`, without `--workspace`."""
        if self.target not in DERIVED_TARGETS:
            raise BehaviorLensError(f"unknown target {self.target!r}; use one of {DERIVED_TARGETS}")
        flag = "--tag" if self.target == "precedes-purchase" else "--target"
        args = ["--run", self.parent, "--name", self.run, flag, self.target]
        if self.target == "churn":
            args += ["--churn-days", str(self.churn_days)]
        if self.epochs is not None:
            args += ["--epochs", str(self.epochs)]
        if self.max_minutes is not None:
            args += ["--max-minutes", str(self.max_minutes)]
        return [*args, "--device", self.device]


def start_finetune(
    workspace: Workspace, config: FineTuneJobConfig, python: str | None = None
) -> jobs.JobStatus:
    """Launch fine-tuning detached; refuse a duplicate name or a missing parent run."""
    validate_name(config.run, "run name")
    workspace.existing_run_dir(config.parent)
    if jobs.job_status(workspace, config.run).active:
        raise BehaviorLensError(f"run {config.run!r} is already training")
    if workspace.run_dir(config.run).exists():
        raise BehaviorLensError(f"run {config.run!r} already exists: pick another name")
    for stale in (_status_path(workspace, config.run), _progress_path(workspace, config.run)):
        stale.unlink(missing_ok=True)
    command = [python or sys.executable, "-m", "core.finetune_job", *config.to_args()]
    command += ["--workspace", str(workspace.root.resolve())]
    return jobs.spawn(workspace, config.run, asdict(config), command, kind="finetune")


def _status_path(workspace: Workspace, run: str) -> Any:
    return jobs.jobs_dir(workspace) / f"{run}.status.json"


def _progress_path(workspace: Workspace, run: str) -> Any:
    return jobs.jobs_dir(workspace) / f"{run}.progress.jsonl"


class _JobFiles:
    """Writes status and progress the way core.training.callbacks does for pre-training."""

    def __init__(self, workspace: Workspace, run: str) -> None:
        self.status = _status_path(workspace, run)
        self.progress = _progress_path(workspace, run)
        self.started = time.time()

    def write(self, state: str, message: str = "") -> None:
        record = {"state": state, "pid": os.getpid(), "started": self.started}
        atomic_write_json(self.status, {**record, "updated": time.time(), "message": message})

    def __call__(self, event: ProgressEvent) -> None:
        line = {"stage": event.stage, "step": event.done, "total_steps": event.total}
        line.update({k: v for k, v in event.metrics.items() if isinstance(v, int | float)})
        line["message"] = event.message
        with self.progress.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


def main(argv: list[str] | None = None) -> int:
    from core.cli import finetune as cli
    from core.training.finetune_run import TargetSpec, finetune_run

    parser = argparse.ArgumentParser(prog="python -m core.finetune_job")
    parser.add_argument("--workspace", required=True, help="workspace folder")
    cli.add_arguments(parser)
    args = parser.parse_args(argv)
    workspace = Workspace.at(args.workspace)
    files = _JobFiles(workspace, args.name)
    files.write("running", "fine-tuning")

    def on_term(*_: object) -> None:
        files.write("cancelled", "stopped by user")
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    spec = TargetSpec(target=args.target, tag=args.tag, churn_days=args.churn_days)
    try:
        summary = finetune_run(workspace, args.run, args.name, spec, cli._config(args), files)
    except (BehaviorLensError, ValueError) as error:
        files.write("failed", str(error))
        print(f"error: {error}", file=sys.stderr)
        return 2
    files.write("finished", "done")
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
