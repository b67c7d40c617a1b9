"""Data: add a dataset from an upload, switch between datasets, and profile the behaviour."""

from __future__ import annotations

import streamlit as st

from dashboard import state
from dashboard.components import profile, upload, widgets

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
    tabs = st.tabs(["Overview", "Funnel", "Top paths", "Retention"])
    views = [profile.overview, profile.funnel_builder, profile.paths, profile.retention]
    for tab, view, name in zip(tabs, views, ["ov", "fun", "paths", "ret"], strict=True):
        with tab, widgets.friendly_errors():
            view(ws, dataset, key=f"data_{name}")
