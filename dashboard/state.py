"""Every cache and every session-state key of the dashboard, in one place.

Why one module: cached values are shared by all browser tabs of a server, session state belongs
to one tab. Keeping both here makes it easy to check that nothing per-user leaks into a cache
and that nothing mutates a cached value (pages get frames and models from these functions and
only read them).

Cache keys include a "stamp" (the mtime of the file that marks a dataset or run complete), so
re-ingesting a dataset or retraining a run invalidates exactly what it changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from core.workspace import Workspace

WORKSPACE_ENV = "BEHAVIOR_LENS_WORKSPACE"

# Session-state keys (per browser tab).
DATASET = "bl_dataset"  # name of the dataset the tab is looking at
RUN = "bl_run"  # name of the run the tab is looking at
USER = "bl_user"  # user id picked on the model pages
TRAIN_RUN = "bl_train_run"  # run whose training progress the Train page follows
UPLOAD = "bl_upload"  # {"path", "name", "size"} of the last file saved from the uploader
SEGMENT_NAMES = "bl_segment_names"  # {segment id: analyst's name}, per tab until saved
WHAT_IF = "bl_what_if"  # events appended on the Predict page: list of (item, event)


def workspace() -> Workspace:
    """The workspace folder: $BEHAVIOR_LENS_WORKSPACE or ./workspace (read on every call)."""
    return Workspace(Path(os.environ.get(WORKSPACE_ENV) or "workspace").resolve())


def get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


def dataset_stamp(ws: Workspace, name: str) -> float:
    """mtime of the dataset's manifest: changes whenever the dataset is (re)written."""
    path = ws.dataset_dir(name) / "manifest.json"
    return path.stat().st_mtime if path.is_file() else 0.0


def run_stamp(ws: Workspace, name: str) -> float:
    """mtime of the run's weights (or config): changes with every new best checkpoint."""
    folder = ws.run_dir(name)
    for marker in ("model.safetensors", "config.json"):
        if (folder / marker).is_file():
            return (folder / marker).stat().st_mtime
    return 0.0


@st.cache_resource(show_spinner="Preparing the demo dataset and model…")
def demo(root: str) -> Any:
    """Run core.demo.ensure_demo once per workspace and server (None until core.demo exists)."""
    from dashboard import backend

    return backend.ensure_demo(Workspace(Path(root)))


@st.cache_data(show_spinner=False, max_entries=64)
def manifest(root: str, name: str, stamp: float) -> dict[str, Any]:
    from dashboard import backend

    return backend.load_manifest(Workspace(Path(root)), name)


@st.cache_resource(show_spinner="Loading event sequences…", max_entries=4)
def sequences(root: str, name: str, stamp: float) -> Any:
    """EventSequences of a dataset: a resource (numpy arrays, shared read-only, never copied)."""
    from dashboard import backend

    return backend.load_sequences(Workspace(Path(root)), name)


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def loaded_run(root: str, name: str, stamp: float) -> Any:
    """A trained run (model + configs), loaded once per checkpoint and shared read-only."""
    from dashboard import backend

    return backend.load_run(Workspace(Path(root)), name)


@st.cache_data(show_spinner="Computing…", max_entries=128)
def analytic(root: str, dataset: str, stamp: float, kind: str, params: tuple) -> Any:
    """A behaviour analytic (DuckDB over events.parquet) as a DataFrame or result object.

    `params` is a tuple of (name, value) pairs so the cache key is hashable and explicit.
    """
    from dashboard import backend

    return backend.analytic(Workspace(Path(root)), dataset, kind, dict(params))


@st.cache_data(show_spinner="Scoring the model…", max_entries=32)
def run_result(root: str, run: str, stamp: float, kind: str, params: tuple) -> Any:
    """A model-based result of a run (quality, segments, anomalies, predictions), cached per checkpoint."""
    from dashboard import backend

    return backend.run_result(Workspace(Path(root)), run, kind, dict(params))
