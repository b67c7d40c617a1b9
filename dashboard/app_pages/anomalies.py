"""Anomalies: users whose behaviour is most unusual, flagged at the false-alarm rate the analyst
picks, ranked with reasons, the score distribution, and a drill-down to their timelines."""

from __future__ import annotations

import streamlit as st

from core.analysis import anomaly_flags, run_info
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

rate = st.select_slider(
    "False-alarm rate",
    options=anomaly_flags.RATE_CHOICES,
    value=anomaly_flags.FlagConfig().false_alarm_rate,
    format_func=anomaly_flags.format_rate,
    key=f"ano_rate_{run}",
    help="How often a normal user of this log may score as high as a flagged one. "
    "Smaller flags fewer, stronger anomalies.",
)
ranked = anomaly_flags.with_flags(found.anomalies, rate)
ranked = ranked.sort_values("score", ascending=False, kind="stable")
flags = anomaly_flags.summarize(ranked, rate)
if flags.flagged:
    st.markdown(f"**{flags.sentence()}**")
else:
    st.info(flags.sentence())
st.caption(anomaly_flags.METHOD_NOTE)
st.plotly_chart(charts.score_histogram(ranked, flags.lowest_flagged_score), key="ano_hist")

top = st.slider(
    "Show the top", 5, max(5, min(200, len(ranked))), min(20, len(ranked)), key=f"ano_top_{run}"
)
wanted = ("user_id", "score", "false_alarm_rate", "flagged", "reason", "events", "seconds")
columns = [c for c in wanted if c in ranked]
shown = ranked.head(top)[columns]
st.dataframe(
    shown,
    hide_index=True,
    key="ano_table",
    column_config={
        "score": st.column_config.NumberColumn(format="%.1f"),
        "false_alarm_rate": st.column_config.NumberColumn(
            "false-alarm rate", format="percent", help="how often a normal user scores this high"
        ),
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
