"""`python -m core segment`: group a run's users into named segments with profiles and a 2-D map.

Writes segments.parquet, segment_assignments.parquet and segments.json into the run folder (see
docs/contracts.md); `--out F.csv` also writes one row per user (user_id, segment, segment_name,
x, y), spreadsheet-safe. `--rename 3="big spenders"` stores an analyst's name for segment 3.
"""

from __future__ import annotations

import argparse
from typing import Any

from core.errors import BehaviorLensError

NAME = "segment"
HELP = "segment a run's users (k-means or HDBSCAN) with profiles, names and a 2-D map"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="trained run whose users to segment")
    parser.add_argument(
        "--method",
        choices=("kmeans", "hdbscan"),
        default="kmeans",
        help="k-means with k by bootstrap stability and silhouette (default) or HDBSCAN",
    )
    parser.add_argument(
        "--k",
        type=int,
        default=None,
        help="fixed number of k-means segments (default: chosen among 3-8)",
    )
    parser.add_argument(
        "--weights",
        default="",
        metavar="NAME=W,…",
        help="override block weights of the segment space: behaviour, predicted, state, "
        "preference (default: the measured preset for the log, e.g. behaviour=1,predicted=0.5,"
        "state=0.25,preference=0.25 with event types); 0 leaves a block out",
    )
    parser.add_argument(
        "--projection",
        choices=("auto", "pca", "tsne", "umap"),
        default="auto",
        help="2-D map: auto = UMAP when installed, else PCA",
    )
    parser.add_argument(
        "--level",
        choices=("user", "session"),
        default="user",
        help="user segments (default) or session intents: what each visit was for",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="SEG=NAME",
        help="name segment SEG (repeatable); an empty NAME restores the automatic one",
    )
    parser.add_argument("--out", default=None, help="also write one row per user to this CSV")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.naming import save_renames
    from core.analysis.segment_space import BlockWeights
    from core.analysis.segments import SegmentConfig, segment_run
    from core.progress import TqdmProgress
    from core.reports.csv_safe import write_csv_safe
    from core.workspace import Workspace

    if args.k is not None and args.k < 1:
        raise BehaviorLensError(f"--k must be at least 1, got {args.k}")
    weights = None
    if args.weights:
        try:
            weights = BlockWeights.parse(args.weights, BlockWeights())
        except ValueError as error:
            raise BehaviorLensError(f"--weights {error}") from error
    workspace = Workspace.at(args.workspace)
    if args.level == "session":
        return _session_intents(workspace, args)
    if args.rename:
        save_renames(workspace.existing_run_dir(args.run), _parse_renames(args.rename))
    config = SegmentConfig(
        method=args.method,
        k=args.k,
        weights=weights,
        projection=args.projection,
        seed=args.seed,
    )
    progress = TqdmProgress()
    try:
        result = segment_run(workspace, args.run, config, on_progress=progress)
    finally:
        progress.close()
    summary = {"run": args.run, **result.summary}
    if args.out:
        write_csv_safe(result.assignments, args.out)
        summary["out"] = str(args.out)
    return summary


def _session_intents(workspace: Any, args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.session_intents import SessionIntentConfig, intents_run
    from core.reports.csv_safe import write_csv_safe

    config = SessionIntentConfig(seed=args.seed)
    if args.k is not None:
        config.k_min = config.k_max = args.k
    profiles, summary = intents_run(workspace, args.run, config)
    if args.out:
        write_csv_safe(profiles, args.out)
        summary["out"] = str(args.out)
    return {"run": args.run, "level": "session", **summary}


def _parse_renames(values: list[str]) -> dict[int, str]:
    renames = {}
    for value in values:
        seg, sep, name = value.partition("=")
        if not sep or not seg.strip().lstrip("-").isdigit():
            raise BehaviorLensError(f"--rename {value!r}: expected SEG=NAME, e.g. 3=big spenders")
        renames[int(seg)] = name
    return renames
