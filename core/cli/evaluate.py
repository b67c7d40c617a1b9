"""`python -m core evaluate`: leave-one-out metrics of a trained run, beside the baselines.

The last stdout line is one JSON object (the protocol is always named in it); a readable table
goes to stderr. `--dataset NAME` without `--run` evaluates only the baselines, so an analyst can
see what popularity and a Markov chain achieve before training anything.

Under `torchrun --nproc_per_node=N -m core -- evaluate …` each rank scores its share of the
users; rank 0 gathers them, writes metrics.json and prints (the same figures as one process).
"""

from __future__ import annotations

import argparse
import sys

from core.errors import BehaviorLensError
from core.evaluation.user_budget import EVALUATED_SCORE_CELLS, MAX_EVALUATED_USERS
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
        "--max-users",
        type=int,
        default=None,
        help=f"evaluate a seeded random subset of users (default: every user up to "
        f"{MAX_EVALUATED_USERS:,}, a sample past that, smaller on catalogues of over "
        f"{EVALUATED_SCORE_CELLS // MAX_EVALUATED_USERS:,} items; 0: every user)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for user subsets and negatives")
    parser.add_argument(
        "--batch-size", type=int, default=256, help="users scored at once (memory vs speed)"
    )


def run(args: argparse.Namespace) -> dict | None:
    from core.evaluation.report import format_table
    from core.inference.loading import resolve_device
    from core.training.distributed import process_group

    _check_arguments(args)
    with process_group(resolve_device("auto")) as context:  # torchrun: each rank a share
        progress = TqdmProgress(enabled=None if context.is_main else False)  # one bar
        options = {
            "split": args.split,
            "protocol": args.protocol,
            "ks": tuple(args.k),
            "max_users": args.max_users,
            "seed": args.seed,
            "batch_size": args.batch_size,
            "context": context,
        }
        try:
            summary, rows = _evaluate(Workspace.at(args.workspace), args, options, progress)
        finally:
            progress.close()
    if not context.is_main:
        return None  # rank 0 prints (and wrote metrics.json)
    print(f"protocol: {args.protocol}, split: {args.split}", file=sys.stderr)
    print(format_table(rows, args.k), file=sys.stderr)
    return summary


def _evaluate(
    workspace: Workspace, args: argparse.Namespace, options: dict, progress: TqdmProgress
) -> tuple[dict, dict[str, dict]]:
    """(summary, table rows) of the run (saved to metrics.json) or of the baselines alone."""
    from core.evaluation.report import evaluate_baselines

    if args.run:
        from core.analysis.run_info import evaluate_and_save

        rows = evaluate_and_save(
            workspace, args.run, args.baselines, args.dataset, on_progress=progress, **options
        )
        summary = {"run": args.run, "dataset": _run_dataset(workspace, args.run), **rows[args.run]}
        if args.baselines:
            summary["baselines"] = {name: rows[name] for name in rows if name != args.run}
        return summary, rows
    sequences = _load_sequences(workspace, args.dataset)
    rows = evaluate_baselines(sequences, on_progress=progress, **options)
    summary = {"dataset": args.dataset, "protocol": args.protocol, "split": args.split}
    summary["baselines"] = rows
    summary["users"] = rows["popular"]["users"]
    return summary, rows


def _check_arguments(args: argparse.Namespace) -> None:
    if not args.run and not args.dataset:
        raise BehaviorLensError("give --run NAME, or --dataset NAME to evaluate only the baselines")
    if any(k < 1 for k in args.k):
        raise BehaviorLensError(f"--k must be at least 1, got {args.k}")
    if args.max_users is not None and args.max_users < 0:
        raise BehaviorLensError(f"--max-users must be 0 (every user) or more, got {args.max_users}")
    if args.batch_size < 1:
        raise BehaviorLensError(f"--batch-size must be at least 1, got {args.batch_size}")


def _run_dataset(workspace: Workspace, run_name: str) -> str:
    from core.analysis.run_info import run_meta

    return str(run_meta(workspace, run_name)["dataset"])


def _load_sequences(workspace: Workspace, dataset: str):
    from core.data.store import load_sequences

    return load_sequences(workspace, dataset)
