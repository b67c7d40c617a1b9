"""Anomalies: users whose behaviour is most unusual, flagged at the false-alarm rate the analyst
picks, ranked with reasons, the score distribution, and a drill-down to their timelines."""

from __future__ import annotations

import streamlit as st

from core.analysis import anomaly_flags, run_info
from core.analysis.result_tables import sample_notes
from dashboard import state
from dashboard.components import charts, insights, widgets

MAX_TOP = 200  # most anomalous users the table can list

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

if not insights.has_outputs(ws, run, state.ANOMALIES_FILE):
    st.info(f"No anomaly scores for run **{run}** yet.")
    if insights.compute_action(
        "Compute anomaly scores",
        "Scoring users",
        lambda p: insights.score_anomalies(ws, run, p),
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
# Every user's score, but only the MAX_TOP highest rows with their reasons (200k users at scale).
stamps = state.outputs_stamp(ws, run)
table = state.anomaly_table(str(ws.root), run, stamps, MAX_TOP, run_info.ANOMALY_COLUMNS)
flags = run_info.flag_summary(table.scores, rate)
if flags.flagged:
    st.markdown(f"**{flags.sentence()}**")
else:
    st.info(flags.sentence())
st.caption(anomaly_flags.METHOD_NOTE)
sampled = sample_notes(ws.existing_run_dir(run)).get("anomaly_model.json")
if sampled:
    st.info(f"Anomalies were {sampled}.")
st.plotly_chart(charts.score_histogram(table.scores, flags.lowest_flagged_score), key="ano_hist")

top = st.slider(
    "Show the top",
    5,
    max(5, min(MAX_TOP, flags.scored)),
    min(20, flags.scored),
    key=f"ano_top_{run}",
    help=f"Up to the {MAX_TOP} most unusual of the {flags.scored:,} scored users.",
)
shown = run_info.flagged_top(table.top, rate, top)
if flags.scored > top:
    st.caption(f"Showing the top {top} of {flags.scored:,} scored users, highest score first.")
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
insights.drill_down(ws, run_dataset, [str(u) for u in shown["user_id"]], key="ano")
with st.expander("Recompute"):
    if insights.compute_action(
        "Recompute anomaly scores",
        "Scoring users",
        lambda p: insights.score_anomalies(ws, run, p),
        "ano_recompute",
        primary=False,
    ):
        st.rerun()
