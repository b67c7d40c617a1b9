"""What a report is asked to show: `ReportRequest`, with the analytics choices (`ReportOptions`)
and the model outputs a caller already holds (`ModelOutputs`).

`build_report`, `build_report_parts` and `write_report` all take one `ReportRequest`, which the
`report` command and the dashboard's Reports page fill in, so the choices are named once here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ReportOptions:
    """Choices for the behaviour analytics; the defaults need no knowledge of the data."""

    funnel_steps: list[str] | None = None  # None: funnels.default_funnel_steps (view→cart→buy)
    funnel_within: Literal["session", "user"] = "session"  # unit counted by the funnel
    volume_freq: Literal["minute", "hour", "day", "week"] | None = None  # None: from the span
    retention_period: Literal["day", "week", "month"] = "week"  # cohort width
    path_length: int = 3  # steps per path in the top-paths table
    title: str | None = None  # None: "Behavior Lens report: DATASET"


@dataclass(frozen=True)
class ModelOutputs:
    """What trained-model analyses produced; every part may be absent."""

    metrics: dict[str, Any] | None = None  # model quality vs baselines
    segments: pd.DataFrame | None = None  # one row per segment (profile and name)
    assignments: pd.DataFrame | None = None  # user_id → segment, for segment_filter
    anomalies: pd.DataFrame | None = None  # user_id, score, reason
    new_periods: list[dict[str, Any]] | None = None  # drift.json of each scored new period


@dataclass(frozen=True)
class ReportRequest:
    """One report: of which dataset and run, which sections, for which users, with which
    analytics choices. The workspace it is read from and the progress callback are not part of
    it: they say where and how to build, not what."""

    dataset: str  # dataset name in the workspace
    run: str | None = None  # run whose metrics, segments and anomalies to include; None: none
    sections: Sequence[str] | None = None  # section keys; None: every section that has content
    segment_filter: str | None = None  # a segment id or name: analytics of its users only
    options: ReportOptions = field(default_factory=ReportOptions)  # behaviour analytics choices
    outputs: ModelOutputs | None = None  # None: read from the run folder (the page passes its own)
