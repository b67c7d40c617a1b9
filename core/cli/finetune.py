"""`python -m core finetune`: fine-tune a pre-trained run on labels or a derived target.

The new run is compared, on the same held-out users, with a logistic regression on
bag-of-events counts, so the summary shows what the Transformer adds.
"""

from __future__ import annotations

import argparse
from typing import Any

from core.config_fields import add_fields, given
from core.training.config import FineTuneConfig  # torch-free: --help stays fast

NAME = "finetune"
HELP = "fine-tune a run to classify users/sessions or tag key events, vs a counts baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--run, --name, what to predict, then one flag per FineTuneConfig field."""
    from core.training.targets import CHURN_DAYS

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
        default=CHURN_DAYS,
        help=f"churn: days without activity after the cut-off (default: {CHURN_DAYS:g})",
    )
    parser.add_argument(
        "--purchase-events",
        default=None,
        help="comma-separated event types that mean purchase (default: detect)",
    )
    add_fields(parser.add_argument_group("fine-tuning"), FineTuneConfig)


def _config(args: argparse.Namespace) -> FineTuneConfig:
    """FineTuneConfig from the flags given; the rest keep their defaults."""
    return FineTuneConfig(**given(args, FineTuneConfig))


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
