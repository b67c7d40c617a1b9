"""User-facing errors: each names the file, row and column at fault so the message alone is a fix."""

from __future__ import annotations

import re
from pathlib import Path

# A clause that tells a command-line user which flag to pass: "; name it with --time COL" or
# "(… --accept-mapping …)". The dashboard drops it: an analyst changes a widget, not a flag.
_FLAG_CLAUSE = re.compile(r"\s*(\([^()]*--[a-z][^()]*\)|[;,][^;,()]*--[a-z][^;()]*)")


class BehaviorLensError(Exception):
    """An error caused by the user's input or request, shown as one line, never as a traceback."""


class InputError(BehaviorLensError):
    """Unusable input data, located as precisely as we know: `FILE[:ROW][:COLUMN]: message`.

    `row` is 1-based as a person counts lines in the file (header included, if any).
    """

    def __init__(
        self,
        message: str,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [part for part in (self.file, self.row, self.column) if part is not None]
        prefix = ":".join(str(part) for part in where)
        return f"{prefix}: {self.message}" if prefix else self.message


class NotFoundError(BehaviorLensError):
    """A named dataset, run or user that does not exist in the workspace."""


def for_analyst(error: Exception) -> str:
    """The error in dashboard words: the file by its name only, no command-line flag hints."""
    if isinstance(error, InputError):
        where = [Path(error.file).name if error.file else None, error.row, error.column]
        prefix = ":".join(str(part) for part in where if part is not None)
        text = _FLAG_CLAUSE.sub("", error.message).strip()
        return f"{prefix}: {text}" if prefix else text
    return _FLAG_CLAUSE.sub("", str(error)).strip()
