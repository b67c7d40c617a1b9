"""CSV export that a spreadsheet cannot turn into a formula (CSV/formula injection, OWASP).

A cell starting with = + - @ TAB or CR may be executed by Excel or LibreOffice when the file is
opened, so such text cells get a leading single quote. Only text is touched: a negative number
stored with a numeric dtype is data, and stays `-3`. Column names are user strings too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from core.workspace import atomic_write_bytes

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # first characters a spreadsheet may execute


def neutralise_cell(value: Any) -> Any:
    """Prefix a quote to a text value that a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell (and column name) neutralised; numeric columns untouched."""
    safe = frame.copy()
    for column in safe.columns:
        series = safe[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
            continue
        safe[column] = series.map(neutralise_cell, na_action="ignore")
    safe.columns = [neutralise_cell(str(column)) for column in safe.columns]
    return safe


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV (no index, "\\n" line ends), neutralised."""
    return neutralise_frame(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_csv_safe(frame: pd.DataFrame, path: str | Path) -> int:
    """Write `frame` as UTF-8 CSV (no index), neutralised, atomically; return the bytes written."""
    data = csv_bytes(frame)
    atomic_write_bytes(Path(path), data)
    return len(data)
