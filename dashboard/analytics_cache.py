"""Behaviour analytics for the Data and Home pages (DuckDB over events.parquet), cached.

One cached getter per analytic, keyed by the workspace root, the dataset and its stamp
(`state.dataset_stamp`) plus the analytic's own choices, so a re-ingested dataset or another
dataset never shows the previous numbers. Split from `state` (run and model getters) to keep
each module to one job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from core.workspace import Workspace
from dashboard import state

if TYPE_CHECKING:  # pandas and DuckDB load where first used
    import pandas as pd

    from core.analysis.paths import PathsResult
    from core.analysis.summary import DataSummary


def _events(root: str, dataset: str) -> Path:
    from core.data.store import events_path

    return events_path(Workspace(Path(root)), dataset)


@st.cache_data(show_spinner="Computing…", max_entries=16)
def data_summary(root: str, dataset: str, stamp: float) -> DataSummary:
    """Headline numbers, events per user and session, event mix (core.analysis.summary)."""
    from core.analysis.summary import data_summary as compute
    from core.data.store import load_manifest

    manifest = load_manifest(Workspace(Path(root)), dataset)
    return compute(_events(root, dataset), manifest)


@st.cache_data(show_spinner="Computing…", max_entries=32)
def event_volume(root: str, dataset: str, stamp: float, freq: str) -> pd.DataFrame:
    """Events and users per `freq` period and event type (core.analysis.volume)."""
    from core.analysis.volume import event_volume as compute

    return compute(_events(root, dataset), freq=freq)


@st.cache_data(show_spinner=False, max_entries=16)
def event_types(root: str, dataset: str, stamp: float) -> list[str]:
    """The dataset's event types, most frequent first (core.analysis.events_db)."""
    from core.analysis.events_db import event_types as compute

    return compute(_events(root, dataset))


@st.cache_data(show_spinner="Computing…", max_entries=32)
def funnel(
    root: str, dataset: str, stamp: float, steps: tuple[str, ...], within: str
) -> pd.DataFrame:
    """Units reaching each of `steps` in order (core.analysis.funnels), with revenue per step
    when the items have prices."""
    from core.analysis.funnels import funnel as compute
    from core.analysis.item_labels import price_frame

    prices = price_frame(state.catalog_of(root, dataset))
    return compute(_events(root, dataset), list(steps), within=within, prices=prices)


@st.cache_data(show_spinner="Computing…", max_entries=32)
def top_paths(
    root: str, dataset: str, stamp: float, length: int, level: str, start_event: str | None
) -> PathsResult:
    """The most frequent paths and their step-to-step links (core.analysis.paths)."""
    from core.analysis.paths import top_paths as compute

    path = _events(root, dataset)
    return compute(path, length=length, level=level, start_event=start_event)


@st.cache_data(show_spinner="Computing…", max_entries=16)
def retention(root: str, dataset: str, stamp: float, period: str) -> pd.DataFrame:
    """Cohort retention by `period`, one row per (cohort, offset) (core.analysis.retention)."""
    from core.analysis.retention import retention as compute

    return compute(_events(root, dataset), period)
