"""Shared fixtures: a throwaway workspace and a helper that writes tiny log files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.workspace import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An empty workspace inside the test's tmp folder."""
    return Workspace(tmp_path / "ws")


@pytest.fixture
def write_log(tmp_path: Path) -> Callable[..., Path]:
    """write_log(name, text_or_bytes, encoding='utf-8') -> path of a tiny source file."""

    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else content.encode(encoding)
        path.write_bytes(data)
        return path

    return write
