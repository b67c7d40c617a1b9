"""`python -m core train`: pre-train the behaviour Transformer on a dataset in the workspace."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

NAME = "train"
HELP = "pre-train the behaviour Transformer on a dataset (causal or masked objective)"


def _defaults() -> dict[str, Any]:
    """Every default of TrainConfig and ModelOptions, so help texts never drift from them."""
    from core.training.config import ModelOptions, TrainConfig

    return {f.name: f.default for cls in (TrainConfig, ModelOptions) for f in fields(cls)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from core.training.data_sizes import DENSE_DROPOUT, SPARSE_DROPOUT

    d = _defaults()
    parser.add_argument("--dataset", required=True, help="dataset name in the workspace")
    parser.add_argument("--run", required=True, help="name of the run folder to create")
    parser.add_argument(
        "--objective",
        choices=("causal", "masked"),
        default="causal",
        help="causal next-event (SASRec-style, default) or masked (BERT4Rec-style)",
    )
    parser.add_argument(
        "--nsp", action="store_true", help="add the next-segment-prediction auxiliary loss"
    )
    parser.add_argument("--epochs", type=int, default=None, help=f"maximum epochs ({d['epochs']})")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop after this many minutes of training (checkpoint kept)",
    )
    parser.add_argument(
        "--max-len", type=int, default=None, help=f"longest history read ({d['max_len']} events)"
    )
    parser.add_argument("--dim", type=int, default=None, help=f"hidden width ({d['dim']})")
    parser.add_argument(
        "--layers", type=int, default=None, help=f"Transformer blocks ({d['layers']})"
    )
    parser.add_argument(
        "--heads", type=int, default=None, help=f"attention heads, must divide --dim ({d['heads']})"
    )
    parser.add_argument(
        "--dropout",
        type=float,
        default=None,
        help=f"dropout rate (default: {SPARSE_DROPOUT} on sparse logs, {DENSE_DROPOUT} on dense)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help=f"sequences per step ({d['batch_size']})"
    )
    parser.add_argument("--lr", type=float, default=None, help=f"peak learning rate ({d['lr']})")
    parser.add_argument(
        "--loss",
        choices=("auto", "full", "sampled"),
        default="auto",
        help="item loss: full softmax, sampled softmax, or auto by catalogue size",
    )
    parser.add_argument(
        "--negatives",
        type=int,
        default=None,
        help=f"negatives per batch for sampled softmax ({d['negatives']})",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=None,
        help=f"evaluations without improvement before early stopping ({d['patience']})",
    )
    parser.add_argument(
        "--eval-users",
        type=int,
        default=None,
        help=f"validation users per evaluation ({d['eval_max_users']}; 0 = all)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto uses a CUDA GPU when present (with bf16 autocast)",
    )
    parser.add_argument("--seed", type=int, default=None, help=f"random seed ({d['seed']})")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: the cores idle now, measured again every minute)",
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="then evaluate, segment, find session intents and score anomalies (as `analyze`)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run from its last checkpoint (its saved settings, new --max-minutes)",
    )


def _train_config(args: argparse.Namespace) -> Any:
    from core.training.config import TrainConfig

    overrides = {
        "epochs": args.epochs,
        "max_minutes": args.max_minutes,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "negatives": args.negatives,
        "patience": args.patience,
        "seed": args.seed,
        "threads": args.threads,
    }
    values = {k: v for k, v in overrides.items() if v is not None}
    if args.eval_users is not None:
        values["eval_max_users"] = args.eval_users or None
    return TrainConfig(
        objective=args.objective, nsp=args.nsp, loss=args.loss, device=args.device, **values
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.errors import BehaviorLensError
    from core.progress import TqdmProgress
    from core.training.distributed import is_main_process
    from core.training.run import ModelOptions, train_run
    from core.workspace import Workspace

    try:
        config = _train_config(args)
        sizes = {k: getattr(args, k) for k in ("max_len", "dim", "layers", "heads", "dropout")}
        options = ModelOptions(**{k: v for k, v in sizes.items() if v is not None})
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
