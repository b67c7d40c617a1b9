"""Reports: choose sections (and a segment), preview, download HTML or CSV tables."""

from __future__ import annotations

import streamlit as st

from dashboard import backend, state
from dashboard.components import widgets

ws = state.workspace()
root = str(ws.root)
st.title("Reports")
st.caption("A self-contained HTML file (no network needed to open it) or spreadsheet-safe CSVs.")

dataset = widgets.dataset_picker(ws, key="rep")
if dataset is None:
    widgets.no_dataset_message()
    st.stop()

runs = [
    name for name in ws.run_names() if backend.run_dataset(backend.run_config(ws, name)) == dataset
]
run = st.selectbox(
    "Model run (optional)",
    [None, *runs],
    key="rep_run",
    format_func=lambda r: "no model sections" if r is None else r,
)
sections = st.multiselect(
    "Sections",
    ["summary", "behaviour", "model", "segments", "anomalies"],
    default=["summary", "behaviour"] + (["model"] if run else []),
    key=f"rep_sections_{bool(run)}",
)
segment = None
if run:
    with widgets.friendly_errors():
        outputs = backend.run_outputs(ws, run)
        if outputs.segments is not None and "segment" in outputs.segments:
            choices = [str(s) for s in outputs.segments["segment"]]
            segment = st.selectbox("Only segment", [None, *choices], key="rep_segment")

if st.button("Build report", type="primary", key="rep_build"):
    with st.spinner("Building the report…"), widgets.friendly_errors("Report"):
        metrics = None
        if run and "model" in sections:
            quality = state.run_result(root, run, state.run_stamp(ws, run), "quality", ())
            metrics = backend.quality_metrics(quality)
        html, tables = backend.build_report(ws, dataset, run, sections, segment, metrics)
        state.put("bl_report", {"html": html, "tables": tables, "dataset": dataset})

report = state.get("bl_report")
if report and report["dataset"] == dataset:
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download HTML",
        report["html"],
        file_name=f"{dataset}-report.html",
        mime="text/html",
        key="rep_dl_html",
        type="primary",
    )
    with widgets.friendly_errors("CSV export"):
        c2.download_button(
            "Download CSV tables (zip)",
            backend.csv_zip(report["tables"]),
            file_name=f"{dataset}-tables.zip",
            mime="application/zip",
            key="rep_dl_csv",
        )
    # The report is our own output with every user string escaped and no script in it.
    st.iframe(report["html"], height=900)
