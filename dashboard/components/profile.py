"""The data profile of one dataset: headline numbers, volume, event mix, funnel, paths, retention.

Each function renders one view from core.analysis results (cached in dashboard/state.py) and
takes a `key` prefix for its widgets.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.analysis.funnels import default_funnel_steps
from core.analysis.retention import retention_matrix
from core.analysis.view_notes import PATHS_MERGED_NOTE, event_types_note
from core.data.store import load_manifest
from core.workspace import Workspace
from dashboard import analytics_cache, state
from dashboard.components import charts, widgets


def _at(ws: Workspace, dataset: str) -> tuple[str, str, float]:
    """(root, dataset, stamp): the first arguments of every cached analytic in `analytics_cache`."""
    return str(ws.root), dataset, state.dataset_stamp(ws, dataset)


def when(value: object) -> str:
    """An ISO timestamp as "7 Sep 2026, 00:18 UTC" (the text unchanged when it is not a date)."""
    try:
        stamp = pd.Timestamp(str(value))
    except ValueError:
        return str(value)
    zone = f" {stamp.tzname()}" if stamp.tzinfo is not None else ""
    return f"{stamp.day} {stamp:%b %Y, %H:%M}{zone}"


def stats_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Percentile rows for reading: counts as whole numbers (p99 130, not 130.01), the mean and
    durations with one decimal."""
    shown = frame.astype(object)
    for column in frame.columns.drop("stat"):
        whole = column != "minutes"
        shown[column] = [
            f"{v:,.0f}" if whole and stat != "mean" else f"{v:,.1f}"
            for stat, v in zip(frame["stat"], frame[column], strict=True)
        ]
    return shown


def headline(ws: Workspace, dataset: str, key: str) -> None:
    """Cards from the manifest, and the first rejected rows (why they were dropped)."""
    manifest = state.manifest(str(ws.root), dataset, state.dataset_stamp(ws, dataset))
    stats = manifest.get("stats", {})
    widgets.metric_cards(
        [
            ("Events", f"{stats.get('events', 0):,}", None),
            ("Users", f"{stats.get('users', 0):,}", None),
            ("Items", f"{stats.get('items', 0):,}", None),
            ("Sessions", f"{stats.get('sessions', 0):,}", None),
            ("Rejected rows", f"{stats.get('rejected_rows', 0):,}", "Rows without a user or time."),
        ],
        key=key,
    )
    st.caption(
        f"From {when(stats.get('start', '?'))} to {when(stats.get('end', '?'))} · source "
        f"`{Path(manifest.get('source', {}).get('path', '?')).name}`"
    )
    examples = stats.get("rejected_examples") or []
    if examples:
        with st.expander(f"Why {stats.get('rejected_rows', 0):,} rows were rejected"):
            st.write(examples)


def overview(ws: Workspace, dataset: str, key: str) -> None:
    """Volume at the resolution core chose from the log's span, event mix, distributions."""
    time = state.time_support(str(ws.root), dataset, state.dataset_stamp(ws, dataset))
    freq = (
        st.segmented_control(
            "Resolution",
            ["minute", "hour", "day", "week"],
            default=time.unit,
            key=f"{key}_freq_{dataset}",
        )
        or time.unit
    )
    if time.note():
        st.caption(time.note())
    volume = analytics_cache.event_volume(*_at(ws, dataset), freq)
    st.plotly_chart(charts.volume_chart(volume, freq), key=f"{key}_volume")
    summary = analytics_cache.data_summary(*_at(ws, dataset))
    left, right = st.columns(2)
    single = event_types_note(list(summary.event_mix["event"]))
    if single:
        left.info(single)
    else:
        left.plotly_chart(charts.event_mix_chart(summary.event_mix), key=f"{key}_mix")
    right.markdown("**Events per user**")
    right.dataframe(stats_table(summary.events_per_user), hide_index=True, key=f"{key}_per_user")
    right.markdown("**Events per session**")
    right.dataframe(stats_table(summary.session_length), hide_index=True, key=f"{key}_per_session")


def funnel_builder(ws: Workspace, dataset: str, key: str) -> None:
    events = analytics_cache.event_types(*_at(ws, dataset))
    single = event_types_note(events)
    if single:
        st.info(single)
        return
    default = default_funnel_steps(events)
    steps = st.multiselect("Steps, in order", events, default=default, key=f"{key}_steps_{dataset}")
    within = st.radio(
        "Count",
        ["session", "user"],
        horizontal=True,
        key=f"{key}_within",
        help="session: all steps in one visit; user: across all of a user's visits",
    )
    if not steps:
        st.info("Pick at least one event type.")
        return
    frame = analytics_cache.funnel(*_at(ws, dataset), tuple(steps), within)
    st.plotly_chart(charts.funnel_chart(frame), key=f"{key}_chart")
    st.dataframe(frame, hide_index=True, key=f"{key}_table")


def paths(ws: Workspace, dataset: str, key: str) -> None:
    events = analytics_cache.event_types(*_at(ws, dataset))
    left, middle, right = st.columns(3)
    start = left.selectbox("Start at", ["(first event)", *events], key=f"{key}_start_{dataset}")
    length = middle.slider("Steps", 2, 6, 3, key=f"{key}_length")
    has_category = (load_manifest(ws, dataset).get("mapping") or {}).get("category") is not None
    level = (  # a log without categories has nothing to label by but the event
        right.radio("Label by", ["event", "category"], horizontal=True, key=f"{key}_level")
        if has_category
        else "event"
    )
    single = event_types_note(events)
    if single and level == "event":
        st.info(single)
        return
    start_event = None if start == "(first event)" else start
    result = analytics_cache.top_paths(*_at(ws, dataset), length, level, start_event)
    if result.links.empty:
        st.info("No paths of that shape in this dataset.")
        return
    st.caption(PATHS_MERGED_NOTE)
    st.plotly_chart(charts.sankey_chart(result.links), key=f"{key}_sankey")
    st.dataframe(result.paths, hide_index=True, key=f"{key}_table")


def retention(ws: Workspace, dataset: str, key: str) -> None:
    period = st.radio("Cohort period", ["week", "day", "month"], horizontal=True, key=f"{key}_p")
    long = analytics_cache.retention(*_at(ws, dataset), period)
    if long.empty:
        st.info("Not enough history for retention cohorts.")
        return
    matrix = retention_matrix(long)
    sizes = retention_matrix(long, "cohort_size")[0]
    matrix.index = [f"{c} ({int(sizes[c])} users)" for c in matrix.index]
    st.plotly_chart(charts.retention_heatmap(matrix, period), key=f"{key}_heat")
