"""Ingest one behaviour log into the workspace: inspect -> read -> validate -> index -> write.

The whole dataset folder is built in a staging folder (core.workspace.atomic_directory) and swapped
in at the end, so a failed or interrupted ingest leaves the workspace exactly as it was, including
an older dataset of the same name.
"""

from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from core.data import build, write
from core.data.items import (
    ATTRIBUTE_COLUMNS,
    build_item_table,
    find_columns,
    merge_item_tables,
    read_item_file,
    write_item_table,
)
from core.data.limits import IngestLimits, exceeded, human_bytes
from core.data.mapping import ROLES, ColumnMapping, MappingPreview, detect_mapping
from core.data.memory import release_cached_memory, return_freed_memory_promptly
from core.data.reader import MAX_REJECT_EXAMPLES, read_item_attributes, read_source
from core.data.sniff import source_sha256
from core.data.timeparse import parse_gap
from core.data.vocab import RESERVED_TOKENS
from core.errors import InputError
from core.progress import ProgressCallback, ProgressEvent, ignore_progress
from core.workspace import Workspace, atomic_directory, atomic_write_json

_STEPS = ("inspect", "read", "validate", "index+sort+sessionize", "write", "stats")


@dataclass
class IngestOptions:
    """How to read a file; every field has a default that auto-detects or keeps everything."""

    format: str = "auto"  # auto | csv | parquet | recbole | sequences
    has_header: bool | None = None  # None: detect; False: line 1 is data (--no-header)
    columns: list[str] | None = None  # names for the columns, e.g. of a headerless file
    delimiter: str | None = None  # None: sniff among , tab ; | space
    user: str | None = None  # explicit column per role (None: detect by name, then content)
    time: str | None = None
    event: str | None = None
    item: str | None = None
    session: str | None = None  # given: sessions come from this column, not from gaps
    category: str | None = None
    session_gap: str = "30m"  # inactivity that starts a new session: 90s, 30m, 1h, 2d, 45
    min_item_count: int = 1  # items seen fewer times map to UNK (1 keeps all)
    items: str | None = None  # item table (CSV/Parquet: item id + name, brand, price, …)
    accept_mapping: bool = False  # ingest even though the mapping checks object (see issues)
    threads: int | None = None  # DuckDB threads; None: all cores
    memory_limit: str = "1GB"  # DuckDB memory before it spills to disk in the staging folder
    limits: IngestLimits = field(default_factory=IngestLimits.from_env)  # size, rows, items, …

    def overrides(self) -> dict[str, str | None]:
        return {role: getattr(self, role) for role in ROLES}


def preview(
    path: str | Path, options: IngestOptions | None = None, require: bool = True
) -> MappingPreview:
    """What `ingest` would detect for this file, for the dashboard's confirm step.

    `require=False`: a proposal even when a required column was not found, for the analyst to
    pick it (`core.data.mapping.missing_roles` says which)."""
    opts = options or IngestOptions()
    if Path(path).is_file():  # before the file is scanned at all
        _check_size(path, Path(path).stat().st_size, opts.limits)
    found = detect_mapping(
        path,
        opts.format,
        opts.delimiter,
        opts.has_header,
        opts.columns,
        opts.overrides(),
        require=require,
    )
    _check_size(path, found.source.bytes, opts.limits)  # a folder of parts: their total
    return found


def _check_size(path: str | Path, size: int, limits: IngestLimits) -> None:
    if limits.max_file_bytes and size > limits.max_file_bytes:
        found = f"the file is {human_bytes(size)}"
        raise exceeded("max_file_bytes", found, limits.max_file_bytes, path)


def ingest(
    path: str | Path,
    name: str,
    workspace: Workspace,
    options: IngestOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Ingest `path` as dataset `name`; returns the CLI summary. Raises InputError on bad input."""
    opts = options or IngestOptions()
    report = on_progress or ignore_progress
    gap_ms = int(parse_gap(opts.session_gap) * 1000)
    if opts.min_item_count < 1:
        raise InputError(f"--min-item-count must be >= 1, got {opts.min_item_count}")
    target = workspace.dataset_dir(name)
    _step(report, 0, str(path))
    found = preview(path, opts)
    if found.issues and not opts.accept_mapping:
        issue = found.issues[0]
        raise InputError(issue.cli_message(), file=found.source.path, column=issue.column)
    item_file = read_item_file(opts.items) if opts.items else None
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool:
        # the manifest's hash is computed beside the read, on the otherwise idle second core
        digest = pool.submit(source_sha256, found.source, stop)
        try:
            with atomic_directory(target) as staging:
                staging.chmod(0o755)  # mkdtemp makes it private; datasets are readable folders
                stats = _build(found, staging, gap_ms, opts, report, item_file)
                found.source.sha256 = digest.result()
                manifest = _manifest(name, found, opts, stats)
                atomic_write_json(staging / "manifest.json", manifest)
        finally:
            stop.set()  # a failed ingest does not wait for the hash of a large file
    summary_keys = (
        "events", "users", "items", "item_less_events", "sessions", "event_types", "rejected_rows",
    )  # fmt: skip
    summary = {"dataset": name, **{k: stats[k] for k in summary_keys}}
    if stats["trimmed_events"]:  # only when --max-events-per-user cut some user's history
        summary["trimmed_events"] = stats["trimmed_events"]
    return {**summary, "start": stats["start"], "end": stats["end"]}


def _step(report: ProgressCallback, index: int, message: str = "") -> None:
    report(ProgressEvent("ingest", index, len(_STEPS), message or _STEPS[index]))


def _connect(spill: Path, opts: IngestOptions) -> duckdb.DuckDBPyConnection:
    config: dict[str, Any] = {
        "memory_limit": opts.memory_limit,
        "temp_directory": str(spill),
        "preserve_insertion_order": False,
        "threads": opts.threads or os.cpu_count() or 1,
        "allocator_flush_threshold": "16MB",  # hand freed scan buffers back sooner (peak RSS)
    }
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # progress goes through on_progress
    return con


def _build(
    found: MappingPreview,
    staging: Path,
    gap_ms: int,
    opts: IngestOptions,
    report: ProgressCallback,
    item_file: pd.DataFrame | None,
) -> dict[str, Any]:
    spill = staging / ".spill"
    return_freed_memory_promptly()
    con = _connect(spill, opts)
    try:
        _step(report, 1)
        read = read_source(con, found.source, found.mapping, opts.limits)
        from_log = _log_item_attributes(con, found)
        write_item_table(build_item_table(merge_item_tables(from_log, item_file)), staging)
    except duckdb.Error as error:
        raise InputError(f"could not ingest ({error})", file=found.source.path) from error
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    release_cached_memory()
    _step(report, 2)
    positions, bad, examples = build.validate_rows(read)
    rejected = read.parse_rejects + bad
    all_examples = sorted(read.examples + examples, key=lambda e: e["row"])[:MAX_REJECT_EXAMPLES]
    _raise_if_empty(len(read.ts), found, rejected, all_examples)
    _step(report, 3)
    keep = opts.limits.max_events_per_user
    events = build.assemble(read, positions, gap_ms, opts.min_item_count, keep)
    del read, positions  # consumed by assemble: the sorted arrays are all that is left
    write.write_vocabs(events.vocabs, staging)
    _step(report, 4)
    write.write_events(events, staging / "events.parquet")
    _step(report, 5)
    stats = build.dataset_stats(events)
    if found.mapping.time is None:  # times were made up from line order: no dates to report
        stats.update(start=None, end=None)
    sizes = {name: len(RESERVED_TOKENS) + len(v.tokens) for name, v in events.vocabs.items()}
    stats.update(rejected_rows=rejected, rejected_examples=all_examples, vocab_sizes=sizes)
    stats.update(trimmed_events=events.trimmed_events, trimmed_users=events.trimmed_users)
    return stats


def _log_item_attributes(
    con: duckdb.DuckDBPyConnection, found: MappingPreview
) -> pd.DataFrame | None:
    """Item attributes that sit in the log itself (category_code, brand, price, title, …)."""
    mapping = found.mapping
    if mapping.item is None:
        return None
    roles = {mapping.user, mapping.time, mapping.event, mapping.item, mapping.session}
    attributes = [
        c for c in find_columns(found.source.columns, ATTRIBUTE_COLUMNS) if c not in roles
    ]
    if mapping.category is not None and mapping.category not in attributes:
        attributes.append(mapping.category)
    if not attributes:
        return None
    return read_item_attributes(con, found.source, mapping.item, attributes).to_pandas()


def _raise_if_empty(
    kept: int, found: MappingPreview, rejected: int, examples: list[dict[str, Any]]
) -> None:
    if kept > 0:
        return
    path = found.source.path
    if not examples:
        raise InputError("no data rows (is it only a header?)", file=path)
    first = examples[0]
    column = _column_name(found.mapping, first["column"])
    raise InputError(
        f"all {rejected} rows were rejected; first: {first['reason']} "
        f"(check the delimiter, header and column mapping: --user/--time/--item)",
        file=path,
        row=first["row"],
        column=column,
    )


def _column_name(mapping: ColumnMapping, role_or_column: str | None) -> str | None:
    """Rejects name a role ('time'); errors should name the file's column ('event_time')."""
    if role_or_column in ROLES:
        return getattr(mapping, role_or_column) or role_or_column
    return role_or_column


def _manifest(
    name: str, found: MappingPreview, opts: IngestOptions, stats: dict[str, Any]
) -> dict[str, Any]:
    source = found.source
    examples = [
        {**e, "column": _column_name(found.mapping, e["column"])}
        for e in stats["rejected_examples"]
    ]
    keys = (
        "events", "users", "items", "item_less_events", "sessions", "event_types",
        "rejected_rows", "trimmed_events", "trimmed_users", "start", "end",
    )  # fmt: skip
    return {
        "name": name,
        "source": {
            "path": str(source.path.resolve()),
            "sha256": source.sha256,
            "format": source.format,
            "bytes": source.bytes,
        },
        "mapping": found.mapping.as_dict(),
        "detected_by": found.detected_by,
        "mapping_notes": found.notes,
        "accepted_issues": [f"{i.column!r} as the {i.role}: {i.problem}" for i in found.issues],
        "options": {
            **{k: v for k, v in asdict(opts).items() if k not in ROLES},
            "encoding": source.encoding,
            "delimiter": source.delimiter if source.format != "parquet" else None,
            "has_header": source.has_header,
            "columns": source.columns,
        },
        "has_time": found.mapping.time is not None,
        "stats": {**{k: stats[k] for k in keys}, "rejected_examples": examples},
        "vocab_sizes": stats["vocab_sizes"],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


MAX_WARNED_ROWS = 5  # rejected rows named one by one; the count covers the rest


def ingest_warnings(
    path: str | Path, manifest: dict[str, Any], for_analyst: bool = False
) -> list[str]:
    """What an ingest kept going past (rejected rows, a missing time, columns set aside, item-less
    events), one message each.

    A count alone in the summary hides bad rows; these name file, row and column the way errors
    do, so the analyst can open the file at the line. The CLI prints them on stderr with the flag
    that changes them; the dashboard (`for_analyst`) shows the same words without flags.
    """

    def hint(text: str) -> str:
        return "" if for_analyst else f" ({text})"

    mapping = manifest.get("mapping", {})
    stats = manifest.get("stats", {})
    messages = [f"{path}: {note}" for note in manifest.get("mapping_notes", [])]
    messages += [
        f"{path}: ingested although {text}" for text in manifest.get("accepted_issues", [])
    ]
    if "item" in mapping and mapping["item"] is None:
        messages.append(
            f"{path}: no item column, so each event's type is used as the item the model reads"
            + hint("name a column such as a page with --item COL for finer items")
        )
    if stats.get("item_less_events"):
        share = stats["item_less_events"] / max(int(stats.get("events", 0)), 1)
        messages.append(
            f"{path}: {stats['item_less_events']:,} events ({share:.1%}) have no item (e.g. "
            "searches); they are kept as events, never recommended as items"
        )
    if not manifest.get("has_time", True):
        messages.append(
            f"{path}: no time column was detected; events are ordered by file order"
            + hint("name the time column with --time COL if the file has one")
        )
    if stats.get("trimmed_events"):
        keep = manifest.get("options", {}).get("limits", {}).get("max_events_per_user")
        messages.append(
            f"{path}: {_users(stats['trimmed_users'])} had more than {keep:,} events; their "
            f"latest {keep:,} were kept and {stats['trimmed_events']:,} older events dropped"
            + hint("--max-events-per-user N changes the limit, 0 keeps all")
        )
    examples = stats.get("rejected_examples", [])[:MAX_WARNED_ROWS]
    for example in examples:
        where = ":".join(str(p) for p in (path, example["row"], example.get("column")) if p)
        messages.append(f"{where}: {example['reason']}")
    more = int(stats.get("rejected_rows", 0)) - len(examples)
    if more > 0:
        messages.append(f"… and {more} more rejected rows" + hint("see manifest.json"))
    return messages


def _users(count: int) -> str:
    return f"{count:,} user" + ("" if count == 1 else "s")
