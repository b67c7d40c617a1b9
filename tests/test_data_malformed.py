"""Property tests: malformed CSVs give a clear InputError or an exact rejected count, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.data.ingest import ingest
from core.errors import InputError
from core.workspace import Workspace

TOKENS = st.text(alphabet="abcXYZ0123456789_-", min_size=1, max_size=8)
GOOD_TIME = st.integers(min_value=1_000_000_000, max_value=1_900_000_000).map(str)
BAD_TIME = st.sampled_from(["never", "12:99", "2024-13-45", "nan", "inf", "1e300"])
ROW = st.one_of(
    st.tuples(st.just("good"), TOKENS, TOKENS, GOOD_TIME),
    st.tuples(st.just("no_user"), st.just(""), TOKENS, GOOD_TIME),
    st.tuples(st.just("bad_time"), TOKENS, TOKENS, BAD_TIME),
    st.tuples(st.just("short"), TOKENS, TOKENS),
    st.tuples(st.just("long"), TOKENS, TOKENS, GOOD_TIME, TOKENS),
)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_ingest(content: bytes, name: str = "log.csv") -> dict | InputError:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        workspace = Workspace(Path(tmp) / "ws")
        try:
            return ingest(path, "d", workspace)
        except InputError as error:
            assert str(error).startswith(str(path)), "errors must name the file"
            assert workspace.dataset_names() == []
            return error


@SETTINGS
@given(st.lists(ROW, min_size=1, max_size=30))
def test_ragged_and_bad_rows_are_counted_exactly(rows) -> None:
    lines = ["user,item,time"] + [",".join(row[1:]) for row in rows]
    result = run_ingest(("\n".join(lines) + "\n").encode())
    good = sum(row[0] == "good" for row in rows)
    if good == 0:
        assert isinstance(result, InputError) and "rejected" in str(result)
    else:
        assert isinstance(result, dict), result
        assert result["events"] == good and result["rejected_rows"] == len(rows) - good


@SETTINGS
@given(st.binary(max_size=400))
def test_binary_junk_never_crashes(content) -> None:
    result = run_ingest(content)
    assert isinstance(result, dict | InputError)


@SETTINGS
@given(
    st.lists(
        st.lists(st.one_of(TOKENS, st.integers().map(str), st.floats().map(str), st.just("")),
                 min_size=0, max_size=6),
        min_size=0,
        max_size=12,
    ),
    st.sampled_from([",", ";", "\t", "|"]),
)  # fmt: skip
def test_mixed_type_tables_never_crash(rows, delimiter) -> None:
    text = "\n".join(delimiter.join(row) for row in rows)
    result = run_ingest(text.encode())
    if isinstance(result, dict):
        assert result["events"] >= 1 and result["rejected_rows"] >= 0


def test_huge_field_is_rejected_not_fatal() -> None:
    big = "x" * 1_200_000
    text = f"user,item,time\nu1,i1,1700000000\nu2,{big},1700000001\nu3,i3,1700000002\n"
    result = run_ingest(text.encode())
    assert isinstance(result, dict)
    assert result["events"] == 2 and result["rejected_rows"] == 1


@pytest.mark.parametrize("content", [b"user,item,time\n", b"\n\n\n", b"user,item,time\n\n"])
def test_header_only_or_blank(content) -> None:
    assert isinstance(run_ingest(content), InputError)
