"""`python -m core runs`: every run side by side, with its quality beside the two baselines.

Prints the table (one line per run, newest first, "—" where a run has no such figure), then
the JSON summary. `--set-default RUN` (with `--dataset`) remembers the run the dashboard opens on for
that dataset. See core/analysis/runs_table.py for the columns.
"""

from __future__ import annotations

import argparse
import math

NAME = "runs"
HELP = "compare the trained runs (size, training, HR@10/NDCG@10 vs baselines); set the default"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default=None, help="only runs trained on this dataset")
    parser.add_argument(
        "--set-default",
        default=None,
        metavar="RUN",
        help="remember RUN as the dataset's default run (needs --dataset)",
    )


def run(args: argparse.Namespace) -> dict:
    from core.analysis.runs_table import compare_runs, default_run, set_default_run
    from core.errors import BehaviorLensError
    from core.workspace import Workspace

    workspace = Workspace.at(args.workspace)
    if args.set_default and not args.dataset:
        raise BehaviorLensError("--set-default needs --dataset: a default run is per dataset")
    if args.dataset:
        workspace.existing_dataset_dir(args.dataset)
    if args.set_default:
        set_default_run(workspace, args.dataset, args.set_default)
    table = compare_runs(workspace, args.dataset)
    if not table.empty:
        shown = table.astype(object).where(table.notna(), "—")
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    summary: dict = {"dataset": args.dataset, "runs": [_clean(r) for r in table.to_dict("records")]}
    if args.dataset:
        summary["default"] = default_run(workspace, args.dataset)
    return summary


def _clean(row: dict) -> dict:
    """NaN (a figure the run does not have) as null, numpy scalars as plain numbers."""
    out = {}
    for key, value in row.items():
        if hasattr(value, "item"):
            value = value.item()
        out[key] = None if isinstance(value, float) and math.isnan(value) else value
    return out
