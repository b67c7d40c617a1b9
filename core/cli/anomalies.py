"""`python -m core anomalies`: score every user and session of a run's dataset for anomalies.

Writes anomalies.parquet (one row per user) and anomaly_sessions.parquet into the run folder;
`--out F.csv` writes user_id, score, reason (higher score = more anomalous), spreadsheet-safe.
"""

from __future__ import annotations

import argparse
from typing import Any

from core.errors import BehaviorLensError

NAME = "anomalies"
HELP = "score users and sessions for anomalies (model surprise + pace), with reasons"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="trained run to score with")
    parser.add_argument(
        "--top",
        type=int,
        default=None,
        help="keep only the N most anomalous users in --out (default: all)",
    )
    parser.add_argument(
        "--out", default=None, help="also write user_id,score,percentile,reason to this CSV"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.anomalies import anomalies_run
    from core.progress import TqdmProgress
    from core.reports.csv_safe import write_csv_safe
    from core.workspace import Workspace

    if args.top is not None and args.top < 1:
        raise BehaviorLensError(f"--top must be at least 1, got {args.top}")
    progress = TqdmProgress()
    try:
        result = anomalies_run(Workspace.at(args.workspace), args.run, on_progress=progress)
    finally:
        progress.close()
    summary = {"run": args.run, **result.summary}
    if args.out:
        users = result.users if args.top is None else result.users.head(args.top)
        write_csv_safe(users[["user_id", "score", "percentile", "reason"]], args.out)
        summary["out"] = str(args.out)
        summary["rows"] = int(len(users))
    return summary
