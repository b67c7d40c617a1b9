"""The workspace on disk: where datasets and runs live, and how they are written atomically.

Layout:
    WORKSPACE/datasets/NAME/   events.parquet, vocab files, manifest.json
    WORKSPACE/runs/NAME/       model.safetensors, config.json, metrics, analysis outputs

A dataset or run folder is built in a hidden temp folder beside its target and renamed into
place in one step, so an interrupted write leaves the workspace exactly as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import fs_atomic
from core.errors import BehaviorLensError, NotFoundError
from core.faults import fault_point
from core.locks import GroupWrite, folder_lock, roll_back

DEFAULT_WORKSPACE = Path("workspace")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")  # characters a name may not hold (see _NAME_PATTERN)
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,16}$")  # a file name's extension kept by safe_file_name


def validate_name(name: str, what: str = "name") -> str:
    """Dataset and run names become folder names, so they are restricted to safe characters."""
    if not _NAME_PATTERN.match(name or ""):
        raise BehaviorLensError(
            f"invalid {what} {name!r}: use letters, digits, '_', '.' or '-' (max 100 characters)"
        )
    return name


def safe_name(text: str, fallback: str = "name") -> str:
    """A name `validate_name` accepts, made from any text (an uploaded file's name): other
    characters become "_", leading and trailing ".", "_", "-" go, at most 100 characters are
    kept; `fallback` when nothing is left. Never a path: no "/", never "." or "..", no leading
    dot (so not hidden either)."""
    return validate_name(_UNSAFE.sub("_", text).strip("._-")[:100] or fallback)


def safe_file_name(filename: str, fallback: str = "upload") -> str:
    """`safe_name` of the last part of `filename`, its extension (".csv") kept whole, so a file
    saved under it is read in the same format; "../x.csv" -> "x.csv"."""
    last = Path(filename).name
    suffix = Path(last).suffix
    if not _SUFFIX.match(suffix):
        return safe_name(last, fallback)
    return safe_name(last[: -len(suffix)], fallback)[: 100 - len(suffix)] + suffix


@dataclass(frozen=True)
class Workspace:
    """A folder holding datasets and runs; cheap to create, touches the disk only when used."""

    root: Path = DEFAULT_WORKSPACE

    @classmethod
    def at(cls, root: str | Path | None) -> Workspace:
        return cls(Path(root) if root is not None else DEFAULT_WORKSPACE)

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def dataset_dir(self, name: str) -> Path:
        return self.datasets_dir / validate_name(name, "dataset name")

    def run_dir(self, name: str) -> Path:
        return self.runs_dir / validate_name(name, "run name")

    def existing_dataset_dir(self, name: str) -> Path:
        path = self.dataset_dir(name)
        if not (path / "manifest.json").is_file():
            known = ", ".join(self.dataset_names()) or "none"
            raise NotFoundError(f"no dataset {name!r} in {self.root} (datasets: {known})")
        return path

    def existing_run_dir(self, name: str) -> Path:
        path = self.run_dir(name)
        if not (path / "config.json").is_file():
            known = ", ".join(self.run_names()) or "none"
            raise NotFoundError(f"no run {name!r} in {self.root} (runs: {known})")
        return path

    def dataset_names(self) -> list[str]:
        return _complete_children(self.datasets_dir, "manifest.json")

    def run_names(self) -> list[str]:
        return _complete_children(self.runs_dir, "config.json")


def _complete_children(parent: Path, marker: str) -> list[str]:
    if not parent.is_dir():
        return []
    return sorted(
        p.name for p in parent.iterdir() if not p.name.startswith(".") and (p / marker).is_file()
    )


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file via a temp file in the same folder and an atomic rename."""
    tmp = _staged(path, data)
    try:
        fault_point("atomic_write.before_rename")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_together(folder: Path, files: dict[str, bytes | None]) -> None:
    """Replace several files of `folder` as one change (None: remove that file).

    Each is staged (temp file, fsync) first; then, holding the folder's one-writer lock
    (`core.locks.folder_lock`), all are renamed into place, so a reader holding the shared lock
    sees either every file of this write or every file of another, never a mix. The renames are
    journalled (`core.locks.GroupWrite`): a writer killed between two of them is undone by the
    next one to take the lock, so the folder is then exactly as before.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    try:
        for name, data in files.items():
            if data is not None:
                staged[name] = _staged(folder / name, data)
        fault_point("write_together.before_rename")
        with folder_lock(folder):
            group = GroupWrite(folder, files)  # a kill from here on is rolled back (core.locks)
            group.begin()
            try:
                for number, name in enumerate(files):
                    if number:
                        fault_point("write_together.between_renames")
                    if name in staged:
                        os.replace(staged.pop(name), folder / name)
                    else:
                        (folder / name).unlink(missing_ok=True)
            except BaseException:  # e.g. disk full: the folder goes back to how it was
                roll_back(folder)
                raise
            group.commit()
    finally:
        for tmp in staged.values():  # only left when something failed
            tmp.unlink(missing_ok=True)


def _staged(path: Path, data: bytes) -> Path:
    """`data` in a synced temp file beside `path` (same folder: the rename stays atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fs_atomic.sweep_stale(path.parent)  # debris of writers killed here earlier
    prefix = fs_atomic.temp_prefix(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; workspace files are ordinary files
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, json_bytes(payload))


def json_bytes(payload: Any) -> bytes:
    """How the workspace writes JSON: indented, sorted keys, UTF-8, one final newline."""
    return (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


def parquet_bytes(frame: Any) -> bytes:
    """A pandas frame as Parquet bytes, without its index (to stage with `write_together`)."""
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _rename_new_folder(outer: Path, top: Path, staging: Path, target: Path) -> None:
    """Rename the staged `outer` in as `top` (which holds the target), or, when another process
    created `top` meanwhile, the target alone into it."""
    try:
        os.rename(outer, top)
        return
    except OSError:
        if not top.is_dir():
            raise
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(staging, target)
    finally:
        shutil.rmtree(outer, ignore_errors=True)


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temp folder to fill; on success it replaces `target` whole, on failure it vanishes.

    Missing parent folders are created with it, in the same rename, so a failure leaves no empty
    folder behind either.

    An existing `target` is exchanged with the new one in one step (`fs_atomic.exchange`), then
    removed, so at every instant either the old or the new complete folder is in place.
    """
    top = target  # the outermost folder that does not exist yet: it appears with the target
    while not top.parent.exists():
        top = top.parent
    fs_atomic.sweep_stale(top.parent)  # debris of writers killed here earlier
    prefix = fs_atomic.temp_prefix(top)
    outer = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=top.parent))
    staging = outer / target.relative_to(top) if top != target else outer
    try:
        if top != target:
            os.chmod(outer, 0o755)  # it becomes an ordinary parent folder, as mkdir made it
        staging.mkdir(parents=True, exist_ok=True)
        yield staging
    except BaseException:
        shutil.rmtree(outer, ignore_errors=True)
        raise
    fault_point("atomic_directory.before_rename")
    if top != target:
        _rename_new_folder(outer, top, staging, target)
        return
    if target.exists() and fs_atomic.exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the old folder
        return
    retired = fs_atomic.retired_name(target)
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
