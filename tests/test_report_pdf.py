"""The report as PDF (headless Chromium), the "Not in this report" box, and analyst words only.

The PDF tests need Chromium (CI has it for the browser test) and a way to read PDF text: pypdf
(requirements-dev.txt) or poppler's pdftotext; without either they are skipped, not failed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_analysis_behaviour_data import write_events

from core.cli import main
from core.reports.build import build_report_parts
from core.reports.pdf import CHROMIUM_ENV, PdfEngineMissing, find_chromium, html_to_pdf
from core.reports.request import ReportRequest
from core.workspace import Workspace, atomic_write_json
from sample_data.demo import ensure_demo

FLAG = re.compile(r"(?<![\w-])--[a-z]")  # a command-line flag such as --run or --format
DEMO_RUN_OUTPUTS = ("metrics.json", "segments.parquet", "segment_assignments.parquet")


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Dataset "sample", run "demo" (with every output) and run "bare" (none of them)."""
    workspace = Workspace.at(tmp_path_factory.mktemp("pdf") / "ws")
    ensure_demo(workspace)
    bare = workspace.run_dir("bare")
    shutil.copytree(workspace.run_dir("demo"), bare)
    for name in (*DEMO_RUN_OUTPUTS, "anomalies.parquet"):
        (bare / name).unlink(missing_ok=True)
    return workspace


def pdf_text(path: Path) -> str:
    """The PDF's text with pypdf, else pdftotext; skip the test when neither is installed."""
    try:
        from pypdf import PdfReader
    except ImportError:
        if shutil.which("pdftotext") is None:
            pytest.skip("reading PDF text needs pypdf or pdftotext")
        done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True)
        return done.stdout.decode("utf-8")
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def needs_chromium() -> None:
    try:
        find_chromium()
    except PdfEngineMissing:
        pytest.skip("PDF export needs Chromium")


def report_cli(workspace: Workspace, *args: str, capsys: pytest.CaptureFixture) -> dict:
    assert main(["report", "--workspace", str(workspace.root), *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_pdf_of_the_demo_run_holds_the_report(demo_ws: Workspace, tmp_path: Path, capsys) -> None:
    needs_chromium()
    out = tmp_path / "report.pdf"
    summary = report_cli(
        demo_ws, "--run", "demo", "--format", "pdf", "--out", str(out), capsys=capsys
    )
    assert out.read_bytes().startswith(b"%PDF-") and summary["bytes"] == out.stat().st_size
    assert summary["sections"] == ["summary", "behaviour", "model", "segments", "anomalies"]
    assert summary["not_in_report"] == []
    text = pdf_text(out)
    for expected in ("Behavior Lens report: sample", "run demo", "Data summary", "Segments"):
        assert expected in text
    assert "Page 1 of" in text  # the print stylesheet numbers the pages
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]  # atomic: no temp file left


def test_run_without_outputs_lists_what_is_not_in_the_report(
    demo_ws: Workspace, tmp_path: Path, capsys
) -> None:
    needs_chromium()
    out = tmp_path / "bare.pdf"
    summary = report_cli(
        demo_ws, "--run", "bare", "--format", "pdf", "--out", str(out), capsys=capsys
    )
    assert summary["sections"] == ["summary", "behaviour"]
    missing = {item["section"]: item for item in summary["not_in_report"]}
    assert missing["model"]["reason"] == "the run has not been evaluated"
    assert missing["segments"]["reason"] == "not computed for this run yet"
    assert missing["anomalies"]["how"] == "python -m core anomalies --run bare"  # CLI only
    text = " ".join(pdf_text(out).split())
    assert "Not in this report" in text
    assert "Segments: not computed for this run yet" in text
    assert "Model quality vs baselines: the run has not been evaluated" in text
    assert "python -m core" not in text


def test_reports_speak_to_analysts_not_to_the_command_line(demo_ws: Workspace) -> None:
    for run, sections in (("demo", None), ("bare", None), (None, None), ("demo", ["summary"])):
        html, parts = build_report_parts(
            demo_ws, ReportRequest("sample", run=run, sections=sections)
        )
        assert not FLAG.search(html), FLAG.search(html)
        for leak in ("python -m core", str(demo_ws.root), "/tmp/", "report --format"):
            assert leak not in html
    assert [o.reason for o in parts["omitted"]] == ["left out when this report was built"] * 4
    _, parts = build_report_parts(demo_ws, ReportRequest("sample"))
    assert {o.key: o.reason for o in parts["omitted"]} == {
        key: "no trained model was chosen for this report"
        for key in ("model", "segments", "anomalies")
    }


def test_a_log_with_one_event_type_says_why_it_has_no_funnel(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    folder = workspace.dataset_dir("views")
    write_events(
        folder / "events.parquet", [("u1", 0, 0, "view", "i1"), ("u1", 0, 1, "view", "i2")]
    )
    atomic_write_json(folder / "manifest.json", {"name": "views", "has_time": False, "stats": {}})
    html, parts = build_report_parts(
        workspace, ReportRequest("views", sections=["summary", "behaviour"])
    )
    reasons = {o.title: o.reason for o in parts["omitted"]}
    assert reasons["Funnel"] == "this log has one event type"
    assert reasons["Event volume and retention"] == "this log has no timestamps"
    assert "<b>Funnel</b>: this log has one event type" in html


def test_missing_chromium_says_what_to_install(
    demo_ws: Workspace, tmp_path: Path, monkeypatch, capsys
) -> None:
    nowhere = tmp_path / "no-chromium"
    with pytest.raises(PdfEngineMissing, match="apt-get install -y chromium") as caught:
        html_to_pdf("<p>x</p>", engine=nowhere)
    assert "ask whoever runs the dashboard" in caught.value.analyst_message
    monkeypatch.setenv(CHROMIUM_ENV, str(nowhere))
    out = tmp_path / "r.pdf"
    argv = ["report", "--workspace", str(demo_ws.root), "--run", "demo", "--format", "pdf"]
    assert main([*argv, "--out", str(out)]) == 2
    assert "PDF export needs Chromium: apt-get install -y chromium" in capsys.readouterr().err
    assert not out.exists()
