"""Data: add a dataset from an upload, switch between datasets, and profile the behaviour."""

from __future__ import annotations

import streamlit as st

from dashboard import state
from dashboard.components import profile, upload, widgets

VIEWS = {  # tab label: (view, widget key prefix)
    "Overview": (profile.overview, "ov"),
    "Funnel": (profile.funnel_builder, "fun"),
    "Top paths": (profile.paths, "paths"),
    "Retention": (profile.retention, "ret"),
}

ws = state.workspace()
st.title("Data")

with st.expander("Add a dataset", icon=":material/add:", expanded=not ws.dataset_names()):
    mapping = upload.add_dataset(ws, key="data_add")
if mapping:  # the profile below would be another dataset's, read as the new file's
    st.info("Map the new file's columns above and press **Ingest**: its profile appears here.")
    st.stop()

dataset = widgets.dataset_picker(ws, key="data")
if dataset is None:
    st.info("No dataset yet: add one above.")
    st.stop()

with widgets.friendly_errors(f"Dataset {dataset}"):
    profile.headline(ws, dataset, key="data_head")
    # Only the open tab runs: each view is a DuckDB pass over every event (seconds at 10M
    # events), so computing all four on every visit would add theirs to the first tab's wait.
    tabs = st.tabs(list(VIEWS), key=state.DATA_TAB, on_change="rerun")
    for tab, (view, name) in zip(tabs, VIEWS.values(), strict=True):
        if tab.open:
            with tab, widgets.friendly_errors():
                view(ws, dataset, key=f"data_{name}")
        else:  # a closed tab keeps its choices (funnel steps…) for when it is opened again
            widgets.keep_values(f"data_{name}_")
