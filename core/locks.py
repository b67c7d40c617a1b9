"""One writer at a time per folder: the lock that keeps files written together consistent.

Every analysis output is written atomically (`core.workspace.atomic_write_bytes`: temp file in
the same folder, fsync, `os.replace`), so a reader never sees half a file. A step that writes
several files that must agree (segments + assignments + model, anomalies + sessions + model,
intents + their sessions + summary) also needs them to change *together*: two processes
segmenting the same run at once must not leave one's segments beside the other's assignments.

`folder_lock` is an advisory `fcntl.flock` on `FOLDER/.lock`: exclusive for a writer swapping
its staged files in (`core.workspace.write_together`) or doing a read-modify-write (segment
renames), shared for a reader of several files (reports). Writers compute and stage outside
the lock and hold it only for the renames, so a long computation never blocks a page; the lock
is released by the kernel when the process dies, so a killed writer never leaves it held.

A writer killed *between* its renames would still leave some new files beside old ones. So a
group write keeps a rollback journal (`GroupWrite`): before its first rename it hard-links every
file it replaces to a backup and writes `.group-write.json`; the journal's removal after the
last rename is the commit. Whoever takes the folder's lock next and finds a journal restores the
backups and removes what the dead writer added: the folder is exactly as before that write.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from core import fs_atomic

LOCK_FILE = ".lock"  # in the locked folder; empty, kept (removing it would race with lockers)
JOURNAL = ".group-write.json"  # {"names": [...], "existed": [...]} of an unfinished group write
BACKUP_SUFFIX = ".group-backup"  # ".NAME.group-backup": the old NAME until the write commits


@contextmanager
def folder_lock(folder: Path, shared: bool = False) -> Iterator[None]:
    """Hold `folder`'s lock: exclusive (one writer) or `shared` (readers of several files).

    Not re-entrant: a process holding it must not take it again for the same folder.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder to lock")
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        if (folder / JOURNAL).exists():  # a writer died mid-commit: undo it before anyone reads
            fcntl.flock(fd, fcntl.LOCK_EX)
            roll_back(folder)
            if shared:
                fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


class GroupWrite:
    """The rollback journal of one group write; use under the folder's exclusive lock.

    `begin` backs up the files about to change and writes the journal, `commit` removes the
    journal (from then on the new files stand) and the backups.
    """

    def __init__(self, folder: Path, names: Iterable[str]) -> None:
        self.folder, self.names = folder, list(names)

    def begin(self) -> None:
        existed = []
        for name in self.names:
            target = self.folder / name
            if target.exists():
                _backup(target)
                existed.append(name)
        payload = json.dumps({"names": self.names, "existed": existed}).encode("utf-8")
        with fs_atomic.replacing(self.folder / JOURNAL) as tmp, open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())  # the journal is on disk before the first rename

    def commit(self) -> None:
        (self.folder / JOURNAL).unlink()
        for name in self.names:
            backup_path(self.folder / name).unlink(missing_ok=True)


def backup_path(target: Path) -> Path:
    return target.parent / f".{target.name}{BACKUP_SUFFIX}"


def _backup(target: Path) -> None:
    """A hard link to `target` under its backup name (a copy where links are not allowed)."""
    backup = backup_path(target)
    backup.unlink(missing_ok=True)
    try:
        os.link(target, backup)
    except OSError:  # a file system without hard links
        shutil.copy2(target, backup)


def roll_back(folder: Path) -> None:
    """Undo an unfinished group write: old files back, files it added removed, journal gone."""
    journal = folder / JOURNAL
    record = json.loads(journal.read_text(encoding="utf-8"))
    existed = set(record["existed"])
    for name in record["names"]:
        target = folder / name
        if name in existed:
            backup = backup_path(target)
            if backup.exists():
                os.replace(backup, target)
                backup.unlink(missing_ok=True)  # rename does nothing when both link one file
        else:
            target.unlink(missing_ok=True)
    journal.unlink()
