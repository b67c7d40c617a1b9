"""Progress events: how long-running core work reports to a CLI bar or a dashboard widget.

Core functions take an optional `on_progress` callback instead of importing any UI, so the same
function drives tqdm in a terminal and `st.progress` in the app. These events stay in-process;
what a background job leaves on disk for another process is a `core.progress_record`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long task. `total` is None when the amount of work is unknown."""

    stage: str  # short name of the phase, e.g. "read", "sessionize", "train"
    done: float  # units finished so far within the stage
    total: float | None = None  # units in the stage, if known
    message: str = ""  # human-readable detail, e.g. "epoch 3/10"
    metrics: dict[str, Any] = field(default_factory=dict)  # e.g. {"loss": 1.2}

    @property
    def fraction(self) -> float | None:
        """Share of the stage finished, in [0, 1], or None when the total is unknown."""
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))


ProgressCallback = Callable[[ProgressEvent], None]


def ignore_progress(event: ProgressEvent) -> None:
    """Default callback: progress is optional for every core function."""


class TqdmProgress:
    """Shows progress events as one tqdm bar per stage on stderr (the CLI's view)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if event.stage != self._stage:
            self.close()
            self._stage = event.stage
            self._bar = tqdm(total=event.total, desc=event.stage, file=sys.stderr, leave=False)
        self._bar.n = event.done
        if event.metrics:
            self._bar.set_postfix({k: _short(v) for k, v in event.metrics.items()}, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _short(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value
