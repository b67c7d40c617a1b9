"""A dataset replaced after a run was trained on it: every page showing the run and its report
say the run describes the old data; before, they mixed the new events with the old run's
segments and anomalies without a word."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.analysis.run_freshness import outdated_note
from core.data.ingest import IngestOptions, ingest
from core.reports.build import build_report
from core.reports.request import ReportRequest
from core.workspace import Workspace
from dashboard.components.upload import replace_warning
from sample_data.demo import ensure_demo
from tests.test_dashboard_pages import open_page
from tests.test_dashboard_stale_state import _shop_log


def test_a_replaced_dataset_marks_its_runs_outdated_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.at(tmp_path / "ws")
    ensure_demo(ws)
    assert outdated_note(ws, "demo") is None  # trained on the dataset as it is
    assert "Run **demo** was trained on it" in replace_warning(ws, "sample")
    ingest(_shop_log(tmp_path / "shop.csv"), "sample", ws, IngestOptions())
    note = outdated_note(ws, "demo")
    assert note is not None and "earlier version of dataset sample" in note
    html = build_report(ws, ReportRequest(dataset="sample", run="demo"))
    assert "earlier version of dataset sample" in html
    at = open_page("segments", ws.root, monkeypatch)
    assert any("earlier version of dataset" in w.value for w in at.warning)
