"""Fine-tuning as a background job: `python -m core.jobs.finetune_worker --workspace W <args>`.

The same work as `python -m core finetune`, plus what a dashboard needs to follow it from
another process: jobs/NAME.status.json (running -> finished | failed | cancelled) and
jobs/NAME.progress.jsonl (one ProgressRecord per line), written by the same training callbacks
as pre-training. They live in jobs/ because the run folder is written whole at the end
(core.training.finetune.run). `core.jobs.launch.start_finetune`
launches it detached, like pre-training.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

from core.errors import BehaviorLensError
from core.jobs.files import finetune_progress_path, finetune_status_path
from core.progress_record import JobFiles
from core.workspace import Workspace


def job_files(workspace: Workspace, run: str) -> JobFiles:
    """The fine-tuning job's progress and status files, in jobs/ (see the module docstring)."""
    return JobFiles(finetune_progress_path(workspace, run), finetune_status_path(workspace, run))


def main(argv: list[str] | None = None) -> int:
    from core.cli import finetune as cli
    from core.training.finetune.run import TargetSpec, finetune_run

    parser = argparse.ArgumentParser(prog="python -m core.jobs.finetune_worker")
    parser.add_argument("--workspace", required=True, help="workspace folder")
    cli.add_arguments(parser)
    args = parser.parse_args(argv)
    workspace = Workspace.at(args.workspace)
    files = job_files(workspace, args.name)
    files.write_status("running", "fine-tuning")

    def on_term(*_: object) -> None:
        files.write_status("cancelled", "stopped by user")
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    spec = TargetSpec(target=args.target, tag=args.tag, churn_days=args.churn_days)
    try:
        config = cli._config(args)
        summary = finetune_run(workspace, args.run, args.name, spec, config, files=files)
    except (BehaviorLensError, ValueError) as error:
        files.write_status("failed", str(error))
        print(f"error: {error}", file=sys.stderr)
        return 2
    files.write_status("finished", "done")
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
