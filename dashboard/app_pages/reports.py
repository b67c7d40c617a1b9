"""Reports: choose a segment and sections, preview, download HTML, PDF or CSV tables."""

from __future__ import annotations

import dataclasses

import streamlit as st

from core.analysis import run_info, runs_table
from core.reports.build import build_report_parts, sections_available
from core.reports.export import tables_zip
from core.reports.pdf import PdfEngineMissing, find_chromium, html_to_pdf
from core.reports.request import ReportRequest
from dashboard import state
from dashboard.components import insights, widgets

SECTIONS = {
    "summary": "Summary",
    "behaviour": "Behaviour (volume, funnel, paths, retention)",
    "model": "Model quality vs baselines",
    "segments": "Segments",
    "anomalies": "Anomalies",
}

ws = state.workspace()
st.title("Reports")
st.caption(
    "A self-contained HTML file (opens offline, no scripts), the same report as a PDF to attach "
    "to an e-mail, or spreadsheet-safe CSV tables."
)

dataset = widgets.require_dataset(ws, key="rep")

runs = run_info.runs_of(ws, dataset)
# Open on the tab's run (a run just trained is adopted by require_dataset), else the dataset's
# default or newest run: never simply the first name.
opened = state.get(state.RUN)
opened = opened if opened in runs else runs_table.preferred_run(ws, dataset)
run = st.selectbox(
    "Model run",
    [None, *runs],
    index=runs.index(opened) + 1 if opened in runs else 0,
    key=f"rep_run_{dataset}",
    format_func=lambda r: "none: behaviour sections only" if r is None else r,
)
if run:
    widgets.training_warning(ws, run)
segments = run_info.named_segments(ws, run) if run else None
# Which run sections exist, from the files alone: the tables are read only to build the report.
available = sections_available(ws, run)
sections = st.multiselect(
    "Sections", available, default=available, format_func=SECTIONS.get, key=f"rep_sections_{run}"
)
segment = None
if segments is not None:
    names = dict(zip(segments["segment"].astype(str), segments["name"], strict=True))
    segment = st.selectbox(
        "Users",
        [None, *names],
        key=f"rep_segment_{run}",
        format_func=lambda s: "everyone" if s is None else f"segment {s}: {names[s]}",
        help="Restrict the analytics and tables to one segment's users.",
    )

if st.button("Build report", type="primary", key="rep_build", disabled=not sections):
    with st.spinner("Building the report…"), widgets.friendly_errors("Report"):
        outputs = insights.outputs(ws, run) if run else None
        if outputs is not None and segments is not None:
            outputs = dataclasses.replace(outputs, segments=segments)
        request = ReportRequest(
            dataset, run=run, sections=sections, segment_filter=segment, outputs=outputs
        )
        html, parts = build_report_parts(ws, request)
        built = {"html": html, "tables": parts["tables"], "dataset": dataset, "run": run}
        state.put(state.REPORT, built)


report = state.get(state.REPORT)
if report and (report["dataset"], report.get("run")) == (dataset, run):  # never another run's
    c1, c2, c3, _ = st.columns([1, 1, 1, 1])
    c1.download_button(
        "Download HTML",
        report["html"],
        file_name=f"{dataset}-report.html",
        mime="text/html",
        key="rep_dl_html",
        type="primary",
    )
    try:
        engine = find_chromium()
    except PdfEngineMissing as missing:
        c2.caption(missing.analyst_message)
    else:
        html = report["html"]
        c2.download_button(
            "Download PDF",
            lambda: html_to_pdf(html, engine),  # printed only when clicked (a few seconds)
            file_name=f"{dataset}-report.pdf",
            mime="application/pdf",
            key="rep_dl_pdf",
        )
    tables = report["tables"]
    c3.download_button(
        "Download CSV tables (zip)",
        lambda: tables_zip(tables),  # zipped when clicked: every user's rows at scale
        file_name=f"{dataset}-tables.zip",
        mime="application/zip",
        key="rep_dl_csv",
    )
    st.markdown("**Preview**")
    # The report is our own output with every user string escaped and no script in it.
    st.iframe(report["html"], height=900)
