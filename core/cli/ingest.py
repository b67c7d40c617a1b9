"""`python -m core ingest PATH --name NAME …`: turn a behaviour log into a stored dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

NAME = "ingest"
HELP = "read a behaviour log (CSV, Parquet, RecBole .inter, sequence .txt) into the workspace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        help="the log file to ingest, or a folder or glob of (hive-)partitioned Parquet parts",
    )
    parser.add_argument("--name", required=True, help="dataset name in the workspace")
    parser.add_argument(
        "--format",
        default="auto",
        choices=["auto", "csv", "parquet", "recbole", "sequences"],
        help="file format (default: detect from extension and content)",
    )
    parser.add_argument("--no-header", action="store_true", help="line 1 is data, not column names")
    parser.add_argument(
        "--columns", help="comma-separated column names, e.g. for a headerless file"
    )
    parser.add_argument("--delimiter", help="field separator (default: sniffed); 'tab' for \\t")
    for role, example in (
        ("user", "user_id"),
        ("time", "timestamp"),
        ("event", "event_type"),
        ("item", "item_id"),
        ("session", "session_id"),
        ("category", "category_id"),
    ):
        parser.add_argument(f"--{role}", metavar="COL", help=f"the {role} column, e.g. {example}")
    parser.add_argument(
        "--items",
        metavar="FILE",
        help="item table (CSV or Parquet): an item id column plus name, brand, category, price, …",
    )
    parser.add_argument(
        "--accept-mapping",
        action="store_true",
        help="ingest even when the mapping checks object (a user id that is mostly NA, …)",
    )
    parser.add_argument(
        "--session-gap",
        default="30m",
        help="inactivity that starts a new session: 90s, 30m, 1h, 2d or seconds (default 30m)",
    )
    parser.add_argument(
        "--min-item-count",
        type=int,
        default=1,
        help="items seen fewer times map to UNK (default 1: keep all)",
    )
    add_limit_arguments(parser)


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per IngestLimits field (--max-rows N, …), its help and default from the field."""
    from dataclasses import fields

    from core.data.limits import IngestLimits, flag, variable

    group = parser.add_argument_group("limits (0: no limit; flags win over environment variables)")
    for f in fields(IngestLimits):
        group.add_argument(
            flag(f.name),
            dest=f.name,
            metavar="N",
            type=_size_argument,
            default=None,
            help=f"{f.metadata['help']} (default {f.default:,}, or ${variable(f.name)})",
        )


def _size_argument(text: str) -> int:
    from core.data.limits import parse_size
    from core.errors import InputError

    try:
        return parse_size(text, "limit")
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def options_from_args(args: argparse.Namespace) -> Any:
    from dataclasses import fields

    from core.data.ingest import IngestOptions
    from core.data.limits import IngestLimits

    delimiter = args.delimiter
    if delimiter is not None and delimiter.lower() in ("tab", "\\t"):
        delimiter = "\t"
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    return IngestOptions(
        format=args.format,
        has_header=False if args.no_header else None,
        columns=columns,
        delimiter=delimiter,
        user=args.user,
        time=args.time,
        event=args.event,
        item=args.item,
        session=args.session,
        category=args.category,
        session_gap=args.session_gap,
        min_item_count=args.min_item_count,
        items=args.items,
        accept_mapping=args.accept_mapping,
        limits=IngestLimits.from_env().overridden(
            **{f.name: getattr(args, f.name, None) for f in fields(IngestLimits)}
        ),
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.data.ingest import ingest, ingest_warnings
    from core.data.store import load_manifest
    from core.progress import TqdmProgress
    from core.workspace import Workspace

    workspace = Workspace.at(args.workspace)
    progress = TqdmProgress()
    try:
        summary = ingest(
            Path(args.path),
            args.name,
            workspace,
            options_from_args(args),
            on_progress=progress,
        )
    finally:
        progress.close()
    for warning in ingest_warnings(args.path, load_manifest(workspace, args.name)):
        print(f"warning: {warning}", file=sys.stderr)
    return summary
