"""Train: launch pre-training in the background, watch it live, compare runs and baselines."""

from __future__ import annotations

import streamlit as st

from core import jobs
from dashboard import state
from dashboard.components import charts, training, widgets

ws = state.workspace()
st.title("Train")
st.caption(
    "Training runs as a separate process: it keeps going when you reload the page, switch pages "
    "or close the tab. Come back here to follow it."
)

dataset = widgets.dataset_picker(ws, key="train")
if dataset is None:
    widgets.no_dataset_message()
    st.stop()

with st.container(border=True):
    st.subheader("New run")
    config = training.launch_form(ws, dataset, key="train_form")
    if config is not None:
        with widgets.friendly_errors("Cannot start training"):
            jobs.start_training(ws, config)
            state.put(state.TRAIN_RUN, config.run)
            st.toast(f"Training {config.run} started.")

st.subheader("Progress")
training.live_monitor(ws, key="train_live")

st.subheader("Trained runs")
with widgets.friendly_errors("Run list"):
    table = training.run_table(ws)
    if table.empty:
        st.caption("No finished run yet.")
    else:
        st.dataframe(table, hide_index=True, key="train_runs")
        run = widgets.run_picker(ws, key="train_quality", label="Compare with baselines")
        if run is not None and st.toggle("Evaluate on held-out events", key="train_eval"):
            quality = state.run_result(str(ws.root), run, state.run_stamp(ws, run), "quality", ())
            st.plotly_chart(charts.quality_chart(quality), key="train_quality_chart")
            st.dataframe(quality, hide_index=True, key="train_quality_table")
