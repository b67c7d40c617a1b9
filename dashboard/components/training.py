"""Train-page pieces: the launch form, the live job monitor, the run table.

Training runs in a separate process (core.jobs); these widgets only start it, read its
status.json / progress.jsonl, and send SIGTERM. A page reload or a second tab finds the same
job again from disk.
"""

from __future__ import annotations

import time
from typing import get_args

import pandas as pd
import streamlit as st

from core import jobs
from core.analysis import run_info, runs_table
from core.errors import analyst_text
from core.jobs import DERIVED_TARGETS, FineTuneJobConfig
from core.jobs.config import finetune_knobs, preset_knobs
from core.progress_record import ProgressRecord, RecordVersionError
from core.training.config import Objective
from core.workspace import Workspace
from dashboard import state
from dashboard.components import charts, widgets

POLL_SECONDS = 1.0  # how often the monitor re-reads a running job's files
VAL_METRICS = ("hr@10", "ndcg@10", "mrr", "roc_auc", "accuracy", "score")  # drawn as curves
STATE_ICONS = {  # Material icons: emoji render as empty boxes in some browsers (Debian Chromium)
    "starting": ":material/hourglass_top:",
    "running": ":material/directions_run:",
    "analyzing": ":material/insights:",
    "finished": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/stop_circle:",
}


def launch_form(ws: Workspace, dataset: str, key: str) -> jobs.TrainJobConfig | None:
    """Preset + a few knobs; returns the config when the analyst presses Start."""
    preset_name = (
        st.segmented_control(
            "Preset",
            list(jobs.TRAIN_PRESETS),
            default="quick demo",
            key=f"{key}_preset",
            help="quick demo: ~1-2 min · balanced: ~15 min · best quality: up to an hour",
        )
        or "quick demo"
    )
    start = preset_knobs(preset_name)  # the preset over the trainer's defaults
    c1, c2, c3, c4 = st.columns(4)
    objective = c1.radio(
        "Objective",
        get_args(Objective),
        index=get_args(Objective).index(start["objective"]),
        key=f"{key}_objective",
        help="causal: predict the next event (SASRec) · masked: fill in hidden events (BERT4Rec)",
    )
    epochs = c2.number_input(
        "Max epochs",
        1,
        10_000,
        start["epochs"],
        placeholder="the time budget decides",
        key=f"{key}_epochs_{preset_name}",
        help="Leave empty to train until the time budget is spent (or progress stops).",
    )
    minutes = c3.number_input(
        "Time budget (min)",
        0.5,
        600.0,
        float(start["max_minutes"]),
        step=0.5,
        key=f"{key}_minutes_{preset_name}",
    )
    dim = c4.selectbox(
        "Model width",
        [16, 32, 64, 128],
        index=[16, 32, 64, 128].index(start["dim"]),
        key=f"{key}_dim_{preset_name}",
    )
    default_name = f"{dataset}-{preset_name.split()[0]}-{time.strftime('%H%M%S')}"
    widget = f"{key}_run_{dataset}_{preset_name}"
    started = st.session_state.get(widget)
    if started is None or started.strip() == state.get(state.TRAIN_RUN):
        st.session_state[widget] = default_name  # new, or a fresh one once this form started
    run = st.text_input("Run name", key=widget)
    if not st.button("Start training", type="primary", key=f"{key}_start"):
        return None
    chosen = {
        "epochs": int(epochs) if epochs is not None else None,
        "max_minutes": float(minutes),
        "dim": int(dim),
    }
    knobs = {**jobs.TRAIN_PRESETS[preset_name], **chosen}  # the preset's other knobs kept
    return jobs.TrainJobConfig(dataset=dataset, run=run.strip(), objective=objective, **knobs)


def progress_frame(records: list[ProgressRecord]) -> pd.DataFrame:
    """One row per training or evaluation record: step, epoch, loss, elapsed and the validation
    metrics drawn as curves (analysis steps have no curve)."""
    rows = []
    for number, record in enumerate(r for r in records if r.stage != "analyze"):
        row = {
            "step": record.step if record.step is not None else number + 1,
            "total_steps": record.total_steps,
            "epoch": record.epoch,
            "loss": record.loss,
            "elapsed": record.elapsed,
        }
        row.update({f"val {k}": v for k, v in (record.val or {}).items() if k in VAL_METRICS})
        rows.append({k: v for k, v in row.items() if v is not None})
    return pd.DataFrame(rows)


def _fraction(last: ProgressRecord | None) -> float | None:
    return last.fraction if last is not None else None


def _eta_text(last: ProgressRecord | None) -> str:
    if last is None or last.eta is None:
        return ""
    minutes, seconds = divmod(int(last.eta), 60)
    return (
        f" · about {minutes} min {seconds:02d} s left" if minutes else f" · about {seconds} s left"
    )


def _progress_label(last: ProgressRecord | None, status: jobs.JobStatus) -> str:
    if last is None:
        return status.state
    if last.stage == "analyze" and status.active:
        return f"analysing: {last.message}"
    return f"epoch {last.epoch}" if last.epoch is not None else status.state


def runs_for_display(table: pd.DataFrame) -> pd.DataFrame:
    """The run table with "—" for metrics a run has not been evaluated on (not "None"/NaN)."""
    shown = table.astype(object)
    numeric = [c for c in table.columns if c.startswith(("val ", "test "))]
    for column in numeric:
        shown[column] = [
            "—" if pd.isna(v) else f"{v:.3f}" if isinstance(v, float) else v for v in table[column]
        ]
    return shown.where(table.notna(), "—")


RUN_COLUMNS = {  # how the compared-runs table reads (core.analysis.runs_table.compare_runs)
    "parameters": st.column_config.NumberColumn("parameters", format="localized"),
    "minutes": st.column_config.NumberColumn("minutes trained", format="%.1f"),
    "epochs run": st.column_config.NumberColumn("epochs run", help="epochs trained"),
    "best epoch": st.column_config.NumberColumn("best epoch", help="epoch of the kept weights"),
    "figures": st.column_config.TextColumn(
        "figures",
        help="test: held-out last events · validation: not evaluated yet, so the "
        "validation figures (usually higher than test)",
    ),
    **{
        c: st.column_config.NumberColumn(c, format="%.4f")
        for c in (
            "hr@10",
            "ndcg@10",
            "popular hr@10",
            "popular ndcg@10",
            "markov hr@10",
            "markov ndcg@10",
        )
    },  # fmt: skip
    "default": st.column_config.CheckboxColumn("default", help="the run the pages open on"),
}


def runs_overview(ws: Workspace, dataset: str, key: str) -> pd.DataFrame:
    """Sortable table of the dataset's runs (or every run) beside the baselines, and the
    "Make default" control. Returns the table shown."""
    every = st.toggle("Runs of every dataset", key=f"{key}_every")
    table = runs_table.compare_runs(ws, None if every else dataset)
    if table.empty:
        st.caption(f"No trained run of {dataset} yet.")
        return table
    st.dataframe(table, hide_index=True, key=key, column_config=RUN_COLUMNS)
    st.caption(
        "Click a column to sort. The baselines are scored when a run is evaluated; until then a "
        "run shows its validation figures."
    )
    own = [r for r, d in zip(table["run"], table["dataset"], strict=True) if d == dataset]
    if own:
        _default_control(ws, dataset, own, key=f"{key}_default_{dataset}")
    return table


def _default_control(ws: Workspace, dataset: str, runs: list[str], key: str) -> None:
    """Pick the run every page opens on for this dataset."""
    current = runs_table.default_run(ws, dataset)
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    run = c1.selectbox(
        f"Default run of {dataset}",
        runs,
        index=runs.index(current) if current in runs else 0,
        key=f"{key}_pick",
        help="The pages open on this run; without one they open on the newest run.",
    )
    if c2.button("Make default", key=key, disabled=run == current):
        with widgets.friendly_errors("Cannot set the default run"):
            runs_table.set_default_run(ws, dataset, run)
            state.put(state.RUN, run)
            st.toast(f"{run} is now the default run of {dataset}.")
            st.rerun()


def monitor(ws: Workspace, run: str, key: str) -> None:
    """Status, progress bar, ETA, curves, and cancel/resume for one job."""
    status = jobs.job_status(ws, run)
    try:
        records = jobs.read_progress(ws, run)
    except RecordVersionError as error:
        st.warning(str(error))
        records = []
    last = records[-1] if records else None
    icon = STATE_ICONS.get(status.state, ":material/help:")
    st.markdown(f"**{icon} {run}** — {status.state}{_eta_text(last) if status.active else ''}")
    if status.message:
        st.caption(analyst_text(status.message))
    fraction = 1.0 if status.state == "finished" else _fraction(last)
    st.progress(fraction or 0.0, text=_progress_label(last, status))
    frame = progress_frame(records)
    if not frame.empty and "loss" in frame:
        val_columns = [c for c in frame.columns if c.startswith("val ")]
        left, right = st.columns(2)
        left.plotly_chart(charts.curves_chart(frame, ["loss"], "Training loss"), key=f"{key}_loss")
        if val_columns:
            right.plotly_chart(
                charts.curves_chart(frame, val_columns, "Validation"), key=f"{key}_val"
            )
    if status.state == "finished":
        choices = run_info.training_choices(ws, run)
        if choices:
            st.caption("Chosen for this data: " + "; ".join(choices) + ".")
    _controls(ws, status, key)
    if status.state == "failed" and status.log_tail:
        with st.expander("Log of the failed run"):
            st.code(status.log_tail[-2000:])


def _controls(ws: Workspace, status: jobs.JobStatus, key: str) -> None:
    if status.active and st.button("Cancel", key=f"{key}_cancel"):
        jobs.cancel(ws, status.run)
        st.toast(f"Stopping {status.run}: it saves a checkpoint first.")
    fine_tune = (jobs.read_job(ws, status.run) or {}).get("kind") == "finetune"
    label = "Start again" if fine_tune else "Resume"  # a fine-tune restarts from its parent
    if status.state in ("cancelled", "failed") and st.button(label, key=f"{key}_resume"):
        with widgets.friendly_errors("Resume failed"):
            jobs.resume(ws, status.run)
            state.follow_job(status.run)
            st.rerun()


def live_monitor(ws: Workspace, key: str) -> None:
    """Monitor of the tab's job; re-runs on its own every POLL_SECONDS while any job is active,
    and re-runs the whole page when a job changes state (its label in the picker, the run
    table and the run pickers then show it as it is now, in this tab and in any other)."""
    launched = jobs.list_jobs(ws)
    if not launched:
        st.caption("No training launched from the dashboard yet.")
        return
    names = [job.run for job in launched]
    states = {job.run: job.state for job in launched}
    run = widgets.synced_select(
        "Follow job",
        names,
        state.TRAIN_RUN,
        names[0],
        f"{key}_follow",
        format_func=lambda n: f"{n} · {states[n]}",
    )
    polling = any(job.active for job in launched)

    @st.fragment(run_every=POLL_SECONDS if polling else None)
    def _poll() -> None:
        monitor(ws, run, key=f"{key}_mon")
        if polling and {job.run: job.state for job in jobs.list_jobs(ws)} != states:
            st.rerun()  # a job started, moved on or ended: refresh the whole page

    _poll()


TARGET_HELP = {
    "next-session-purchase": "Will the user buy in their next session? (from the data itself)",
    "churn": "Will the user stay inactive for the next N days?",
    "precedes-purchase": "Tag each event: is a purchase coming later in this session?",
}


def finetune_form(
    ws: Workspace, dataset: str, parents: list[str], key: str
) -> FineTuneJobConfig | None:
    """Fine-tune a pre-trained run on a target derived from the data; returns the config on Start."""
    if not parents:
        st.info("Fine-tuning starts from a pre-trained run of this dataset: pre-train one first.")
        return None
    c1, c2, c3, c4 = st.columns(4)
    parent = c1.selectbox("Start from", parents, key=f"{key}_parent_{dataset}")
    target = c2.selectbox(
        "Target",
        DERIVED_TARGETS,
        key=f"{key}_target",
        help=" · ".join(f"{k}: {v}" for k, v in TARGET_HELP.items()),
    )
    start = finetune_knobs()  # the dashboard's short preset over the fine-tuner's defaults
    epochs = c3.number_input("Epochs", 1, 200, start["epochs"], key=f"{key}_epochs")
    minutes = c4.number_input(
        "Time budget (min)", 0.5, 600.0, start["max_minutes"], step=0.5, key=f"{key}_minutes"
    )
    st.caption(TARGET_HELP[target] + " Compared with a bag-of-events logistic regression.")
    default_name = f"{parent}-{target.split('-')[0]}-{time.strftime('%H%M%S')}"
    run = st.text_input("Run name", value=default_name, key=f"{key}_run_{parent}_{target}")
    if not st.button("Start fine-tuning", type="primary", key=f"{key}_start"):
        return None
    return FineTuneJobConfig(
        parent=parent,
        run=run.strip(),
        target=target,
        epochs=int(epochs),
        max_minutes=float(minutes),
    )
