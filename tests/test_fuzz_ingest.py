"""Property tests: CSVs of random shape (delimiter, header or not, quoting, missing values,
numeric or text ids, odd times, stray bytes) through the upload path and the CLI. Each either
ingests, and then the dataset agrees with itself and, for a clean file, with the rows that
were valid, or is refused with one message naming the file. Never another exception.

tests/test_data_malformed.py covers ragged rows and binary junk on `ingest` alone; this file
varies the shape of the whole file and goes through both ways in.
"""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bad_inputs_support import assert_consistent, run_cli, run_upload

from core.workspace import Workspace

HEADER = ["user_id", "timestamp", "event_type", "item_id"]
DELIMITERS = [",", ";", "\t", "|"]
QUOTING = [csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]
# (text, valid): every spelling the reader accepts, and ones it must reject
TIMES = st.one_of(
    st.integers(1_500_000_000, 1_900_000_000).map(lambda s: (str(s), True)),  # unix s
    st.integers(1_500_000_000_000, 1_900_000_000_000).map(lambda m: (str(m), True)),  # ms
    st.sampled_from([
        ("2024-03-01T10:00:00Z", True), ("2024-03-01 10:00:00", True), ("2200-06-01", True),
        ("1899-12-31 23:59:59", False), ("2400-01-01", False), ("", False), ("nan", False),
        ("never", False), ("2024-13-45", False), ("inf", False),
    ]),
)  # fmt: skip
IDS = st.one_of(
    st.integers(-10, 10**6).map(str),
    st.text(alphabet="abcXYZ_-/.😀שّ", min_size=1, max_size=6).filter(lambda s: s.strip()),
)
MAYBE_ID = st.one_of(IDS, st.just(""))
ROW = st.tuples(MAYBE_ID, TIMES, st.sampled_from(["view", "cart", "buy", ""]), MAYBE_ID)
JUNK = st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=4)), max_size=3)
IN_PROCESS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
THROUGH_CLI = settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))  # fmt: skip


@dataclass
class Log:
    """A generated file and what a faithful reading of it must give."""

    content: bytes
    rows: int  # data rows written
    valid: int  # rows with a user, a valid time and an item or an event
    exact: bool  # a header and no stray bytes: events and rejects must match exactly


@st.composite
def logs(draw: st.DrawFn) -> Log:
    rows = draw(st.lists(ROW, min_size=1, max_size=25))
    delimiter, quoting = draw(st.sampled_from(DELIMITERS)), draw(st.sampled_from(QUOTING))
    header = draw(st.booleans())
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator="\n")
    if header:
        writer.writerow(HEADER)
    writer.writerows([(u, t, e, i) for u, (t, _), e, i in rows])
    content = out.getvalue().encode()
    junk = draw(JUNK)
    for at, extra in junk:
        position = at % (len(content) + 1)
        content = content[:position] + extra + content[position:]
    valid = sum(bool(u.strip()) and ok and bool(e or i.strip()) for u, (_, ok), e, i in rows)
    return Log(content, len(rows), valid, header and not junk)


def _check(log: Log, outcome, file_shown: str, workspace: Workspace) -> None:
    assert "Traceback" not in outcome.stderr, outcome.stderr
    if outcome.code != 0:
        assert outcome.code == 2 and outcome.error.count("\n") == 0, outcome
        assert outcome.error.startswith(file_shown), outcome.error
        assert workspace.dataset_names() == []
        return
    summary = outcome.summary
    assert_consistent(workspace, summary)
    lines = log.content.count(b"\n") + log.content.count(b"\r") + 1
    assert summary["events"] + summary["rejected_rows"] <= lines
    if log.exact:
        assert summary["events"] == log.valid, (summary, log)
        assert summary["rejected_rows"] == log.rows - log.valid


@IN_PROCESS
@given(logs())
def test_upload_path_ingests_consistently_or_refuses(log: Log) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        path.write_bytes(log.content)
        workspace = Workspace(Path(tmp) / "ws")
        _check(log, run_upload(path, workspace), "log.csv", workspace)


@THROUGH_CLI
@given(logs())
def test_cli_ingests_consistently_or_refuses(log: Log) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        path.write_bytes(log.content)
        outcome = run_cli(path, Path(tmp) / "ws")
        _check(log, outcome, str(path), Workspace(Path(tmp) / "ws"))


@IN_PROCESS
@given(st.binary(min_size=1, max_size=600), st.sampled_from(["log.csv", "log.txt", "log"]))
def test_random_bytes_under_any_name_never_crash(content: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        workspace = Workspace(Path(tmp) / "ws")
        outcome = run_upload(path, workspace)
        _check(Log(content, content.count(b"\n") + 1, 0, False), outcome, name, workspace)
