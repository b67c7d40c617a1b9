"""Anomalies: users whose behaviour is most unusual, ranked with reasons, the score
distribution, and a drill-down to their timelines."""

from __future__ import annotations

import streamlit as st

from core.analysis import run_info
from core.analysis.anomalies import anomalies_run
from dashboard import state
from dashboard.components import charts, insights, widgets

ws = state.workspace()
st.title("Anomalies")
st.caption(
    "Each session is scored on pace, bursts, repetition and how much it surprises the model; a "
    "user's score is their most unusual session plus their overall surprise. Higher = stranger."
)

run = widgets.require_run(ws, key="ano")
run_dataset = run_info.run_meta(ws, run).get("dataset", "")
if run_dataset in ws.dataset_names():
    time_note = state.time_support(
        str(ws.root), run_dataset, state.dataset_stamp(ws, run_dataset)
    ).note()
    if time_note:
        st.caption(time_note)

found = insights.outputs(ws, run)
if found.anomalies is None:
    st.info(f"No anomaly scores for run **{run}** yet.")
    if insights.compute_action(
        "Compute anomaly scores",
        "Scoring users",
        lambda p: anomalies_run(ws, run, on_progress=p),
        "ano_compute",
    ):
        st.rerun()
    st.stop()

ranked = found.anomalies.sort_values("score", ascending=False, kind="stable")
flagged = ranked[ranked["percentile"] >= run_info.FLAG_PERCENTILE]
threshold = float(flagged["score"].min()) if len(flagged) else float(ranked["score"].max())
st.markdown(
    f"**{len(flagged):,} flagged users** (top {100 - run_info.FLAG_PERCENTILE:g}% of "
    f"{len(ranked):,} scored)."
)
st.plotly_chart(charts.score_histogram(ranked, threshold), key="ano_hist")

top = st.slider(
    "Show the top", 5, max(5, min(200, len(ranked))), min(20, len(ranked)), key="ano_top"
)
columns = [
    c for c in ("user_id", "score", "percentile", "reason", "events", "seconds") if c in ranked
]
shown = ranked.head(top)[columns]
st.dataframe(
    shown,
    hide_index=True,
    key="ano_table",
    column_config={
        "score": st.column_config.NumberColumn(format="%.1f"),
        "percentile": st.column_config.NumberColumn(format="%.1f"),
        "reason": st.column_config.TextColumn(width="large"),
    },
)
dataset = run_info.run_meta(ws, run).get("dataset", "")
insights.drill_down(ws, dataset, [str(u) for u in shown["user_id"]], key="ano")
with st.expander("Recompute"):
    if insights.compute_action(
        "Recompute anomaly scores",
        "Scoring users",
        lambda p: anomalies_run(ws, run, on_progress=p),
        "ano_recompute",
        primary=False,
    ):
        st.rerun()
