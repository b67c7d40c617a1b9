"""`python -m core COMMAND …`: one argparse front end over the core functions.

Each command lives in its own module exposing `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> dict`. The dict is printed as the last line of stdout, as one JSON object, which is
the contract scripts and tests rely on. Under torchrun, commands whose ranks gather their work
on rank 0 (`evaluate`, `predict`) return None on the other ranks, which then print nothing. User errors exit with code 2 and one `error: …` line on
stderr, never a traceback. Command modules import heavy libraries (torch) inside `run`, so
`--help` and `ingest` stay fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from types import ModuleType

from core.cli import (
    analyze,
    anomalies,
    datasets,
    evaluate,
    explain,
    finetune,
    ingest,
    predict,
    report,
    runs,
    score,
    segment,
    train,
)
from core.errors import BehaviorLensError, disk_full

# The command modules, in the order `--help` lists them. Add new commands here.
COMMAND_MODULES: list[ModuleType] = [
    ingest,
    datasets,
    train,
    runs,
    evaluate,
    predict,
    report,
    segment,
    anomalies,
    analyze,
    score,
    finetune,
    explain,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="Behavior Lens: turn a behaviour log into a Transformer's view of your users.",
    )
    workspace_help = "folder holding datasets and runs (default: ./workspace)"
    # Accepted before or after the command; SUPPRESS keeps the sub-command from resetting it.
    parser.add_argument("--workspace", default="workspace", help=workspace_help)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        sub.add_argument("--workspace", default=argparse.SUPPRESS, help=workspace_help)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["--"]:  # `torchrun … -m core -- train …`: torchrun's own parser stops at --
        words = words[1:]
    args = build_parser().parse_args(words)
    try:
        summary = args.handler(args)
    except BehaviorLensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the workspace is unchanged", file=sys.stderr)
        return 130
    except Exception as error:  # only a full disk is a user error here; anything else is a bug
        full = disk_full(error)
        if full is None:
            raise
        print(f"error: {full}", file=sys.stderr)
        return 2
    if summary is not None:
        print(json.dumps(summary, default=str))
    return 0
