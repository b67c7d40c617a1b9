"""`python -m core score --run R --dataset NEW`: the same model on next week's log.

Writes, into runs/R/scored/NEW/ (or `--out DIR`): every user's top-K next items and next event
type (predictions.parquet/.csv), each user's segment (the run's fitted segmenter, never refit)
and anomaly score against the training period (users.parquet/.csv), and drift.json: unseen
items and event types, event-mix change, NDCG@10 on the new period beside the baselines and
the training split, and a verdict. Ingest the new log first (`ingest NEW.csv --name NEW`).
"""

from __future__ import annotations

import argparse
from typing import Any

from core.errors import BehaviorLensError

NAME = "score"
HELP = "score a new period's dataset with a trained run: predictions, segments, anomalies, drift"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from core.analysis.score_period import ScoreConfig

    defaults = ScoreConfig()
    parser.add_argument("--run", required=True, help="trained run to score with")
    parser.add_argument("--dataset", required=True, help="the new period's dataset (ingested)")
    parser.add_argument("--out", default=None, help="folder to write (default: runs/R/scored/D/)")
    parser.add_argument(
        "--top-k", type=int, default=defaults.top_k, help=f"next items per user ({defaults.top_k})"
    )
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="do not prepend known users' training history (every user starts cold)",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.score_period import ScoreConfig, score_new_data
    from core.progress import TqdmProgress
    from core.workspace import Workspace

    if args.top_k < 1:
        raise BehaviorLensError(f"--top-k must be at least 1, got {args.top_k}")
    config = ScoreConfig(top_k=args.top_k, with_history=not args.no_history)
    progress = TqdmProgress()
    try:
        workspace = Workspace.at(args.workspace)
        return score_new_data(workspace, args.run, args.dataset, args.out, config, progress)
    finally:
        progress.close()
