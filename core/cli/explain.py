"""`python -m core explain`: why a run predicts a user's next item (attention, rollout, IG).

Prints a summary (the explained item, the top attributed events, the rollout row of the
prediction position); `--out F.json` writes everything, raw attention included, for the
dashboard or a notebook.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

NAME = "explain"
HELP = "explain a run's next-item prediction for one user (attention, rollout, gradients)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="trained run to explain")
    parser.add_argument("--user", required=True, help="user id as it appears in the source file")
    parser.add_argument(
        "--target",
        default=None,
        help="item id whose score to explain (default: the top predicted item)",
    )
    parser.add_argument(
        "--steps", type=int, default=32, help="Integrated Gradients integration steps (default: 32)"
    )
    parser.add_argument(
        "--top", type=int, default=5, help="how many top attributed events to list (default: 5)"
    )
    parser.add_argument("--out", default=None, help="write the full explanation to this JSON file")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.explain import explain_user
    from core.data.items import load_item_catalog
    from core.data.store import load_sequences
    from core.errors import BehaviorLensError
    from core.inference.loading import load_run
    from core.workspace import Workspace, atomic_write_text

    if not 1 <= args.steps <= 1024:
        raise BehaviorLensError(f"--steps must be in 1..1024, got {args.steps}")
    if args.top < 1:
        raise BehaviorLensError(f"--top must be at least 1, got {args.top}")
    workspace = Workspace.at(args.workspace)
    loaded = load_run(workspace, args.run)
    sequences = load_sequences(workspace, loaded.dataset)
    catalog = load_item_catalog(workspace, loaded.dataset)
    explanation = explain_user(
        loaded, sequences, args.user, args.target, args.steps, catalog=catalog
    )
    summary = {"run": args.run, **explanation.summary(args.top)}
    if args.out:
        try:
            atomic_write_text(Path(args.out), json.dumps(explanation.to_dict()) + "\n")
        except OSError as error:
            raise BehaviorLensError(f"{args.out}: cannot write ({error})") from error
        summary["out"] = str(args.out)
    return summary
