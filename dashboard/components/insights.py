"""Pieces shared by the Segments and Anomalies pages: the run's outputs, compute actions with
progress, and the drill-down to a user's timeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from core.progress import ProgressEvent
from core.workspace import Workspace
from dashboard import state
from dashboard.components import widgets

if TYPE_CHECKING:
    from core.reports.request import ModelOutputs


def outputs(ws: Workspace, run: str) -> ModelOutputs:
    """The run's ModelOutputs (metrics, segments, assignments, anomalies), cached by file mtimes.

    Every row of every table: for building a report. Pages that show a few rows or a map read
    them through state.anomaly_table / state.map_points instead."""
    return state.run_outputs(str(ws.root), run, state.outputs_stamp(ws, run))


def has_outputs(ws: Workspace, run: str, *files: str) -> bool:
    """Whether the run folder holds every one of `files` (state.METRICS_FILE, …): nothing read."""
    folder = ws.existing_run_dir(run)
    return all((folder / name).is_file() for name in files)


def session_intents(ws: Workspace, run: str) -> pd.DataFrame | None:
    """The run's session intents (core.analysis.session_intents), or None before they exist."""
    path = ws.existing_run_dir(run) / state.INTENTS_FILE
    return pd.read_parquet(path) if path.is_file() else None


def compute_action(
    label: str, what: str, work: Callable[[Any], object], key: str, primary: bool = True
) -> bool:
    """A button that runs `work(on_progress)` with a live progress bar; True when it finished.

    Segmenting or scoring the demo takes seconds; on large data the bar shows where it is.
    """
    if not st.button(label, type="primary" if primary else "secondary", key=key):
        return False
    with st.status(f"{what}…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def on_progress(event: ProgressEvent) -> None:
            bar.progress(event.fraction or 0.0, text=f"{event.stage} {event.message}".strip())

        with widgets.friendly_errors(what):
            work(on_progress)
            status.update(label=f"{what}: done", state="complete")
            return True
        bar.empty()  # not "starting" under the reason it stopped
        status.update(label=f"{what}: failed", state="error", expanded=True)  # the reason shows
    return False


# The compute actions import their core module when pressed: each loads torch (and the
# segmenters scikit-learn), seconds that a page only showing saved results should not wait for.


def score_anomalies(ws: Workspace, run: str, on_progress: Any) -> object:
    """core.analysis.anomalies.anomalies_run: score every user of the run's dataset."""
    from core.analysis.anomalies import anomalies_run

    return anomalies_run(ws, run, on_progress=on_progress)


def find_segments(ws: Workspace, run: str, on_progress: Any) -> object:
    """core.analysis.segments.segment_run: segment the run's users and map them."""
    from core.analysis.segments import segment_run

    return segment_run(ws, run, on_progress=on_progress)


def find_intents(ws: Workspace, run: str) -> object:
    """core.analysis.session_intents.intents_run: group the run's sessions by intent."""
    from core.analysis.session_intents import intents_run

    return intents_run(ws, run)


def drill_down(ws: Workspace, dataset: str, user_ids: list[str], key: str) -> None:
    """Pick one of `user_ids` and show their event timeline."""
    if not user_ids:
        return
    current = state.get(state.DRILL_USER)
    user = st.selectbox(
        "Drill down to the timeline of",
        user_ids,
        index=user_ids.index(current) if current in user_ids else 0,
        key=f"{key}_drill_{dataset}",
    )
    state.put(state.DRILL_USER, user)
    with widgets.friendly_errors("Timeline"):
        widgets.timeline_table(ws, dataset, str(user), key=key)
