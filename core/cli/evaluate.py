"""`python -m core evaluate`: leave-one-out metrics of a trained run, beside the baselines.

The last stdout line is one JSON object (the protocol is always named in it); a readable table
goes to stderr. `--dataset NAME` without `--run` evaluates only the baselines, so an analyst can
see what popularity and a Markov chain achieve before training anything.
"""

from __future__ import annotations

import argparse
import sys

from core.errors import BehaviorLensError
from core.progress import TqdmProgress
from core.workspace import Workspace

NAME = "evaluate"
HELP = "rank each user's held-out next item and report HR@K, NDCG@K and MRR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", help="trained run to evaluate (its dataset is used)")
    parser.add_argument(
        "--dataset", help="dataset to evaluate; without --run only the baselines are evaluated"
    )
    parser.add_argument(
        "--protocol",
        choices=["full", "sampled-100"],
        default="full",
        help="rank the target against all unseen items (full) or 100 sampled ones (default: full)",
    )
    parser.add_argument(
        "--k", type=int, nargs="+", default=[10], help="cut-offs for HR@K and NDCG@K (default: 10)"
    )
    parser.add_argument(
        "--split",
        choices=["test", "valid"],
        default="test",
        help="held-out event: each user's last (test) or second-last (valid) (default: test)",
    )
    parser.add_argument(
        "--baselines", action="store_true", help="also evaluate most-popular and Markov baselines"
    )
    parser.add_argument(
        "--max-users", type=int, default=None, help="evaluate a seeded random subset of users"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for user subsets and negatives")
    parser.add_argument(
        "--batch-size", type=int, default=256, help="users scored at once (memory vs speed)"
    )


def run(args: argparse.Namespace) -> dict:
    from core.evaluation.leave_one_out import evaluate
    from core.evaluation.report import evaluate_baselines, format_table

    _check_arguments(args)
    workspace = Workspace.at(args.workspace)
    progress = TqdmProgress()
    options = {
        "split": args.split,
        "protocol": args.protocol,
        "ks": tuple(args.k),
        "max_users": args.max_users,
        "seed": args.seed,
        "batch_size": args.batch_size,
    }
    summary: dict = {}
    rows: dict[str, dict] = {}
    if args.run:
        loaded = _load_run(workspace, args.run, args.dataset)
        sequences = _load_sequences(workspace, loaded.dataset)
        loaded.check_vocab(sequences)
        result = evaluate(loaded.scorer(), sequences, on_progress=progress, **options)
        summary = {"run": args.run, "dataset": loaded.dataset, **result}
        rows[args.run] = result
    else:
        sequences = _load_sequences(workspace, args.dataset)
        summary = {"dataset": args.dataset, "protocol": args.protocol, "split": args.split}
    if args.baselines or not args.run:
        baselines = evaluate_baselines(sequences, on_progress=progress, **options)
        summary["baselines"] = baselines
        summary.setdefault("users", baselines["popular"]["users"])
        rows.update(baselines)
    progress.close()
    if args.run:
        _save_metrics(workspace, args.run, rows)
    print(f"protocol: {args.protocol}, split: {args.split}", file=sys.stderr)
    print(format_table(rows, args.k), file=sys.stderr)
    return summary


def _save_metrics(workspace: Workspace, run_name: str, rows: dict[str, dict]) -> None:
    """Keep the latest evaluation in the run folder: reports and the dashboard read it there."""
    from core.workspace import atomic_write_json

    atomic_write_json(workspace.run_dir(run_name) / "metrics.json", rows)


def _check_arguments(args: argparse.Namespace) -> None:
    if not args.run and not args.dataset:
        raise BehaviorLensError("give --run NAME, or --dataset NAME to evaluate only the baselines")
    if any(k < 1 for k in args.k):
        raise BehaviorLensError(f"--k must be at least 1, got {args.k}")
    if args.max_users is not None and args.max_users < 1:
        raise BehaviorLensError(f"--max-users must be at least 1, got {args.max_users}")
    if args.batch_size < 1:
        raise BehaviorLensError(f"--batch-size must be at least 1, got {args.batch_size}")


def _load_run(workspace: Workspace, run_name: str, dataset: str | None):
    from core.training.checkpoint import load_run

    loaded = load_run(workspace, run_name)
    if dataset and dataset != loaded.dataset:
        raise BehaviorLensError(
            f"run {run_name!r} was trained on dataset {loaded.dataset!r}, not {dataset!r}; "
            "its item ids only fit its own dataset"
        )
    return loaded


def _load_sequences(workspace: Workspace, dataset: str):
    from core.data.store import load_sequences

    return load_sequences(workspace, dataset)
