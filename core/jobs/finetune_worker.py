"""Fine-tuning as a background job: `python -m core.jobs.finetune_worker --workspace W <args>`.

The same work as `python -m core finetune`, plus what a dashboard needs to follow it from
another process: jobs/NAME.status.json (running -> finished | failed | cancelled) and
jobs/NAME.progress.jsonl (one line per progress event). They live in jobs/ because the run folder
is written whole at the end (core.training.finetune.run). `core.jobs.launch.start_finetune`
launches it detached, like pre-training.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from core.errors import BehaviorLensError
from core.jobs.files import finetune_progress_path, finetune_status_path
from core.progress import ProgressEvent
from core.workspace import Workspace, atomic_write_json


class _JobFiles:
    """Writes status and progress the way core.training.callbacks does for pre-training."""

    def __init__(self, workspace: Workspace, run: str) -> None:
        self.status = finetune_status_path(workspace, run)
        self.progress = finetune_progress_path(workspace, run)
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
    from core.training.finetune.run import TargetSpec, finetune_run

    parser = argparse.ArgumentParser(prog="python -m core.jobs.finetune_worker")
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
