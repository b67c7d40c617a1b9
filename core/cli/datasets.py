"""`python -m core datasets`: list the datasets the workspace holds, as JSON."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "datasets"
HELP = "list the ingested datasets in the workspace (name, source, counts, time range)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond --workspace."""


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from core.data.store import list_datasets
    from core.workspace import Workspace

    return list_datasets(Workspace.at(args.workspace))
