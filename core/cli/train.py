"""`python -m core train`: pre-train the behaviour Transformer on a dataset in the workspace."""

from __future__ import annotations

import argparse
from typing import Any

from core.config_fields import add_fields, given
from core.training.config import ModelOptions, TrainConfig  # torch-free: --help stays fast

NAME = "train"
HELP = "pre-train the behaviour Transformer on a dataset (causal or masked objective)"
RENAMED = {"eval_max_users": "--eval-users"}  # flags whose name is not the field's


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--dataset, --run, --analyze, --resume, then one flag per TrainConfig / ModelOptions field."""
    from core.training.data_sizes import DENSE_DROPOUT, SPARSE_DROPOUT

    parser.add_argument("--dataset", required=True, help="dataset name in the workspace")
    parser.add_argument("--run", required=True, help="name of the run folder to create")
    parser.add_argument(
        "--analyze",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="then evaluate, segment, find session intents and score anomalies (as `analyze`)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run from its last checkpoint (its saved settings, new --max-minutes)",
    )
    notes = {"eval_max_users": "0 = all"}
    add_fields(parser.add_argument_group("training"), TrainConfig, flags=RENAMED, notes=notes)
    notes = {"dropout": f"sparse logs get {SPARSE_DROPOUT}, dense ones {DENSE_DROPOUT}"}
    add_fields(parser.add_argument_group("model sizes"), ModelOptions, notes=notes)


def _configs(args: argparse.Namespace) -> tuple[TrainConfig, ModelOptions]:
    """TrainConfig and ModelOptions from the flags given; the rest keep their defaults."""
    values = given(args, TrainConfig)
    if values.get("eval_max_users") == 0:  # --eval-users 0: every validation user
        values["eval_max_users"] = None
    return TrainConfig(**values), ModelOptions(**given(args, ModelOptions))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.errors import BehaviorLensError
    from core.progress import TqdmProgress
    from core.training.distributed import is_main_process
    from core.training.run import train_run
    from core.workspace import Workspace

    try:
        config, options = _configs(args)
    except ValueError as error:
        raise BehaviorLensError(f"train: {error}") from error
    progress = TqdmProgress()
    workspace = Workspace.at(args.workspace)
    try:
        summary = train_run(
            workspace,
            args.dataset,
            args.run,
            config,
            options,
            resume=args.resume,
            on_progress=progress,
            more_work=args.analyze,
        )
        if args.analyze and summary["stopped"] != "cancelled" and is_main_process():
            from core.analysis.pipeline import analyze_trained_run

            summary["analysis"] = analyze_trained_run(workspace, args.run, progress).steps
        return summary
    finally:
        progress.close()
