"""`python -m core train`: pre-train the behaviour Transformer on a dataset in the workspace."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "train"
HELP = "pre-train the behaviour Transformer on a dataset (causal or masked objective)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 60)")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop after this many minutes of training (checkpoint kept)",
    )
    parser.add_argument("--max-len", type=int, default=50, help="longest history read (events)")
    parser.add_argument("--dim", type=int, default=64, help="hidden width")
    parser.add_argument("--layers", type=int, default=2, help="Transformer blocks")
    parser.add_argument("--heads", type=int, default=2, help="attention heads (must divide --dim)")
    parser.add_argument("--dropout", type=float, default=0.3, help="dropout rate")
    parser.add_argument("--batch-size", type=int, default=None, help="sequences per step (128)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (2e-3)")
    parser.add_argument(
        "--loss",
        choices=("auto", "full", "sampled"),
        default="auto",
        help="item loss: full softmax, sampled softmax, or auto by catalogue size",
    )
    parser.add_argument(
        "--negatives", type=int, default=None, help="negatives per batch for sampled softmax (1024)"
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=None,
        help="evaluations without improvement before early stopping (5)",
    )
    parser.add_argument(
        "--eval-users",
        type=int,
        default=None,
        help="validation users per evaluation (10000; 0 = all)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto uses a CUDA GPU when present (with bf16 autocast)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (0)")
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
    from core.training.run import ModelOptions, train_run
    from core.workspace import Workspace

    try:
        config = _train_config(args)
        options = ModelOptions(args.max_len, args.dim, args.layers, args.heads, args.dropout)
    except ValueError as error:
        raise BehaviorLensError(f"train: {error}") from error
    progress = TqdmProgress()
    try:
        return train_run(
            Workspace.at(args.workspace),
            args.dataset,
            args.run,
            config,
            options,
            resume=args.resume,
            on_progress=progress,
        )
    finally:
        progress.close()
