"""Read a source file into one DuckDB table `staged` with the mapped roles and file line numbers.

The read uses explicit options from `core.data.sniff` (no second guessing by DuckDB), casts every
text column to VARCHAR so malformed values cannot abort the scan, and records rows DuckDB could not
split (ragged rows, unterminated quotes) in its `reject_errors` table, from which we count them and
recover exact line numbers for the rows we keep.

`staged` columns: src_row, user_id, ts_ms (NULL when unparseable), event, item, session_key,
category. Row validation (missing user, bad time) happens in `core.data.build`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from core.data.mapping import ColumnMapping
from core.data.sniff import SourceInfo
from core.data.timeparse import time_to_ms
from core.errors import InputError

MAX_REJECT_EXAMPLES = 5  # how many rejected rows the manifest and the CLI describe


@dataclass
class ReadResult:
    """Rows DuckDB could not even split into fields (counted per line, with first examples)."""

    parse_rejects: int = 0  # lines rejected by the CSV reader
    examples: list[dict[str, object]] = field(default_factory=list)  # {"row","column","reason"}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text(column: str | None, default: str = "NULL") -> str:
    """SQL for a role column as trimmed text, '' treated as missing."""
    if column is None:
        return default
    return f"nullif(trim(CAST({quote_ident(column)} AS VARCHAR)), '')"


def _projection(mapping: ColumnMapping, types: dict[str, str], line_order_time: bool) -> str:
    if line_order_time:
        ts = "NULL::BIGINT"  # filled from the line number once src_row is known
    else:
        ts = time_to_ms(quote_ident(mapping.time or ""), types.get(mapping.time or "", "VARCHAR"))
    return ", ".join(
        [
            f"{_text(mapping.user)} AS user_id",
            f"{ts} AS ts_ms",
            f"coalesce({_text(mapping.event)}, 'event') AS event",
            f"{_text(mapping.item)} AS item",
            f"{_text(mapping.session)} AS session_key",
            f"{_text(mapping.category)} AS category",
        ]
    )


def read_source(
    con: duckdb.DuckDBPyConnection, source: SourceInfo, mapping: ColumnMapping
) -> ReadResult:
    """Create table `staged` from the source; raises InputError when DuckDB cannot read it at all."""
    try:
        if source.format == "parquet":
            return _read_parquet(con, source, mapping)
        return _read_text(con, source, mapping)
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"could not read the file ({first})", file=source.path) from error


def _read_parquet(
    con: duckdb.DuckDBPyConnection, source: SourceInfo, mapping: ColumnMapping
) -> ReadResult:
    scan = f"read_parquet({quote_str(str(source.path))}, file_row_number = true)"
    types = {
        row[0]: str(row[1]) for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    }
    projection = _projection(mapping, types, line_order_time=False)
    con.execute(
        f"CREATE TABLE scanned AS SELECT file_row_number + 1 AS src_row, {projection} FROM {scan}"
    )
    con.execute("CREATE VIEW staged AS SELECT * FROM scanned")
    return ReadResult()


def release_staged(con: duckdb.DuckDBPyConnection) -> None:
    """Free the raw rows once `ok` holds the valid ones."""
    con.execute("DROP VIEW staged")
    con.execute("DROP TABLE scanned")


def _csv_scan(source: SourceInfo) -> str:
    columns = ", ".join(f"{quote_str(c)}: 'VARCHAR'" for c in source.columns)
    encoding = "latin-1" if source.encoding == "latin-1" else "utf-8"
    return (
        f"read_csv({quote_str(str(source.path))}, delim = {quote_str(source.delimiter)}, "
        f"header = {str(source.has_header).lower()}, quote = '\"', escape = '\"', "
        f"columns = {{{columns}}}, auto_detect = false, null_padding = false, "
        f"ignore_errors = true, store_rejects = true, encoding = {quote_str(encoding)}, "
        "max_line_size = 1048576)"
    )


def _read_text(
    con: duckdb.DuckDBPyConnection, source: SourceInfo, mapping: ColumnMapping
) -> ReadResult:
    line_order_time = source.format == "sequences" and mapping.time is None
    projection = _projection(mapping, {}, line_order_time)
    # File order must survive the parallel scan: it is the tie-break for equal timestamps.
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"CREATE TABLE scanned AS SELECT {projection} FROM {_csv_scan(source)}")
    con.execute("SET preserve_insertion_order = false")
    result = _collect_rejects(con)
    header = 1 if source.has_header else 0
    _number_lines(con, header, result.parse_rejects > 0, line_order_time)
    return result


def _collect_rejects(con: duckdb.DuckDBPyConnection) -> ReadResult:
    count = con.execute("SELECT count(DISTINCT line) FROM reject_errors").fetchone()
    examples = con.execute(
        "SELECT line, any_value(column_name), any_value(error_type), any_value(error_message) "
        f"FROM reject_errors GROUP BY line ORDER BY line LIMIT {MAX_REJECT_EXAMPLES}"
    ).fetchall()
    return ReadResult(
        parse_rejects=int(count[0]) if count else 0,
        examples=[
            {"row": int(line), "column": column, "reason": f"{str(kind).lower()}: {message}"}
            for line, column, kind, message in examples
        ],
    )


def _number_lines(
    con: duckdb.DuckDBPyConnection, header: int, has_rejects: bool, line_order_time: bool
) -> None:
    """View `staged` = `scanned` + src_row, the 1-based line number (header counted).

    Without rejects, kept row k (1-based) is line k + header. With rejects on data lines p_1 < p_2
    < ..., kept row k sits after reject j iff k > p_j - j, so its line is k + #{j : p_j - j < k}
    + header: an ASOF join on the running reject count. A quoted field spanning several lines
    counts as one line. Sequence files without time get ts = line number seconds (order kept).
    """
    ts = "src_row * 1000 AS ts_ms" if line_order_time else "ts_ms"
    columns = f"src_row, user_id, {ts}, event, item, session_key, category"
    if not has_rejects:
        numbered = f"SELECT rowid + 1 + {header} AS src_row, * FROM scanned"
    else:
        con.execute(
            "CREATE TABLE reject_shift AS SELECT kept_before, max(shift) AS shift FROM ("
            f"SELECT line - {header} - row_number() OVER (ORDER BY line) AS kept_before, "
            "row_number() OVER (ORDER BY line) AS shift "
            "FROM (SELECT DISTINCT line FROM reject_errors)) GROUP BY kept_before"
        )
        numbered = (
            f"SELECT s.k + coalesce(r.shift, 0) + {header} AS src_row, s.* EXCLUDE (k) "
            "FROM (SELECT rowid + 1 AS k, * FROM scanned) s "
            "ASOF LEFT JOIN reject_shift r ON s.k > r.kept_before"
        )
    con.execute(f"CREATE VIEW staged AS SELECT {columns} FROM ({numbered})")
