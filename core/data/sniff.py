"""Look at a source file before reading it: format, encoding, delimiter, header, column names.

Everything here works on the file's first few hundred kilobytes (plus one streaming pass for the
encoding check), so the dashboard can preview a multi-GB log instantly, and the real
read (DuckDB, in `core.data.reader`) gets explicit options instead of guessing again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data.textscan import TextScan, blocks, line_number, scan_text
from core.errors import InputError

FORMATS = ("auto", "csv", "parquet", "recbole", "sequences")
SAMPLE_BYTES = 256 * 1024  # how much of a text file the sniffers look at
SAMPLE_ROWS = 2000  # rows of the sample used for header / column-content detection
_DELIMITERS = (",", "\t", ";", "|", " ")  # candidates, in tie-break order
_PARQUET_MAGIC = b"PAR1"
# Compressed or archived files: read as text they are binary noise, and expanded they can be
# gigabytes (a "zip bomb"), so they are refused with the command that unpacks them.
_COMPRESSED = (
    (re.compile(rb"\x1f\x8b"), "gzip", "gunzip FILE"),
    (re.compile(rb"PK\x03\x04"), "zip", "unzip FILE"),
    (re.compile(rb"BZh[1-9]1AY&SY"), "bzip2", "bunzip2 FILE"),
    (re.compile(rb"\xfd7zXZ\x00"), "xz", "unxz FILE"),
    (re.compile(rb"\x28\xb5\x2f\xfd"), "zstd", "unzstd FILE"),
    (re.compile(rb"7z\xbc\xaf\x27\x1c"), "7-zip", "7z x FILE"),
)
MAX_SCANNED_LINE_BYTES = 64 << 20  # a longer line is not a log: refused (the CSV buffer holds it)
_CSV_SUFFIXES = (".csv", ".tsv")  # names trusted as delimited text, whatever the first lines
_FIELD_DELIMITERS = (",", ";", "|", "\t")  # one on every line: a delimited file, not pairs
_NOT_IN_IDS = ",;|:"  # a sequence-file id never holds these (':' is a clock time)
_DATE_SHAPE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$")  # 2024-01-01, 01/02/2024
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


@dataclass
class SourceInfo:
    """What we know about a source file: enough to read it with explicit options."""

    path: Path
    format: str  # csv | parquet | recbole | sequences
    encoding: str = "utf-8"  # utf-8 (BOM allowed) or latin-1
    delimiter: str = ","  # field separator of text formats
    has_header: bool = True  # whether line 1 holds column names
    columns: list[str] = field(default_factory=list)  # column names as used in SQL
    sample: list[list[str]] = field(default_factory=list)  # first data rows, as text
    sha256: str = ""  # hash of the whole file, filled by the ingest (`file_sha256`)
    bytes: int = 0  # file size
    files: list[Path] = field(default_factory=list)  # Parquet parts of a folder or glob, else []
    longest_line: int = 0  # bytes of the longest line of a text file (sizes the CSV buffer)
    types: dict[str, Any] = field(default_factory=dict)  # Parquet column -> arrow type


def is_number(text: str) -> bool:
    return bool(_NUMBER.match(text))


def check_encoding(path: Path, chunk: int = 8 << 20) -> str:
    """'utf-8' if the whole file decodes as UTF-8; 'mixed' if it is mostly UTF-8 with some lines
    that are not (those lines are rejected, counted); else 'latin-1' (one streaming pass).

    Latin-1 decodes any byte sequence, so it is the honest fallback for legacy exports.
    """
    return scan_text(path, chunk).encoding


def file_sha256(path: Path, stop: threading.Event | None = None, chunk: int = 8 << 20) -> str:
    """sha256 of the file, for the manifest. hashlib releases the GIL on large blocks, so the
    ingest runs this on a thread beside the read; `stop` set ends it early (result then unused).
    """
    digest = hashlib.sha256()
    for block in blocks(path, chunk):
        if stop is not None and stop.is_set():
            break
        digest.update(block)
    return digest.hexdigest()


def read_head_text(path: Path, encoding: str) -> str:
    """The first SAMPLE_BYTES of the file as text, cut at the last complete line."""
    with path.open("rb") as handle:
        raw = handle.read(SAMPLE_BYTES)
    if b"\x00" in raw:
        nul = raw.index(b"\x00")
        first_line = raw[: raw.find(b"\n")].decode("latin-1").rstrip("\r")
        text_before = b"\n" in raw[:nul] and first_line.isprintable()  # else: no line to name
        row = raw.count(b"\n", 0, nul) + 1 if text_before else None
        raise InputError(
            "looks like a binary file, not a text log (found a NUL byte)", file=path, row=row
        )
    codec = "latin-1" if encoding == "latin-1" else "utf-8"
    text = raw.decode(codec, errors="replace").lstrip("\ufeff")
    if len(raw) == SAMPLE_BYTES and "\n" in text:
        text = text[: text.rfind("\n") + 1]
    return text


def detect_format(path: Path, head: bytes) -> str:
    """Format from the extension first, then from the content (Parquet magic, typed header).

    A `.csv`/`.tsv` name is trusted: a headerless `u1;i1;view;2024-01-01 10:00:00` log splits on
    whitespace into two parts too, and reading it as `user item` pairs silently invents users and
    1970 timestamps. Only extension-less or `.txt`-like files are guessed from their lines.
    """
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq") or head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if suffix == ".inter":
        return "recbole"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if re.match(rb"^[^\n]*\w:(token|float|token_seq|float_seq)\b", head):
        return "recbole"
    lines = [line for line in head.decode("latin-1").splitlines()[:50] if line.strip()]
    return "sequences" if looks_like_sequences(lines) else "csv"


def looks_like_sequences(lines: list[str]) -> bool:
    """True for `user item` pair lines (beauty.txt: `1 2`): two whitespace-separated id tokens.

    A field delimiter present on every line (`,` `;` `|` tab) means a delimited file, and a token
    shaped like a date or a clock time means a split timestamp, not an id.
    """
    if not lines:
        return False
    if any(all(d in line for line in lines) for d in _FIELD_DELIMITERS):
        return False
    return all(
        len(parts := line.split()) == 2 and all(_is_id_token(p) for p in parts) for line in lines
    )


def _is_id_token(text: str) -> bool:
    return not any(c in text for c in _NOT_IN_IDS) and not _DATE_SHAPE.match(text)


def sniff_delimiter(lines: list[str]) -> str:
    """The candidate delimiter that splits the sample lines into the most consistent >= 2 fields."""
    best, best_score = ",", (-1.0, 0)
    for delimiter in _DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def parse_rows(text: str, delimiter: str, limit: int = SAMPLE_ROWS + 1) -> list[list[str]]:
    rows = []
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):  # \r, \r\n ok
        if row:
            rows.append(row)
        if len(rows) >= limit:
            break
    return rows


def looks_like_header(rows: list[list[str]], known_names: set[str]) -> bool:
    """Line 1 is a header if it names a known column, or is all text above numeric columns."""
    if not rows:
        return False
    first = rows[0]
    if any(normalise_name(value) in known_names for value in first):
        return True
    if len(rows) < 2 or any(is_number(value) or not value.strip() for value in first):
        return False
    body = rows[1:]
    for col in range(len(first)):
        values = [row[col] for row in body if col < len(row)]
        if values and sum(is_number(v) for v in values) >= 0.8 * len(values):
            return True
    return False


def normalise_name(name: str) -> str:
    """Column name for matching: lower case, RecBole type suffix dropped, separators as '_'."""
    base = name.strip().lstrip("\ufeff").split(":", 1)[0].lower()
    return re.sub(r"[^a-z0-9]+", "_", base).strip("_")


def sql_names(raw_names: list[str]) -> list[str]:
    """Unique, non-empty column names (RecBole ':type' suffixes dropped, blanks named column_N)."""
    names: list[str] = []
    for i, raw in enumerate(raw_names):
        name = raw.strip().lstrip("\ufeff")
        name = name.split(":", 1)[0] if ":" in name else name
        name = name or f"column{i + 1}"
        while name in names:
            name = f"{name}_{i + 1}"
        names.append(name)
    return names


def inspect_source(
    path: Path,
    fmt: str = "auto",
    delimiter: str | None = None,
    has_header: bool | None = None,
    columns: list[str] | None = None,
    known_names: set[str] | None = None,
) -> SourceInfo:
    """Describe a file (format, encoding, delimiter, header, names, sample) without reading it all.

    A folder, or a glob such as `events/*/*.parquet`, is a partitioned Parquet dataset (as Spark
    or DuckDB write it, hive `key=value` folders included): its parts are listed, not read.
    """
    if path.is_dir() or any(ch in str(path) for ch in "*?["):
        return _parquet_parts(path)
    if not path.is_file():
        raise InputError("file not found (check the path)", file=path)
    size = path.stat().st_size
    if size == 0:
        raise InputError("the file is empty; export the log with at least one data row", file=path)
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", file=path)
    _refuse_unreadable(path, head)
    chosen = detect_format(path, head) if fmt == "auto" else fmt
    if chosen == "parquet":
        return SourceInfo(path=path, format="parquet", bytes=size)
    scan = scan_text(path)
    text = read_head_text(path, scan.encoding)
    _refuse_long_line(path, scan)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError("the file has no non-blank lines", file=path)
    info = SourceInfo(path=path, format=chosen, encoding=scan.encoding, bytes=size,
                      longest_line=scan.longest_line)  # fmt: skip
    _fill_text_layout(info, text, lines, delimiter, has_header, columns, known_names or set())
    return info


def _refuse_unreadable(path: Path, head: bytes) -> None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text": NULs between chars
        raise InputError(
            "the file is UTF-16 encoded; save or convert it as UTF-8 (iconv -f UTF-16 -t UTF-8)",
            file=path,
        )
    for magic, kind, command in _COMPRESSED:
        if magic.match(head):
            raise InputError(
                f"this is a {kind}-compressed file; unpack it first ({command}) and ingest the "
                "log inside",
                file=path,
            )


def _refuse_long_line(path: Path, scan: TextScan) -> None:
    if scan.longest_line <= MAX_SCANNED_LINE_BYTES:
        return
    raise InputError(
        f"a line of {scan.longest_line / 2**20:,.0f} MB (a log line is under "
        f"{MAX_SCANNED_LINE_BYTES >> 20} MB): this is not a line-per-event text log",
        file=path,
        row=line_number(path, scan.longest_at),
    )


def _parquet_parts(path: Path) -> SourceInfo:
    """SourceInfo of a partitioned Parquet dataset: every part of the folder or glob."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _is_parquet_part(p))
    else:
        anchor = Path(path.anchor) if path.is_absolute() else Path(".")
        files = sorted(p for p in anchor.glob(str(path.relative_to(anchor))) if p.is_file())
    if not files:
        raise InputError("no Parquet files in this folder or pattern", file=path)
    return SourceInfo(path=path, format="parquet", bytes=sum(f.stat().st_size for f in files),
                      files=files)  # fmt: skip


def _is_parquet_part(path: Path) -> bool:
    """Data files of a dataset folder: not Spark's _SUCCESS/.crc markers or hidden files."""
    return not path.name.startswith(("_", ".")) and path.suffix.lower() in (".parquet", ".pq", "")


def source_sha256(source: SourceInfo, stop: threading.Event | None = None) -> str:
    """sha256 of the source: the file's, or of its parts' names and hashes, in order."""
    if not source.files:
        return file_sha256(source.path, stop)
    digest = hashlib.sha256()
    for part in source.files:
        digest.update(f"{part.name}\x00{file_sha256(part, stop)}\x00".encode())
    return digest.hexdigest()


def _fill_text_layout(
    info: SourceInfo,
    text: str,
    lines: list[str],
    delimiter: str | None,
    has_header: bool | None,
    columns: list[str] | None,
    known_names: set[str],
) -> None:
    if info.format == "sequences":
        info.delimiter = delimiter or " "
        info.has_header = False if has_header is None else has_header
    elif info.format == "recbole":
        info.delimiter = delimiter or "\t"
        info.has_header = True if has_header is None else has_header
    else:
        info.delimiter = delimiter or sniff_delimiter(lines[:200])
    if info.format == "sequences" and info.delimiter == " ":
        rows = [line.split() for line in lines[: SAMPLE_ROWS + 1]]
    else:
        rows = parse_rows(text, info.delimiter)
    if info.format == "csv" and has_header is None:
        info.has_header = looks_like_header(rows, known_names)
    elif info.format == "csv":
        info.has_header = has_header
    width = max((len(row) for row in rows[:50]), default=0)
    if columns:
        info.columns = sql_names(columns)
    elif info.has_header:
        info.columns = sql_names(rows[0])
    elif info.format == "sequences":
        info.columns = ["user", "item"][:width] + [f"column{i + 1}" for i in range(2, width)]
    else:
        info.columns = [f"column{i + 1}" for i in range(width)]
    info.sample = rows[1:] if info.has_header else rows[:SAMPLE_ROWS]
