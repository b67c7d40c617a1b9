"""The report's HTML: one self-contained document (inline CSS, inline SVG, no script, no links out).

Everything that came from the user's data (ids, event names, segment names, column names)
reaches the page only through `esc` or `table_html`, which escape it: a user id like
`<script>alert(1)</script>` must show as text, never run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from numbers import Number
from typing import Any

import pandas as pd

from core.analysis.view_notes import format_probability

MAX_TABLE_ROWS = 200  # rows shown per table; the CSV export has them all

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;color:#1f2937;margin:0;
background:#f3f4f6;line-height:1.4}
main{max-width:820px;margin:0 auto;padding:28px 24px}
h1{font-size:26px;margin:0 0 4px}p.meta{color:#6b7280;font-size:13px;margin:0 0 16px}
section,nav{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:4px 24px 18px;
margin:0 0 18px;box-shadow:0 1px 2px rgba(0,0,0,.04)}
h2{font-size:19px;margin:18px 0 10px;padding-bottom:6px;border-bottom:1px solid #e5e7eb}
h3{font-size:15px;margin:22px 0 6px;color:#374151}p.note{color:#6b7280;font-size:13px}p.warning{color:#92400e;background:#fef3c7;padding:8px 12px;border-radius:6px}
div.table-wrap{overflow-x:auto;max-width:100%;margin:8px 0}
table{border-collapse:collapse;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f9fafb;color:#374151;font-weight:600;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
nav{padding:12px 24px}nav ol{font-size:14px;margin:0;padding-left:20px;columns:2}
svg{display:block;margin:8px 0;max-width:100%;height:auto}
aside.omitted{background:#f9fafb;border:1px solid #e5e7eb;border-left:4px solid #9ca3af;
border-radius:6px;padding:6px 18px;margin:0 0 18px;font-size:13px}
aside.omitted h2{font-size:15px;margin:6px 0;padding:0;border:0}
aside.omitted ul{margin:4px 0;padding-left:18px}
""".strip()
# Print (and PDF, core.reports.pdf): A4, page numbers, no scroll boxes (a scrolled-off column
# would be lost on paper), headings kept with what follows, charts and table rows never cut.
PRINT_CSS = """
@page{size:A4;margin:15mm 14mm 17mm;
@bottom-right{content:"Page " counter(page) " of " counter(pages);font:9pt system-ui,sans-serif;
color:#6b7280}}
@media print{body{background:#fff;font-size:11pt;-webkit-print-color-adjust:exact;
print-color-adjust:exact}
main{max-width:none;padding:0}section,nav{border:0;box-shadow:none;padding:0 0 4mm;margin:0}
h2,h3{break-after:avoid}h1{font-size:20pt}h2{font-size:15pt}h3{font-size:12pt}
svg,tr,p.note,p.warning,aside.omitted,nav{break-inside:avoid}
div.table-wrap{overflow:visible;break-inside:avoid}
table{width:100%;font-size:9pt}thead{display:table-header-group}
th{white-space:normal}td{overflow-wrap:break-word}nav a{color:inherit;text-decoration:none}}
""".strip()


@dataclass(frozen=True)
class Section:
    """One report section: `key` names it in the CLI summary and the anchor; `body` is HTML."""

    key: str  # stable id, e.g. "summary", "behaviour", "model", "segments", "anomalies"
    title: str  # heading shown in the report and the table of contents
    body: str  # trusted HTML built by the section builders (user strings already escaped)


def esc(value: Any) -> str:
    """Escape any value for HTML text or attribute context (quotes included)."""
    return escape(format_value(value), quote=True)


def format_value(value: Any) -> str:
    """A cell as people read it: thousands separators, 3 significant digits, ISO dates."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Number):
        number = float(value)  # type: ignore[arg-type]
        if number.is_integer() and abs(number) < 1e15:
            return f"{int(number):,}"
        return f"{number:,.4g}"
    if isinstance(value, list | tuple):
        return " → ".join(format_value(v) for v in value)
    return str(value)


def table_html(frame: pd.DataFrame, max_rows: int = MAX_TABLE_ROWS, percent: tuple = ()) -> str:
    """An escaped HTML table of the first `max_rows` rows; columns in `percent` shown as %."""
    head = "".join(f"<th>{esc(column)}</th>" for column in frame.columns)
    rows = []
    for record in frame.head(max_rows).itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            numeric = isinstance(value, Number) and not isinstance(value, bool)
            text = _percent(value) if column in percent else esc(value)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if len(frame) > max_rows:
        more = f'<p class="note">Showing {max_rows:,} of {len(frame):,} rows.</p>'
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="table-wrap">{table}</div>{more}'  # wide tables scroll in their card


def _percent(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format_probability(float(value))  # "0.42%", never "0.0%" for a small share


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def omitted_html(omitted: Sequence[tuple[str, str]]) -> str:
    """The "Not in this report" box: one line per (part title, reason in analyst words)."""
    if not omitted:
        return ""
    items = "".join(f"<li><b>{esc(title)}</b>: {esc(reason)}</li>" for title, reason in omitted)
    return f'<aside class="omitted"><h2>Not in this report</h2><ul>{items}</ul></aside>'


def render_document(
    title: str, meta: str, sections: list[Section], omitted: Sequence[tuple[str, str]] = ()
) -> str:
    """The whole page: title, a table of contents, what was left out, then each section."""
    toc = "".join(f'<li><a href="#{esc(s.key)}">{esc(s.title)}</a></li>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.key)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}\n{PRINT_CSS}</style></head>"
        f'<body><main><h1>{esc(title)}</h1><p class="meta">{esc(meta)}</p>'
        f"<nav><ol>{toc}</ol></nav>{omitted_html(omitted)}{body}</main></body></html>\n"
    )
