"""File-system pieces of the atomic writes in `core.workspace`: temp names, sweeping, swapping.

A writer stages its output under a hidden temp name beside the target and renames it into place.
A process killed between the two (SIGKILL, OOM, power) cannot clean up, so temp names carry the
writer's host and pid: `.NAME.HOST-PID.RANDOM.tmp` (files and folders) and `.NAME.HOST-PID.old`
(a folder being retired). The next write into the same folder removes the ones whose process is
gone (`sweep_stale`), so a crash leaves no debris for long and never anything under a real name.

Replacing a folder whole uses Linux's `renameat2(RENAME_EXCHANGE)`, which swaps two paths in one
step: the target never disappears, not even for an instant. Where it is not available (another
OS, a file system without it) two renames are used, as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"
_TEMP = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.(?:[^.]+\.tmp|old)$")
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def temp_prefix(target: Path) -> str:
    """The mkstemp/mkdtemp prefix for a temp sibling of `target` (suffix ".tmp")."""
    return f".{target.name}.{_HOST}-{os.getpid()}."


def retired_name(target: Path) -> Path:
    """Where an old folder goes while it is being removed."""
    return target.parent / f".{target.name}.{_HOST}-{os.getpid()}.old"


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temp file beside `target` to write in the block; renamed over `target` when the block
    ends without an error, removed when it raises (a kill leaves it for `sweep_stale`).

    For writers that stream or take a file name (safetensors, Parquet/CSV writers); whole byte
    strings go through `core.workspace.atomic_write_bytes`, which also syncs them.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target.parent)
    fd, name = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_temp_name(name: str) -> bool:
    """True for the hidden names above (what a crash may leave behind)."""
    return _TEMP.match(name) is not None


def sweep_stale(folder: Path) -> None:
    """Remove temp files/folders in `folder` left by dead processes of this host."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = _TEMP.match(name)
        if match is None or match["host"] != _HOST or process_alive(int(match["pid"])):
            continue
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically; False when this system cannot (caller falls back)."""
    rename = _renameat2()
    if rename is None:
        return False
    result = rename(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@functools.cache
def _renameat2():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)
        return libc.renameat2
    except (OSError, AttributeError):
        return None


def process_alive(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie (this process counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
