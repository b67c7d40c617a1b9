"""User-facing errors: each names the file, row and column at fault so the message alone is a fix."""

from __future__ import annotations

import re
from pathlib import Path

# A clause that tells a command-line user which flag to pass: "; name it with --time COL" or
# "(… --accept-mapping …)". The dashboard drops it: an analyst changes a widget, not a flag.
_FLAG_CLAUSE = re.compile(r"\s*(\([^()]*--[a-z][^()]*\)|[;,][^;,()]*--[a-z][^;()]*)")
# "(pid 4242)": which process holds a run helps on a terminal, not in a browser.
_PID_CLAUSE = re.compile(r"\s*\(pid \d+\)")
# An absolute path ("/srv/ws/runs"): the dashboard names the file or folder only ("runs").
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(?:[^\s/;,:'\"()]+/)*([^\s/;,:'\"()]+)/?")


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
    """The error in dashboard words: the file by its name only, no command-line flag hints,
    process ids or folder paths."""
    if isinstance(error, InputError):
        where = [Path(error.file).name if error.file else None, error.row, error.column]
        prefix = ":".join(str(part) for part in where if part is not None)
        text = analyst_text(error.message)
        return f"{prefix}: {text}" if prefix else text
    return analyst_text(str(error))


def analyst_text(text: str) -> str:
    """A message shared with the CLI, in dashboard words: no flag hints, process ids or paths.

    For messages that are not exceptions (a job's status line); `for_analyst` uses it too.
    """
    text = _PID_CLAUSE.sub("", _FLAG_CLAUSE.sub("", text))
    return _ABSOLUTE_PATH.sub(r"\1", text).strip()


class DiskFullError(BehaviorLensError):
    """A write failed because the disk (or the quota, or the file-size limit) is full."""


_DISK_FULL_ERRNOS = (28, 27, 122)  # ENOSPC, EFBIG, EDQUOT
_DISK_FULL_WORDS = (
    "no space left",
    "storagefull",
    "file too large",
    "filetoolarge",
    "quota exceeded",
)


def disk_full(error: BaseException) -> DiskFullError | None:
    """The one-line error for a failed write on a full disk, or None when `error` is another one.

    Libraries report it differently (OSError errno 28; safetensors and Arrow as text), and may wrap
    it, so the whole cause/context chain is searched.
    """
    seen: BaseException | None = error
    while seen is not None:
        errno_ = getattr(seen, "errno", None)
        text = str(seen).lower()
        if errno_ in _DISK_FULL_ERRNOS or any(word in text for word in _DISK_FULL_WORDS):
            where = getattr(seen, "filename", None)
            folder = f" in {Path(where).parent}" if where else ""
            return DiskFullError(
                f"disk full: no space left to write{folder}; free some space and run it again "
                "(nothing was half-written: the previous files are intact)"
            )
        seen = seen.__cause__ or seen.__context__
    return None
