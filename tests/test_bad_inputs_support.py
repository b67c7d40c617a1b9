"""Run one file through the two ways in: the CLI (a capped subprocess) and the upload path.

Both return an `Outcome`, so a test states one expectation and checks it on each. Shared by
tests/test_bad_inputs.py and tests/test_fuzz_ingest.py.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.data.ingest import IngestOptions, ingest, ingest_warnings, preview
from core.data.limits import IngestLimits
from core.data.mapping_checks import check_mapping
from core.data.store import events_path, load_manifest
from core.errors import BehaviorLensError, InputError, for_analyst
from core.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
MEMORY_CAP = 4 << 30  # address space of one CLI ingest: a bounded read stays far below
CLI_TIMEOUT = 300  # seconds; a hang fails the test instead of the CI job
NAME = "d"


@dataclass
class Outcome:
    """What one way in gave: ingested (code 0, summary) or refused (code 2, one error line)."""

    code: int
    error: str = ""  # the error without "error: " (CLI) or as the dashboard shows it
    summary: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    stderr: str = ""  # everything the CLI wrote on stderr (for tracebacks)


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_cli(path: Path, workspace: Path, *flags: str, env: dict[str, str] | None = None) -> Outcome:
    """`python -m core ingest PATH --name d --workspace WS FLAGS` under a 4 GB cap and a timeout."""
    command = [sys.executable, "-m", "core", "ingest", str(path), "--name", NAME,
               "--workspace", str(workspace), *flags]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        preexec_fn=_cap_memory,
        env={**os.environ, **(env or {})},
    )
    errors = [
        line[len("error: ") :] for line in done.stderr.splitlines() if line.startswith("error: ")
    ]
    warnings = [line[len("warning: ") :] for line in done.stderr.splitlines()
                if line.startswith("warning: ")]  # fmt: skip
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    return Outcome(done.returncode, "\n".join(errors), summary, warnings, done.stderr)


def run_upload(path: Path, workspace: Workspace, limits: IngestLimits | None = None) -> Outcome:
    """The Data page's steps, without the page: save the upload, preview, check the mapping
    (issues keep Ingest disabled; their words are shown), ingest, show the warnings."""
    from dashboard.components.upload import save_upload

    with path.open("rb") as stream:
        saved = save_upload(io.BufferedReader(stream), path.name, workspace.root / "uploads" / "t")
    options = IngestOptions() if limits is None else IngestOptions(limits=limits)
    try:
        proposal = preview(saved, options)
        mapping = proposal.mapping.as_dict()
        issues = check_mapping(proposal.source, mapping)
        if issues:
            issue = issues[0]
            blocked = InputError(issue.problem, file=saved, column=issue.column)
            return Outcome(2, for_analyst(blocked))
        roles = {role: column for role, column in mapping.items() if column}
        summary = ingest(saved, NAME, workspace, replace(options, **roles))
    except BehaviorLensError as error:
        return Outcome(2, for_analyst(error))
    manifest = load_manifest(workspace, NAME)
    return Outcome(0, "", summary, ingest_warnings(saved.name, manifest, for_analyst=True))


def assert_consistent(workspace: Workspace, summary: dict[str, Any]) -> None:
    """The stored dataset says what the summary says: events, users, items, types, rejects."""
    table = pq.read_table(events_path(workspace, NAME), columns=["user_id", "item", "event"])
    manifest = load_manifest(workspace, NAME)["stats"]
    assert table.num_rows == summary["events"] == manifest["events"]
    assert pc.count_distinct(table.column("user_id")).as_py() == summary["users"]
    assert pc.count_distinct(table.column("item")).as_py() == summary["items"]  # nulls skipped
    assert sum(summary["event_types"].values()) == summary["events"]
    assert manifest["rejected_rows"] == summary["rejected_rows"]
    assert manifest["trimmed_events"] == summary.get("trimmed_events", 0)
