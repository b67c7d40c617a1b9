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

from core.errors import BehaviorLensError, NotFoundError

DEFAULT_WORKSPACE = Path("workspace")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def validate_name(name: str, what: str = "name") -> str:
    """Dataset and run names become folder names, so they are restricted to safe characters."""
    if not _NAME_PATTERN.match(name or ""):
        raise BehaviorLensError(
            f"invalid {what} {name!r}: use letters, digits, '_', '.' or '-' (max 100 characters)"
        )
    return name


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; workspace files are ordinary files
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temp folder to fill; on success it replaces `target` whole, on failure it vanishes.

    An existing `target` is swapped out (rename) before the new one is renamed in, and removed only
    after, so at every instant either the old or the new complete folder is in place.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
