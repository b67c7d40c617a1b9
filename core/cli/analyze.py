"""`python -m core analyze --run R`: every insight of a trained run in one step.

Evaluates against the popularity and Markov baselines, segments the users, finds session
intents and scores anomalies, writing each output into the run folder (docs/contracts.md); a step
that cannot run on this log is skipped with its reason. `train … --analyze` does the same right
after training.
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "analyze"
HELP = "evaluate, segment, find session intents and score anomalies of a trained run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="trained run to analyse")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.pipeline import analyze_run
    from core.progress import TqdmProgress
    from core.workspace import Workspace

    progress = TqdmProgress()
    try:
        return analyze_run(Workspace.at(args.workspace), args.run, progress).to_dict()
    finally:
        progress.close()
