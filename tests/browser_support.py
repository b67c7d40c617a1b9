"""What the real-browser tests share: Debian's Chromium is required in CI, optional elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard.screenshots import CHROMIUM


def require_chromium() -> None:
    """Call at module level: skip the module without Chromium, except in CI where it must be."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{CHROMIUM} is required in CI (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)", allow_module_level=True)
