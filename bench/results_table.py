"""Where benchmark figures go in bench/RESULTS.md: one table of runs per section, newest first.

Every writer goes through `record_rows` (new runs as rows at the top of the section's table whose
header is exactly the writer's columns) or, for the two tables that keep one column per run,
`insert_column`. Both work on the text and refuse, with the section and both headers named,
rather than guess when the file's table has another shape; nothing else in the file changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

TITLE = "# Benchmark results\n"
_SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")
_PIPE = re.compile(r"(?<!\\)\|")  # a cell's own "|" (not already escaped)


class ResultsTableError(ValueError):
    """RESULTS.md does not have the table a writer expects; nothing was written."""


def cell(value: object) -> str:
    """One cell's text: None as "–", no line breaks, its own "|" escaped."""
    text = "–" if value is None else " ".join(str(value).split())
    return _PIPE.sub(r"\|", text)


def markdown_row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(cell(c) for c in cells) + " |\n"


def split_row(line: str) -> list[str]:
    """The cells of a table line, stripped ("| a | b\\|c |" -> ["a", "b\\|c"])."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [part.strip() for part in _PIPE.split(inner)]


def _heading(section: str) -> str:
    return "## " + section.removeprefix("## ").strip()


def section_span(text: str, section: str) -> tuple[int, int] | None:
    """(start, end) offsets of the section's body (after its heading line), or None."""
    match = re.search(rf"^{re.escape(_heading(section))}[ \t]*$", text, flags=re.MULTILINE)
    if match is None:
        return None
    start = match.end() + 1 if match.end() < len(text) else match.end()
    following = re.search(r"^## ", text[start:], flags=re.MULTILINE)
    return start, start + following.start() if following else len(text)


def _tables(text: str, start: int, end: int) -> list[tuple[int, int, list[str]]]:
    """(header offset, body offset, header cells) of each table in text[start:end]."""
    found, offset = [], start
    lines = text[start:end].splitlines(keepends=True)
    for i, line in enumerate(lines):
        is_table = line.startswith("|") and i + 1 < len(lines)
        if is_table and _SEPARATOR.match(lines[i + 1].rstrip("\n")):
            body = offset + len(line) + len(lines[i + 1])
            found.append((offset, body, split_row(line)))
        offset += len(line)
    return found


def _find_table(
    text: str, section: str, match: Callable[[list[str]], bool], wanted: str
) -> tuple[int, int]:
    """(header offset, body offset) of the first table in the section that `match`es."""
    span = section_span(text, section)
    if span is None:
        raise ResultsTableError(f"RESULTS.md has no section {_heading(section)!r}")
    tables = _tables(text, *span)
    for header_at, body_at, header in tables:
        if match(header):
            return header_at, body_at
    found = "; ".join(markdown_row(h).strip() for _, _, h in tables) or "no table"
    raise ResultsTableError(
        f"RESULTS.md, section {_heading(section)!r}: no table with {wanted} (found: {found}); "
        "restructure the section or change the bench's columns, nothing was written"
    )


def _body_lines(text: str, at: int) -> list[str]:
    """The table lines from offset `at` to the first line that is not a table row."""
    lines = []
    for line in text[at:].splitlines(keepends=True):
        if not line.startswith("|"):
            break
        lines.append(line)
    return lines


def _with_header(columns: Sequence[str]) -> Callable[[list[str]], bool]:
    return lambda header: header == [c.strip() for c in columns]


def read_table(text: str, section: str, columns: Sequence[str]) -> list[list[str]]:
    """The body rows (cells) of the section's table whose header is `columns`."""
    _, at = _find_table(text, section, _with_header(columns), f"the header {list(columns)}")
    return [split_row(line) for line in _body_lines(text, at)]


def insert_rows(
    text: str,
    section: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    intro: str = "",
) -> str:
    """`text` with `rows` first in the section's table whose header is exactly `columns`.

    A missing section is added at the end of the file with `intro` and the table. Raises
    ResultsTableError when a row's length differs from the header's or the section has no such
    table. The rest of the file is returned unchanged, byte for byte.
    """
    for i, row in enumerate(rows):
        if len(row) != len(columns):
            raise ResultsTableError(
                f"row {i} for {_heading(section)!r} has {len(row)} cells, the header "
                f"{len(columns)}: {list(row)}"
            )
    new_rows = "".join(markdown_row(row) for row in rows)
    if section_span(text, section) is None:
        table = markdown_row(columns) + "|" + "---|" * len(columns) + "\n"
        lead = f"{intro.strip()}\n\n" if intro.strip() else ""
        body = text.rstrip("\n") or TITLE.rstrip("\n")
        return f"{body}\n\n{_heading(section)}\n\n{lead}{table}{new_rows}"
    _, at = _find_table(text, section, _with_header(columns), f"the header {list(columns)}")
    return text[:at] + new_rows + text[at:]


def insert_column(
    text: str,
    section: str,
    corner: str,
    title: str,
    cells: Mapping[str, object],
    intro: str = "",
) -> str:
    """`text` with a new second column `title` in the section's table whose first header cell
    is `corner` (a table with one column per run, newest first): each row gets `cells[label]`
    by its first cell, "–" when absent. A missing section is added at the end with `intro` and
    a table of `cells`. Raises ResultsTableError for a label the table lacks."""
    if section_span(text, section) is None:
        rows = [[label, value] for label, value in cells.items()]
        return insert_rows(text, section, [corner, title], rows, intro)
    wanted = f"the first header cell {corner!r}"
    header_at, body_at = _find_table(text, section, lambda h: h[:1] == [corner.strip()], wanted)
    body = _body_lines(text, body_at)
    labels = [split_row(line)[0] for line in body]
    unknown = [label for label in cells if label not in labels]
    if unknown:
        raise ResultsTableError(
            f"RESULTS.md, section {_heading(section)!r}: the table has no rows {unknown} "
            f"(its rows: {labels}); nothing was written"
        )
    header = split_row(text[header_at : text.index("\n", header_at)])
    lines = [markdown_row([header[0], title, *header[1:]]), "|" + "---|" * (len(header) + 1) + "\n"]
    for line in body:
        parts = split_row(line)
        lines.append(markdown_row([parts[0], cells.get(parts[0]), *parts[1:]]))
    end = body_at + sum(map(len, body))
    return text[:header_at] + "".join(lines) + text[end:]


def edit_results(path: Path, *edits: Callable[[str], str]) -> None:
    """Re-reads `path` (a bare title when absent), applies `edits` in order and writes the
    result atomically once, so a refused edit leaves the file as it was."""
    from core.workspace import atomic_write_text

    text = path.read_text(encoding="utf-8") if path.exists() else TITLE
    for edit in edits:
        text = edit(text)
    atomic_write_text(path, text)


def record_rows(
    path: Path,
    section: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    intro: str = "",
) -> None:
    """`insert_rows` on the file at `path`, written atomically."""
    edit_results(path, lambda text: insert_rows(text, section, columns, rows, intro))
