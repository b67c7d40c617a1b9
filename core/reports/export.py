"""Write a report to disk: one HTML file, the same report as PDF, or a folder of CSV tables;
or the tables as one zip of CSV files (`tables_zip`, the dashboard's download).

The PDF is the HTML report printed by headless Chromium (core.reports.pdf), so both hold the
same content; the engine is looked up before the report is built, so a missing one fails fast.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.errors import BehaviorLensError
from core.progress import ProgressCallback
from core.reports import FORMATS
from core.reports.build import build_report_parts
from core.reports.csv_safe import csv_bytes, write_csv_safe
from core.reports.pdf import find_chromium, write_pdf
from core.reports.request import ReportRequest
from core.workspace import Workspace, atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

Format = Literal["html", "pdf", "csv"]  # one of FORMATS


def write_report(
    workspace: Workspace,
    request: ReportRequest,
    out: str | Path,
    format: Format = "html",
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Build and write the report `request` asks for; return {"out", "bytes", "sections", "not_in_report",
    "files"}. `not_in_report` lists each left-out part with its reason and, where a command
    produces it, that command ("how").

    html, pdf: `out` is the file. csv: `out` is a folder receiving one CSV per table.
    """
    if format not in FORMATS:
        raise BehaviorLensError(f"report format must be one of {FORMATS}, got {format!r}")
    out = Path(out)
    if format == "csv" and out.exists() and not out.is_dir():
        raise BehaviorLensError(f"{out}: --format csv writes a folder of tables; give a folder")
    engine = find_chromium() if format == "pdf" else None  # before minutes of building
    html, parts = build_report_parts(workspace, request, on_progress)
    summary = {
        "out": str(out),
        "sections": parts["sections"],
        "not_in_report": [omission.as_dict() for omission in parts["omitted"]],
    }
    if format == "html":
        atomic_write_text(out, html)
        return summary | {"bytes": out.stat().st_size}
    if format == "pdf":
        return summary | {"bytes": write_pdf(html, out, engine)}
    files, total = [], 0
    for name, table in parts["tables"].items():
        path = out / f"{name}.csv"
        total += write_csv_safe(table, path)
        files.append(str(path))
    return summary | {"bytes": total, "files": files}


def tables_zip(tables: dict[str, pd.DataFrame]) -> bytes:
    """The report's tables as one zip holding NAME.csv per table, each written as
    `write_csv_safe` writes it (neutralised cells, UTF-8, no index)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, table in tables.items():
            archive.writestr(f"{name}.csv", csv_bytes(table))
    return buffer.getvalue()
