"""Anomalies: users whose behaviour surprises the model most, with reasons and timelines."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboard import backend, state
from dashboard.components import widgets

ws = state.workspace()
st.title("Anomalies")
st.caption("Higher score = the model found the behaviour more surprising.")

run = widgets.run_picker(ws, key="ano")
if run is None:
    widgets.no_run_message()
    st.stop()

outputs = None
with widgets.friendly_errors():
    outputs = backend.run_outputs(ws, run)
if outputs is None or outputs.anomalies is None:
    st.info(
        f"No anomaly scores for run **{run}** yet. They arrive with the insights part "
        f"(issue #4): `python -m core anomalies --run {run}` writes them into the run folder."
    )
    st.stop()

ranked = outputs.anomalies.sort_values("score", ascending=False)
st.plotly_chart(
    px.histogram(ranked, x="score", nbins=50, title="Score distribution"), key="ano_hist"
)
top = len(ranked)
if len(ranked) > 5:
    top = st.slider("Show top", 5, min(200, len(ranked)), min(20, len(ranked)), key="ano_top")
st.dataframe(ranked.head(top), hide_index=True, key="ano_table")
user = st.selectbox("Timeline of", ranked.head(top)["user_id"].astype(str), key="ano_user")
dataset = backend.run_dataset(backend.run_config(ws, run))
with widgets.friendly_errors():
    st.dataframe(backend.user_timeline(ws, dataset, user), hide_index=True, key="ano_timeline")
