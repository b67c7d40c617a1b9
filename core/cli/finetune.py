"""`python -m core finetune`: fine-tune a pre-trained run on labels or a derived target.

The new run is compared, on the same held-out users, with a logistic regression on
bag-of-events counts, so the summary shows what the Transformer adds.
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "finetune"
HELP = "fine-tune a run to classify users/sessions or tag key events, vs a counts baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="pre-trained parent run")
    parser.add_argument("--name", required=True, help="name of the new fine-tuned run")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--labels",
        default=None,
        help="CSV KEY,label with KEY user_id, session_id (session_idx) or src_row",
    )
    what.add_argument(
        "--target",
        choices=("next-session-purchase", "churn"),
        default=None,
        help="derived sequence target: purchase in the next session, or churn",
    )
    what.add_argument(
        "--tag",
        choices=("precedes-purchase",),
        default=None,
        help="derived event tag: a purchase follows this event in its session",
    )
    parser.add_argument(
        "--churn-days",
        type=float,
        default=14.0,
        help="churn: days without activity after the cut-off (default: 14)",
    )
    parser.add_argument(
        "--purchase-events",
        default=None,
        help="comma-separated event types that mean purchase (default: detect)",
    )
    parser.add_argument(
        "--freeze-embeddings",
        action="store_true",
        help="keep the pre-trained input embeddings fixed",
    )
    parser.add_argument(
        "--freeze-blocks",
        type=int,
        default=0,
        help="keep the first N Transformer blocks fixed (default: 0)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: 20)")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop after the batch that passes this many minutes (best weights kept)",
    )
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: 5e-4)")
    parser.add_argument(
        "--weight-decay", type=float, default=None, help="AdamW weight decay (default: 0.01)"
    )
    parser.add_argument(
        "--dropout", type=float, default=None, help="encoder dropout (default: the parent's)"
    )
    parser.add_argument(
        "--no-class-weights", action="store_true", help="do not weight classes by inverse frequency"
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=None,
        help="epochs without validation gain before stopping (default: 3)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto uses a CUDA GPU when present",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")


def _config(args: argparse.Namespace) -> Any:
    from core.training.finetune.fit import FineTuneConfig

    overrides = {
        "epochs": args.epochs,
        "max_minutes": args.max_minutes,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "dropout": args.dropout,
        "patience": args.patience,
        "seed": args.seed,
    }
    values = {k: v for k, v in overrides.items() if v is not None}
    return FineTuneConfig(
        freeze_embeddings=args.freeze_embeddings,
        freeze_blocks=args.freeze_blocks,
        class_weights=not args.no_class_weights,
        device=args.device,
        **values,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.errors import BehaviorLensError
    from core.progress import TqdmProgress
    from core.training.finetune.run import TargetSpec, finetune_run
    from core.workspace import Workspace

    try:
        config = _config(args)
    except ValueError as error:
        raise BehaviorLensError(f"finetune: {error}") from error
    purchase = (
        tuple(p.strip() for p in args.purchase_events.split(",") if p.strip())
        if args.purchase_events
        else None
    )
    spec = TargetSpec(
        labels=args.labels,
        target=args.target,
        tag=args.tag,
        churn_days=args.churn_days,
        purchase_events=purchase,
    )
    progress = TqdmProgress()
    try:
        return finetune_run(
            Workspace.at(args.workspace), args.run, args.name, spec, config, on_progress=progress
        )
    except ValueError as error:  # e.g. --freeze-blocks beyond the parent's depth
        raise BehaviorLensError(f"finetune: {error}") from error
    finally:
        progress.close()
