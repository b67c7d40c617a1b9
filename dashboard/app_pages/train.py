"""Train: launch pre-training or fine-tuning in the background, watch it live, compare runs and
baselines."""

from __future__ import annotations

import streamlit as st

from core import jobs
from core.analysis import run_info
from core.jobs import start_finetune
from dashboard import state
from dashboard.components import charts, insights, training, widgets

ws = state.workspace()
root = str(ws.root)
st.title("Train")
st.caption(
    "Training runs as a separate process: it keeps going when you reload the page, switch pages "
    "or close the tab. Come back here to follow it."
)

dataset = widgets.require_dataset(ws, key="train")

with st.container(border=True):
    st.subheader("New run")
    pretrain_tab, finetune_tab = st.tabs(["Pre-train a model", "Fine-tune for a target"])
    with pretrain_tab:
        config = training.launch_form(ws, dataset, key="train_form")
        if config is not None:
            with widgets.friendly_errors("Cannot start training"):
                jobs.start_training(ws, config)
                state.follow_job(config.run)
                st.toast(f"Training {config.run} started.")
    with finetune_tab:
        table = run_info.run_table(ws)
        parents = (
            list(table[(table["dataset"] == dataset) & (table["kind"] == "pre-train")]["run"])
            if not table.empty
            else []
        )
        tune = training.finetune_form(ws, dataset, parents, key="train_ft")
        if tune is not None:
            with widgets.friendly_errors("Cannot start fine-tuning"):
                start_finetune(ws, tune)
                state.follow_job(tune.run)
                st.toast(f"Fine-tuning {tune.run} started.")

st.subheader("Progress")
training.live_monitor(ws, key="train_live")  # selectbox key: state.TRAIN_FOLLOW

st.subheader("Trained runs")
with widgets.friendly_errors("Run list"):
    table = run_info.run_table(ws)
    if table.empty:
        st.caption("No finished run yet.")
        st.stop()
    training.runs_overview(ws, dataset, key="train_runs")

st.subheader("Quality vs baselines")
mine = table[(table["kind"] == "pre-train") & (table["dataset"] == dataset)]
pretrained = list(mine["run"])  # the chosen dataset's runs only: never another log's figures
if not pretrained:
    st.caption(f"No trained run of {dataset} yet: its quality appears here once one is trained.")
run = widgets.run_picker(ws, key="train_quality", label="Run", names=pretrained)
if run is not None:
    quality = state.quality(root, run, state.outputs_stamp(ws, run))
    if quality is None:
        st.info(
            f"Run **{run}** has not been evaluated yet: score it and the two baselines on every "
            "user's held-out last event."
        )
    else:
        left, right = st.columns([2, 3])
        left.plotly_chart(charts.quality_chart(quality), key="train_quality_chart")
        right.dataframe(quality, hide_index=True, key="train_quality_table")
    label = "Evaluate" if quality is None else "Re-evaluate"
    if insights.compute_action(
        label,
        f"Evaluating {run} and the baselines",
        lambda p: run_info.evaluate_run(ws, run, on_progress=p),
        key="train_eval",
        primary=quality is None,
    ):
        st.rerun()
