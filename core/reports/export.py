"""Write a report to disk: one HTML file, or a folder of CSV tables (`--format csv`).

PDF is not offered: no well-kept library here renders HTML to PDF offline without a browser
or heavy native dependencies; the HTML report prints to PDF from any browser (print CSS included).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from core.errors import BehaviorLensError
from core.progress import ProgressCallback
from core.reports.build import ModelOutputs, ReportOptions, build_report_parts
from core.reports.csv_safe import write_csv_safe
from core.workspace import Workspace, atomic_write_text

Format = Literal["html", "csv"]
FORMATS = ("html", "csv")


def write_report(
    workspace: Workspace,
    dataset: str,
    out: str | Path,
    format: Format = "html",
    run: str | None = None,
    sections: Sequence[str] | None = None,
    segment_filter: str | None = None,
    options: ReportOptions | None = None,
    outputs: ModelOutputs | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Build and write the report; return {"out", "bytes", "sections", "files"}.

    html: `out` is the file. csv: `out` is a folder receiving one CSV per table.
    """
    if format not in FORMATS:
        raise BehaviorLensError(f"report format must be one of {FORMATS}, got {format!r}")
    html, parts = build_report_parts(
        workspace, dataset, run, sections, segment_filter, options, outputs, on_progress
    )
    out = Path(out)
    if format == "html":
        atomic_write_text(out, html)
        return {"out": str(out), "bytes": out.stat().st_size, "sections": parts["sections"]}
    if out.exists() and not out.is_dir():
        raise BehaviorLensError(f"{out}: --format csv writes a folder of tables; give a folder")
    files, total = [], 0
    for name, table in parts["tables"].items():
        path = out / f"{name}.csv"
        total += write_csv_safe(table, path)
        files.append(str(path))
    return {"out": str(out), "bytes": total, "sections": parts["sections"], "files": files}
