"""Read a source file once, streaming, into integer columns: per role, int32 codes into the role's
distinct cleaned tokens, plus int64 event times (ms) and the file line of every row.

DuckDB does the parsing (CSV with explicit options from `core.data.sniff`, or Parquet), vectorised
and in parallel: every role column is read as VARCHAR so malformed values cannot abort the scan,
times are parsed in SQL (`core.data.timeparse`), and rows DuckDB could not split (ragged rows,
unterminated quotes) land in its `reject_errors` table, from which we count them and recover exact
line numbers for the rows we keep. The scan is consumed as Arrow record batches, and strings are
turned into codes batch group by batch group (`core.data.intern`), so the raw text of the file is
never held in memory at once. Row validation (missing user, bad time) happens in `core.data.build`.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.data.intern import CleanColumn, Interner, clean_dictionary
from core.data.limits import IngestLimits, exceeded
from core.data.mapping import ROLES, ColumnMapping
from core.data.sniff import SourceInfo
from core.data.timeparse import detect_layout, text_time_to_ms, time_to_ms
from core.errors import InputError

MAX_REJECT_EXAMPLES = 5  # how many rejected rows the manifest and the CLI describe
BATCH_ROWS = 1 << 17  # rows per Arrow batch asked of DuckDB (larger: more memory, no faster)
GROUP_ROWS = 1 << 20  # rows interned per call; grown to 2x the largest dictionary (Interner)
MAX_LINE_BYTES = 1 << 20  # longer lines are rejected; the CSV buffer is 4 lines (default 16: RSS)
NO_TIME = np.iinfo(np.int64).min  # event time of a row whose time is missing or unparseable
TEXT_ROLES = tuple(role for role in ROLES if role != "time")  # user, event, item, session, category


@dataclass
class LineNumbers:
    """Row position (0-based, in file order) -> 1-based line number in the file (header counted).

    Without rejects, kept row k (1-based) is line k + header. With rejects on data lines p_1 < p_2
    < ..., kept row k sits after reject j iff k > p_j - j, so its line is k + #{j : p_j - j < k}
    + header. A quoted field spanning several lines counts as one line. Parquet rows carry their
    row number instead.
    """

    header: int = 0  # 1 when line 1 is a header
    kept_before: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # p_j - j
    explicit: np.ndarray | None = None  # (N,) int64 row numbers (Parquet)

    def of(self, positions: np.ndarray) -> np.ndarray:
        if self.explicit is not None:
            return self.explicit[positions]
        k = positions.astype(np.int64) + 1
        if len(self.kept_before):
            k += np.searchsorted(self.kept_before, k, side="left")
        return k + self.header


@dataclass
class ReadResult:
    """Every row the reader could split, as integer columns, plus the rows it could not."""

    rows: int  # rows read (valid or not)
    columns: dict[str, CleanColumn]  # role -> codes + tokens, for the mapped text roles
    ts: np.ndarray  # (rows,) int64 ms since the epoch, UTC; NO_TIME where missing
    lines: LineNumbers  # file line of each row
    has_events: bool = True  # the file has an event-type column (else every row is "event")
    parse_rejects: int = 0  # lines rejected by the CSV reader
    examples: list[dict[str, object]] = field(default_factory=list)  # {"row","column","reason"}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceInfo,
    mapping: ColumnMapping,
    limits: IngestLimits | None = None,
) -> ReadResult:
    """Read the whole source; raises InputError when DuckDB cannot read it at all, or when it
    breaks a limit on rows or distinct items (checked as it streams)."""
    bounds = limits or IngestLimits()
    try:
        if source.format == "parquet":
            read = _read_parquet(con, source, mapping, bounds)
        else:
            read = _read_text(con, source, mapping, bounds)
        _check_items(source, mapping, read, bounds)
        return read
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"could not read the file ({first})", file=source.path) from error


def _check_items(
    source: SourceInfo, mapping: ColumnMapping, read: ReadResult, limits: IngestLimits
) -> None:
    items = len(read.columns["item"].tokens)
    if mapping.item is not None and limits.max_items and items > limits.max_items:
        found = f"the {mapping.item!r} column holds {items:,} distinct item ids"
        raise exceeded("max_items", found, limits.max_items, source.path)


def _time_sql(con: duckdb.DuckDBPyConnection, source: SourceInfo, column: str, kind: str) -> str:
    """The time column as BIGINT ms: a layout detected on the sample first for text columns."""
    if not kind.upper().startswith("VARCHAR"):
        return time_to_ms(quote_ident(column), kind)
    index = source.columns.index(column) if column in source.columns else -1
    values = [row[index] for row in source.sample if 0 <= index < len(row)]
    return text_time_to_ms(quote_ident(column), detect_layout(con, values))


def _select(
    con: duckdb.DuckDBPyConnection,
    source: SourceInfo,
    mapping: ColumnMapping,
    types: dict[str, str],
) -> str:
    """SELECT list: raw role columns as text (cleaned later, per distinct value) and ts_ms."""
    parts = [
        f"CAST({quote_ident(getattr(mapping, role))} AS VARCHAR) AS {role}"
        for role in TEXT_ROLES
        if getattr(mapping, role) is not None
    ]
    if mapping.time is not None:
        time = _time_sql(con, source, mapping.time, types.get(mapping.time, "VARCHAR"))
        parts.append(f"{time} AS ts_ms")
    return ", ".join(parts)


def _read_parquet(
    con: duckdb.DuckDBPyConnection, source: SourceInfo, mapping: ColumnMapping, limits: IngestLimits
) -> ReadResult:
    scan = parquet_scan(source)
    types = {
        row[0]: str(row[1]) for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    }
    select = _select(con, source, mapping, types)
    if source.files:  # several parts: the row's position in the whole scan is its number
        return _stream(con, f"SELECT {select} FROM {scan}", mapping, source, limits)
    query = f"SELECT {select}, file_row_number + 1 AS src_row FROM {scan}"
    return _stream(con, query, mapping, source, limits)


def parquet_scan(source: SourceInfo, row_numbers: bool = True) -> str:
    """read_parquet(...) of one file (with its row numbers), or of a dataset's parts with hive
    partition columns; DuckDB streams either, so memory grows with a batch, not the dataset."""
    if source.files:
        parts = ", ".join(quote_str(str(part)) for part in source.files)
        return f"read_parquet([{parts}], hive_partitioning = true, union_by_name = true)"
    numbers = ", file_row_number = true" if row_numbers else ""
    return f"read_parquet({quote_str(str(source.path))}{numbers})"


def read_item_attributes(
    con: duckdb.DuckDBPyConnection, source: SourceInfo, item: str, attributes: list[str]
) -> pa.Table:
    """One row per item id with the first non-blank value of each attribute column of the log
    (a second, grouped scan: memory grows with the catalogue, not with the log)."""
    scan = (
        parquet_scan(source, row_numbers=False) if source.format == "parquet" else _csv_scan(source)
    )
    key = f"trim(CAST({quote_ident(item)} AS VARCHAR))"
    values = ", ".join(
        f"any_value(nullif(trim(CAST({quote_ident(a)} AS VARCHAR)), '')) AS {quote_ident(a)}"
        for a in attributes
    )
    query = f"SELECT {key} AS item, {values} FROM {scan} WHERE {key} <> '' GROUP BY 1"
    try:
        return con.sql(query).to_arrow_table()
    except duckdb.Error as error:
        raise InputError(f"could not read item attributes ({error})", file=source.path) from error


def _csv_scan(source: SourceInfo) -> str:
    columns = ", ".join(f"{quote_str(c)}: 'VARCHAR'" for c in source.columns)
    encoding = "latin-1" if source.encoding == "latin-1" else "utf-8"  # mixed: rejects the rest
    # DuckDB drops a line longer than its buffer without a trace (1.x/2.0): the buffer always
    # holds the longest line, so an over-long one is rejected and counted like any bad row.
    buffer = max(4 * MAX_LINE_BYTES, source.longest_line + 2 * MAX_LINE_BYTES)
    return (
        f"read_csv({quote_str(str(source.path))}, delim = {quote_str(source.delimiter)}, "
        f"header = {str(source.has_header).lower()}, quote = '\"', escape = '\"', "
        f"columns = {{{columns}}}, auto_detect = false, null_padding = false, "
        f"ignore_errors = true, store_rejects = true, encoding = {quote_str(encoding)}, "
        f"max_line_size = {MAX_LINE_BYTES}, buffer_size = {buffer})"
    )


def _read_text(
    con: duckdb.DuckDBPyConnection, source: SourceInfo, mapping: ColumnMapping, limits: IngestLimits
) -> ReadResult:
    select = _select(con, source, mapping, {})
    result = _stream(con, f"SELECT {select} FROM {_csv_scan(source)}", mapping, source, limits)
    result.parse_rejects, result.examples, kept_before = _collect_rejects(con, source.has_header)
    result.lines = LineNumbers(header=1 if source.has_header else 0, kept_before=kept_before)
    if mapping.time is None:  # sequence files: one second per line keeps the file order
        result.ts = result.lines.of(np.arange(result.rows)) * 1000
    return result


def _stream(
    con: duckdb.DuckDBPyConnection,
    query: str,
    mapping: ColumnMapping,
    source: SourceInfo,
    limits: IngestLimits,
) -> ReadResult:
    """Run the scan in file order; its batches are interned group by group on a worker thread.

    The row limit stops the scan as soon as it is passed; the item limit is checked per group
    at twice its value (raw ids may merge when trimmed; `_check_items` is exact), so neither an
    endless file nor a unique id per row is held in memory before it is refused.
    """
    roles = [role for role in TEXT_ROLES if getattr(mapping, role) is not None]
    collector = _Collector(roles)
    # File order must survive the parallel scan: it is the tie-break for equal timestamps.
    con.execute("SET preserve_insertion_order = true")
    try:
        for batch in con.sql(query).to_arrow_reader(BATCH_ROWS):
            collector.add(batch)
            _check_streaming(collector, mapping, source, limits)
    finally:
        collector.finish()
    con.execute("SET preserve_insertion_order = false")
    count = sum(len(part) for part in collector.times) or collector.count
    columns = {
        role: _clean(con, role, collector.interners[role], collector.codes[role]) for role in roles
    }
    has_events = "event" in columns
    if not has_events:  # no event column: every row is of type "event"
        columns["event"] = CleanColumn(np.zeros(count, np.int8), pa.array(["event"], pa.string()))
    if "item" not in columns:  # no item column: the event name is the token the model reads
        event = columns["event"]
        columns["item"] = CleanColumn(event.codes.copy(), event.tokens)
    explicit = _concat(collector.rows, np.int64) if collector.rows else None
    return ReadResult(
        rows=count,
        columns=columns,
        ts=_concat(collector.times, np.int64),
        lines=LineNumbers(explicit=explicit),
        has_events=has_events,
    )


def _check_streaming(
    collector: _Collector, mapping: ColumnMapping, source: SourceInfo, limits: IngestLimits
) -> None:
    if limits.max_rows and collector.count > limits.max_rows:
        found = f"the file holds more than {limits.max_rows:,} rows"
        raise exceeded("max_rows", found, limits.max_rows, source.path)
    items = collector.interners.get("item")
    if items is not None and limits.max_items and len(items.dictionary) > 2 * limits.max_items:
        found = (
            f"the {mapping.item!r} column holds over {len(items.dictionary):,} distinct item ids"
        )
        raise exceeded("max_items", found, limits.max_items, source.path)


class _Collector:
    """Arrow batches -> per-role code parts, time parts and row-number parts, in file order.

    Batches are grouped (GROUP_ROWS, or twice the largest dictionary so that re-hashing it stays
    cheap) and each group is interned on one worker thread while the main thread keeps pulling
    the next batches from DuckDB; arrow's hash kernels release the GIL, so the two overlap. At
    most one group is in flight, which bounds the raw text held in memory to about two groups.
    """

    def __init__(self, roles: list[str]) -> None:
        self.interners = {role: Interner() for role in roles}
        self.codes: dict[str, list[np.ndarray]] = {role: [] for role in roles}
        self.times: list[np.ndarray] = []  # int64 ms per batch
        self.rows: list[np.ndarray] = []  # int64 row numbers per batch (Parquet only)
        self.count = 0  # rows seen
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intern")
        self._job: Future[None] | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.count += batch.num_rows
        largest = max((len(i.dictionary) for i in self.interners.values()), default=0)
        if self._pending_rows >= max(GROUP_ROWS, 2 * largest):
            self._submit()

    def finish(self) -> None:
        """Intern what is left and wait; re-raises an error of the worker."""
        try:
            self._submit()
            if self._job is not None:
                self._job.result()
        finally:
            self._pool.shutdown(wait=True)

    def _submit(self) -> None:
        if self._job is not None:
            self._job.result()
        group, self._pending, self._pending_rows = self._pending, [], 0
        self._job = self._pool.submit(self._intern, group) if group else None

    def _intern(self, group: list[pa.RecordBatch]) -> None:
        for role, interner in self.interners.items():
            self.codes[role].append(interner.add([b.column(role) for b in group]))
        names = group[0].schema.names
        for batch in group:
            if "ts_ms" in names:
                # copies: a view would keep DuckDB's whole exported batch (all its text) alive
                times = pc.fill_null(batch.column("ts_ms"), NO_TIME)
                self.times.append(np.array(times.to_numpy(), dtype=np.int64))
            if "src_row" in names:
                self.rows.append(np.array(batch.column("src_row").to_numpy(), dtype=np.int64))


def _concat(parts: list[np.ndarray], dtype: type, remap: np.ndarray | None = None) -> np.ndarray:
    """One array from `parts` (emptied as it goes, so the peak is the result plus one part),
    optionally mapped through `remap`."""
    out = np.empty(sum(len(part) for part in parts), dtype=dtype)
    at = 0
    while parts:
        part = parts.pop(0)
        out[at : at + len(part)] = part if remap is None else remap[part]
        at += len(part)
    return out


def _clean(
    con: duckdb.DuckDBPyConnection, role: str, interner: Interner, parts: list[np.ndarray]
) -> CleanColumn:
    """Raw codes -> cleaned codes: trimmed, blank = missing (a blank event type is filled in by
    `core.data.build.validate_rows`, after it has seen which rows have neither item nor event)."""
    remap, tokens = clean_dictionary(con, interner.dictionary)
    dtype = next(t for t in (np.int8, np.int16, np.int32) if len(tokens) < np.iinfo(t).max)
    if len(remap) == len(tokens) and np.array_equal(remap, np.arange(len(remap))):
        remap = None  # nothing to clean (the usual case): a copy instead of a gather per row
    return CleanColumn(codes=_concat(parts, dtype, remap), tokens=tokens)  # event types: 1 byte


def _collect_rejects(
    con: duckdb.DuckDBPyConnection, has_header: bool
) -> tuple[int, list[dict[str, object]], np.ndarray]:
    """(count, first examples, p_j - j per reject) from DuckDB's reject_errors table."""
    count = con.execute("SELECT count(DISTINCT line) FROM reject_errors").fetchone()
    examples = con.execute(
        "SELECT line, any_value(column_name), any_value(error_type), any_value(error_message) "
        f"FROM reject_errors GROUP BY line ORDER BY line LIMIT {MAX_REJECT_EXAMPLES}"
    ).fetchall()
    lines = con.execute("SELECT DISTINCT line FROM reject_errors ORDER BY line").fetchnumpy()
    header = 1 if has_header else 0
    rejected = np.asarray(lines["line"], dtype=np.int64)
    kept_before = rejected - header - np.arange(1, len(rejected) + 1, dtype=np.int64)
    return (
        int(count[0]) if count else 0,
        [
            {"row": int(line), "column": column, "reason": _reject_text(str(kind), str(message))}
            for line, column, kind, message in examples
        ],
        kept_before,
    )


def _reject_text(kind: str, message: str) -> str:
    """DuckDB's reason for a rejected line, in our words where its own mislead."""
    if kind == "INVALID ENCODING":  # DuckDB says "this file is not utf-8": only the line is not
        return "not UTF-8 like the rest of the file (a line in another encoding, e.g. Latin-1)"
    return f"{kind.lower()}: {message}"
