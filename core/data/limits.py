"""How much one ingest takes in: file size, rows, distinct items, events kept per user.

A bad or hostile file (a log of a crawler, a dump with a unique id per row, a file of
gigabytes) is refused early with the limit it broke and how to raise it, instead of running a
shared machine out of memory. The one exception is a user with more events than a model or an
analysis ever reads: their latest events are kept and the rest counted in the ingest's warnings.

Each limit is a field below; its environment variable (`BEHAVIOR_LENS_` + the field's name in
capitals, read in `from_env` only) sets it for the dashboard and the CLI, and the CLI flag
(`--max-rows`, …, derived from the fields) wins over both. 0 turns a limit off.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from core.errors import InputError

ENV_PREFIX = "BEHAVIOR_LENS_"
_SIZE = re.compile(r"^\s*(\d[\d_]*)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


@dataclass(frozen=True)
class IngestLimits:
    """Ceilings of one ingest (0: no limit). The defaults fit a 64 GB team server."""

    # 64 GiB: a CSV of about a billion events; checked before anything is read. The dashboard's
    # upload box has its own cap, server.maxUploadSize in .streamlit/config.toml (2 GB).
    max_file_bytes: int = field(
        default=64 * 2**30, metadata={"help": "refuse larger files (bytes; 2G, 500M also work)"}
    )
    # 500M rows: ~24 GB of ingest memory at ~47 B an event (bench/RESULTS.md: 100M at 4.7 GB).
    # Counted while the file streams, so an over-long file stops there.
    max_rows: int = field(default=500_000_000, metadata={"help": "refuse files with more rows"})
    # 10M items: the item embedding and its optimiser state reach ~10 GB at the default width.
    max_items: int = field(
        default=10_000_000, metadata={"help": "refuse logs with more distinct item ids"}
    )
    # 100k events: 2,000x the model's window (50); more is a crawler or a shared login. Older
    # events past this are dropped per user (counted), not the whole file refused.
    max_events_per_user: int = field(
        default=100_000, metadata={"help": "keep only each user's latest N events"}
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise InputError(
                    f"{f.name} must be >= 0 (0: no limit), got {getattr(self, f.name)}"
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngestLimits:
        """The defaults, overridden by BEHAVIOR_LENS_MAX_ROWS etc. where set."""
        env = os.environ if environ is None else environ
        given = {
            f.name: parse_size(env[variable(f.name)], variable(f.name))
            for f in fields(cls)
            if env.get(variable(f.name), "").strip()
        }
        return cls(**given)

    def overridden(self, **values: int | None) -> IngestLimits:
        """These limits with the given values (None: keep), e.g. from CLI flags."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def variable(name: str) -> str:
    """The environment variable of a limit: max_rows -> BEHAVIOR_LENS_MAX_ROWS."""
    return ENV_PREFIX + name.upper()


def flag(name: str) -> str:
    """The CLI flag of a limit: max_rows -> --max-rows."""
    return "--" + name.replace("_", "-")


def parse_size(text: str, where: str = "limit") -> int:
    """'500000', '500_000', '2G', '512MiB' -> an int (K/M/G/T are powers of 1024)."""
    match = _SIZE.match(str(text))
    if not match:
        raise InputError(f"{where}: expected a whole number such as 500000 or 2G, got {text!r}")
    return int(match.group(1).replace("_", "")) * _UNITS[match.group(2).lower()]


def exceeded(limit: str, found: str, ceiling: int, file: object = None) -> InputError:
    """The error of a broken limit: what was found, the limit, and the two ways to raise it."""
    noun = {"max_file_bytes": "bytes", "max_events_per_user": "events a user"}.get(
        limit, limit.removeprefix("max_")
    )
    return InputError(
        f"{found} (limit: {ceiling:,} {noun}; raise it with {flag(limit)} N or "
        f"{variable(limit)}=N, 0 for no limit)",
        file=None if file is None else str(file),
    )


def human_bytes(size: int) -> str:
    """3.2 GB (3,435,973,837 bytes): rounded for reading, exact for comparing with the limit."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit} ({size:,} bytes)"
    return f"{size:,} bytes"
