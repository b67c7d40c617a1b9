"""`python -m core report`: write a self-contained HTML report (or PDF, or CSV tables)."""

from __future__ import annotations

import argparse
from typing import Any

from core.reports import FORMATS  # a constant only: pandas loads in run()

NAME = "report"
HELP = (
    "write a self-contained HTML or PDF report (or CSV tables) of a dataset and, optionally, a run"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", help="dataset name in the workspace (default: the dataset of --run)"
    )
    parser.add_argument(
        "--run", default=None, help="run whose metrics, segments and anomalies to include"
    )
    parser.add_argument(
        "--out",
        required=True,
        help="output file (html, pdf) or folder (csv), e.g. report.html or report.pdf",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="html",
        help="html file, pdf file (printed by headless Chromium) or a folder of CSV tables",
    )
    parser.add_argument(
        "--sections",
        default=None,
        help="comma-separated sections (summary,behaviour,model,segments,anomalies); "
        "default: every section that has content",
    )
    parser.add_argument(
        "--segment", default=None, help="restrict the report to one segment (id or name)"
    )
    parser.add_argument(
        "--funnel",
        default=None,
        help="comma-separated event types of the funnel, e.g. view,cart,buy "
        "(default: the 4 most frequent event types)",
    )
    parser.add_argument(
        "--funnel-within", choices=("session", "user"), default="session", help="funnel unit"
    )
    parser.add_argument(
        "--freq",
        choices=("minute", "hour", "day", "week"),
        default=None,
        help="volume chart bin width (default: chosen from the log's span)",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.reports.export import write_report
    from core.reports.request import ReportOptions, ReportRequest
    from core.workspace import Workspace

    workspace = Workspace.at(args.workspace)
    dataset = args.dataset or _dataset_of_run(workspace, args.run)
    options = ReportOptions(
        funnel_steps=_split(args.funnel),
        funnel_within=args.funnel_within,
        volume_freq=args.freq,
    )
    request = ReportRequest(
        dataset=dataset,
        run=args.run,
        sections=_split(args.sections),
        segment_filter=args.segment,
        options=options,
    )
    return write_report(workspace, request, args.out, format=args.format)


def _dataset_of_run(workspace: Any, run: str | None) -> str:
    """A run knows the dataset it was trained on, so `--run` alone is enough."""
    from core.errors import BehaviorLensError
    from core.workspace import read_json

    if not run:
        raise BehaviorLensError("give --run NAME or --dataset NAME")
    return str(read_json(workspace.existing_run_dir(run) / "config.json")["dataset"])


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]
