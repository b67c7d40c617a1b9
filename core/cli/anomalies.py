"""`python -m core anomalies`: score every user and session of a run's dataset for anomalies.

Writes anomalies.parquet (one row per user) and anomaly_sessions.parquet into the run folder;
`--out F.csv` writes user_id, score, false_alarm_rate, flagged, percentile, reason (higher score =
more anomalous), spreadsheet-safe. Users are flagged when a normal user of the log scores as high
at most `--false-alarm-rate` of the time (`core.analysis.anomaly_flags`); the last-line JSON
gives the rate and the flagged count.
"""

from __future__ import annotations

import argparse
from typing import Any

from core.analysis.anomaly_flags import FlagConfig, format_rate  # numpy only, no pandas
from core.errors import BehaviorLensError

NAME = "anomalies"
HELP = "score users and sessions for anomalies (model surprise + pace), with reasons"
DEFAULT_RATE = FlagConfig().false_alarm_rate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="trained run to score with")
    parser.add_argument(
        "--top",
        type=int,
        default=None,
        help="keep only the N most anomalous users in --out (default: all)",
    )
    parser.add_argument(
        "--false-alarm-rate",
        type=float,
        default=DEFAULT_RATE,
        help="flag users a normal user would score as high this rarely, as a share "
        f"(default {DEFAULT_RATE:g} = {format_rate(DEFAULT_RATE).replace('%', '%%')})",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="also write user_id,score,false_alarm_rate,flagged,percentile,reason to this CSV",
    )


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    from core.analysis.anomalies import anomalies_run
    from core.inference.loading import resolve_device
    from core.progress import TqdmProgress
    from core.reports.csv_safe import write_csv_safe
    from core.training.distributed import process_group
    from core.workspace import Workspace

    if args.top is not None and args.top < 1:
        raise BehaviorLensError(f"--top must be at least 1, got {args.top}")
    if not 0.0 < args.false_alarm_rate < 1.0:
        raise BehaviorLensError(
            f"--false-alarm-rate must be between 0 and 1 (0.01 = 1%), got {args.false_alarm_rate}"
        )
    config = FlagConfig(false_alarm_rate=args.false_alarm_rate)
    with process_group(resolve_device("auto")) as context:  # torchrun: each rank a share
        progress = TqdmProgress(enabled=None if context.is_main else False)
        try:
            workspace = Workspace.at(args.workspace)
            result = anomalies_run(
                workspace, args.run, on_progress=progress, config=config, context=context
            )
        finally:
            progress.close()
    if result is None:
        return None  # rank 0 prints and wrote the files
    summary = {"run": args.run, **result.summary}
    if args.out:
        users = result.users if args.top is None else result.users.head(args.top)
        columns = ["user_id", "score", "false_alarm_rate", "flagged", "percentile", "reason"]
        write_csv_safe(users[columns], args.out)
        summary["out"] = str(args.out)
        summary["rows"] = int(len(users))
    return summary
