"""Report rendering, hostile strings kept inert, CSV neutralisation and the `report` command."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_analysis_behaviour_data import WEEK, write_events

from core.errors import BehaviorLensError
from core.reports.build import build_report, build_report_parts
from core.reports.csv_safe import csv_bytes, neutralise_frame, write_csv_safe
from core.reports.export import tables_zip, write_report
from core.reports.request import ModelOutputs, ReportOptions, ReportRequest
from core.workspace import Workspace, atomic_write_json

XSS = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x")'


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A workspace with dataset "shop" whose user, item and category ids are hostile."""
    ws = Workspace(tmp_path / "ws")
    folder = ws.dataset_dir("shop")
    rows = [
        (XSS, 0, 0, "view", FORMULA, "c1"), (XSS, 0, 1, "cart", FORMULA, "c1"),
        (XSS, 0, 2, "buy", FORMULA, "c1"), (FORMULA, 0, 0, "view", "i2", XSS),
        (FORMULA, 1, WEEK, "view", "i3", "c2"), ("u3", 0, 3, "view", "i2"),
        ("u3", 0, 4, "cart", "i2"),
    ]  # fmt: skip
    write_events(folder / "events.parquet", rows)
    atomic_write_json(folder / "manifest.json", {"name": "shop", "has_time": True, "stats": {}})
    return ws


def model_outputs() -> ModelOutputs:
    return ModelOutputs(
        metrics={"model": {"HR@10": 0.12, "protocol": "full"}, "popularity": {"HR@10": 0.05}},
        segments=pd.DataFrame(
            {"segment": [0, 1], "name": [XSS, f"buyers {FORMULA}"], "size": [2, 1]}
        ),
        assignments=pd.DataFrame({"user_id": [XSS, FORMULA, "u3"], "segment": [0, 1, 0]}),
        anomalies=pd.DataFrame(
            {"user_id": [XSS, "u3"], "score": [0.9, 0.1], "reason": [FORMULA, "fast"]}
        ),
    )


def test_report_has_every_section_and_no_live_script(workspace: Workspace) -> None:
    html = build_report(workspace, ReportRequest("shop", outputs=model_outputs()))
    for title in (
        "Data summary", "Behaviour analytics", "Funnel", "Retention", "Event volume",
        "Top paths", "Model quality vs baselines", "Segments", "Top anomalies",
    ):  # fmt: skip
        assert title in html
    assert "<script" not in html.lower()  # no script at all, hostile or ours
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text
    assert "buyers =HYPERLINK(&quot;http://x&quot;)" in html
    for fetch in ("src=", "<link", "@import", 'href="http', "url("):
        assert fetch not in html  # nothing is fetched when the file is opened offline
    assert html.count("<svg") >= 4  # funnel, volume, retention, event mix (+ segments)


def test_dataset_only_report_leaves_out_model_sections(workspace: Workspace) -> None:
    html = build_report(workspace, ReportRequest("shop"))
    assert "Data summary" in html and '<section id="anomalies">' not in html
    assert "<b>Top anomalies</b>: no trained model was chosen for this report" in html
    asked = build_report(workspace, ReportRequest("shop", sections=["summary", "anomalies"]))
    assert "<b>Top anomalies</b>: no trained model was chosen for this report" in asked
    assert "<b>Behaviour analytics</b>: left out when this report was built" in asked


def test_segment_filter_restricts_users_and_tables(workspace: Workspace) -> None:
    request = ReportRequest(
        "shop", outputs=model_outputs(), segment_filter="1", sections=["summary", "segments"]
    )
    html = build_report(workspace, request)
    assert "buyers" in html and "&lt;script&gt;alert(1)" not in html  # segment 0 and its user gone
    with pytest.raises(BehaviorLensError, match="no segment 'zzz'"):
        build_report(
            workspace, ReportRequest("shop", outputs=model_outputs(), segment_filter="zzz")
        )


def test_bad_requests_are_one_line_errors(workspace: Workspace) -> None:
    with pytest.raises(BehaviorLensError, match="unknown report section 'charts'"):
        build_report(workspace, ReportRequest("shop", sections=["charts"]))
    with pytest.raises(BehaviorLensError, match="no dataset 'nope'"):
        build_report(workspace, ReportRequest("nope"))
    with pytest.raises(BehaviorLensError, match="unknown event type 'kart'"):
        build_report(
            workspace, ReportRequest("shop", options=ReportOptions(funnel_steps=["view", "kart"]))
        )


def test_csv_neutralises_text_but_not_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "user_id": [FORMULA, "+1", "-2", "@x", "\tt", "\rr", "ok", None],
            "score": [-3.5, -1, 0, 1, 2, 3, 4, 5],
            "=col": ["a"] * 8,
        }
    )
    safe = neutralise_frame(frame)
    assert safe["user_id"].tolist()[:7] == [
        "'" + FORMULA, "'+1", "'-2", "'@x", "'\tt", "'\rr", "ok",
    ]  # fmt: skip
    assert safe["score"].tolist() == frame["score"].tolist()  # numeric dtype untouched
    assert list(safe.columns) == ["user_id", "score", "'=col"]
    out = tmp_path / "x.csv"
    written = write_csv_safe(frame, out)
    text = out.read_text(encoding="utf-8")
    assert written == len(text.encode("utf-8"))
    assert "\n" + FORMULA.replace('"', '""') not in text and ",-3.5," in text
    assert frame["user_id"].iloc[0] == FORMULA  # the caller's frame is not modified
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temp file


def test_write_report_csv_folder(workspace: Workspace, tmp_path: Path) -> None:
    summary = write_report(
        workspace, ReportRequest("shop", outputs=model_outputs()), tmp_path / "tables", "csv"
    )
    names = {Path(f).name for f in summary["files"]}
    assert {"summary.csv", "funnel.csv", "retention.csv", "anomalies.csv"} <= names
    anomalies = (tmp_path / "tables" / "anomalies.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in anomalies and summary["bytes"] > 0


def test_report_cli_prints_summary(workspace: Workspace, tmp_path: Path, capsys) -> None:
    from core.cli import main  # imported here: the CLI package loads every command module

    out = tmp_path / "r.html"
    argv = ["report", "--workspace", str(workspace.root), "--dataset", "shop"]
    assert main([*argv, "--out", str(out), "--funnel", "view,cart"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["out"] == str(out) and summary["bytes"] == out.stat().st_size
    assert summary["sections"] == ["summary", "behaviour"]
    assert "2. cart" in out.read_text(encoding="utf-8")
    assert main([*argv, "--out", str(out), "--funnel", "view,kart"]) == 2
    assert "unknown event type 'kart'" in capsys.readouterr().err


def test_run_report_lists_missing_sections_and_the_cli_says_how_to_produce_them(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = workspace.run_dir("r1")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "config.json", {})
    html = build_report(workspace, ReportRequest("shop", run="r1", sections=None))
    assert "Not in this report" in html and "<b>Segments</b>: not computed" in html
    assert "python -m core" not in html  # commands are for the CLI user, not the reader
    summary = write_report(workspace, ReportRequest("shop", run="r1"), tmp_path / "r.html")
    how = {item["section"]: item.get("how") for item in summary["not_in_report"]}
    assert how == {
        key: f"python -m core {command} --run r1"
        for key, command in (
            ("model", "evaluate"),
            ("segments", "segment"),
            ("anomalies", "anomalies"),
        )
    }


def test_wide_model_tables_show_curated_columns_in_a_scroll_box() -> None:
    from core.reports.sections import anomalies_section, segments_section

    wide = {f"feature_{i}": [0.5, 0.25] for i in range(25)}
    segments = pd.DataFrame(
        {"segment": [0, 1], "name": ["a", "b"], "size": [3, 1], "share": [0.75, 0.25], **wide}
    )
    body = segments_section(segments).body
    assert "feature_3" not in body and "Share" in body and "75.0%" in body
    anomalies = pd.DataFrame({"user_id": ["u1", "u2"], "score": [2.0, 1.0], "reason": ["x", "y"]})
    body = anomalies_section(anomalies.assign(**wide)).body
    assert "feature_0" not in body and "Why it stands out" in body
    assert '<div class="table-wrap">' in body  # the CSS gives it overflow-x: auto


def test_svg_ticks_are_round_and_labels_are_not_cut() -> None:
    from core.reports.svg import heatmap, line_chart, nice_ticks

    assert nice_ticks(1102) == [0, 500, 1000, 1500]
    assert nice_ticks(7) == [0, 2, 4, 6, 8] and nice_ticks(0) == [0.0, 1.0]
    chart = line_chart(
        ["2026-09-01", "2026-10-01", "2026-11-01"], {"remove_from_cart": [1, 2, 3]}, "t"
    )
    assert "remove_from_cart<" in chart  # legend names are not clipped
    assert (
        'text-anchor="end" font-family="system-ui, sans-serif" font-size="12" >2026-11-01' in chart
    )
    grid = heatmap(["2026-09-14 (1,234)"], ["0"], [[1.0]], "r")
    x = float(grid.split('text-anchor="end"')[0].rsplit('x="', 1)[1].split('"')[0])
    assert x - 7 * len("2026-09-14 (1,234)") >= 0  # the row label starts inside the chart


def test_tables_zip_holds_one_neutralised_csv_per_table(workspace: Workspace) -> None:
    import io
    import zipfile

    _, parts = build_report_parts(workspace, ReportRequest("shop", outputs=model_outputs()))
    data = tables_zip(parts["tables"])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == [f"{name}.csv" for name in parts["tables"]]
        anomalies = archive.read("anomalies.csv").decode("utf-8")
    assert "'=HYPERLINK" in anomalies and "\n=HYPERLINK" not in anomalies
    assert anomalies.encode("utf-8") == csv_bytes(parts["tables"]["anomalies"])


def test_sections_available_follow_the_run_files(workspace: Workspace) -> None:
    from core.reports.build import sections_available

    folder = workspace.run_dir("r1")
    atomic_write_json(folder / "config.json", {})
    assert sections_available(workspace, None) == ["summary", "behaviour"]
    assert sections_available(workspace, "r1") == ["summary", "behaviour"]
    atomic_write_json(folder / "metrics.json", {})
    model_outputs().anomalies.to_parquet(folder / "anomalies.parquet")
    assert sections_available(workspace, "r1") == ["summary", "behaviour", "model", "anomalies"]
