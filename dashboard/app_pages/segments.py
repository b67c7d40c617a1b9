"""Segments: users mapped in 2-D by segment, profiles side by side, rename, drill down."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import backend, state
from dashboard.components import widgets

ws = state.workspace()
st.title("Segments")
st.caption("Groups of users whose behaviour the model encodes alike.")

run = widgets.run_picker(ws, key="seg")
if run is None:
    widgets.no_run_message()
    st.stop()

outputs = None
with widgets.friendly_errors():
    outputs = backend.run_outputs(ws, run)
if outputs is None or outputs.segments is None:
    st.info(
        f"No segments for run **{run}** yet. Segmentation arrives with the insights part "
        f"(issue #4): `python -m core segment --run {run}` writes them into the run folder."
    )
    st.stop()

profiles: pd.DataFrame = outputs.segments
names = state.get(state.SEGMENT_NAMES, {})
with st.expander("Rename segments"):
    for segment, default in zip(
        profiles["segment"], profiles.get("name", profiles["segment"]), strict=True
    ):
        names[str(segment)] = st.text_input(
            f"Segment {segment}",
            value=names.get(str(segment), str(default)),
            key=f"seg_name_{segment}",
        )
    state.put(state.SEGMENT_NAMES, names)
shown = profiles.assign(name=[names.get(str(s), str(s)) for s in profiles["segment"]])
st.dataframe(shown, hide_index=True, key="seg_profiles")

assignments = outputs.assignments
if assignments is not None and {"x", "y"} <= set(assignments.columns):
    frame = assignments.assign(segment=assignments["segment"].astype(str))
    frame["name"] = [names.get(s, s) for s in frame["segment"]]
    fig = px.scatter(
        frame,
        x="x",
        y="y",
        color="name",
        hover_data=["user_id", "segment"],
        title="Users, by segment",
    )
    event = st.plotly_chart(fig, key="seg_map", on_select="rerun", selection_mode=("lasso", "box"))
    picked = [p["point_index"] for p in event.selection.get("points", [])] if event else []
    selected = frame.iloc[picked] if picked else frame.head(0)
    st.markdown(f"**{len(selected)} users selected** (lasso or box on the map)")
    st.dataframe(selected, hide_index=True, key="seg_selected")
    if not selected.empty:
        user = st.selectbox("Timeline of", selected["user_id"].astype(str), key="seg_user")
        dataset = backend.run_dataset(backend.run_config(ws, run))
        with widgets.friendly_errors():
            st.dataframe(
                backend.user_timeline(ws, dataset, user), hide_index=True, key="seg_timeline"
            )
