"""Format detection: a headerless delimited log with 'date time' stamps is CSV, not `user item`.

Regression: `u1;i1;view;2024-01-01 10:00:00` splits on whitespace into two parts, and was read as
a sequence file (5 users instead of 3, timestamps in 1970) despite its .csv name.
"""

from __future__ import annotations

import pytest

from core.data.mapping import detect_mapping
from core.data.sniff import detect_format, looks_like_sequences
from core.errors import InputError

ROWS = [
    ("u1", "i1", "view", "2024-01-01 10:00:00"),
    ("u1", "i2", "cart", "2024-01-01 10:05:00"),
    ("u2", "i1", "view", "2024-01-02 11:00:00"),
    ("u3", "i3", "buy", "2024-01-03 12:00:00"),
]


def _text(delimiter: str) -> str:
    return "".join(delimiter.join(row) + "\n" for row in ROWS)


@pytest.mark.parametrize("name", ["semi.csv", "semi.txt", "semi.log", "semi"])
@pytest.mark.parametrize("delimiter", [";", "|", "\t", ","])
def test_headerless_delimited_with_datetime_is_csv(write_log, name, delimiter) -> None:
    path = write_log(name, _text(delimiter))
    found = detect_mapping(path)
    assert found.source.format == "csv"
    assert found.source.delimiter == delimiter
    assert found.source.has_header is False
    assert found.mapping.time == "column4"
    assert (found.mapping.user, found.mapping.item, found.mapping.event) == (
        "column1",
        "column2",
        "column3",
    )


def test_semicolon_csv_ingests_three_users_in_2024(write_log, tmp_path) -> None:
    from core.data.ingest import ingest
    from core.workspace import Workspace

    path = write_log("semi.csv", _text(";"))
    summary = ingest(path, "semi", Workspace.at(tmp_path / "ws"))
    assert summary["users"] == 3 and summary["items"] == 3 and summary["events"] == 4
    assert summary["event_types"] == {"view": 2, "cart": 1, "buy": 1}
    assert summary["start"].startswith("2024-01-01T10:00:00")


@pytest.mark.parametrize("name", ["beauty.txt", "pairs", "pairs.dat"])
def test_beauty_like_id_pairs_are_still_sequences(write_log, name) -> None:
    path = write_log(name, "1 2\n1 3\n2 2\n10 7\n")
    found = detect_mapping(path)
    assert found.source.format == "sequences"
    assert (found.mapping.user, found.mapping.item, found.mapping.time) == ("user", "item", None)


def test_trusted_extensions_override_content(tmp_path) -> None:
    pairs = b"1 2\n1 3\n"
    assert detect_format(tmp_path / "a.csv", pairs) == "csv"
    assert detect_format(tmp_path / "a.tsv", pairs) == "csv"
    assert detect_format(tmp_path / "a.inter", pairs) == "recbole"
    assert detect_format(tmp_path / "a.parquet", pairs) == "parquet"
    assert detect_format(tmp_path / "a.txt", pairs) == "sequences"


@pytest.mark.parametrize(
    "lines",
    [
        ["u1 2024-01-01", "u2 2024-01-02"],  # a date is not an item id
        ["2024-01-01 10:00:00", "2024-01-02 11:00:00"],  # a lone timestamp column
        ["a;b 1", "c;d 2"],  # a delimiter on every line
        ["1\t2", "3\t4"],  # tab-delimited: read as CSV with a sniffed tab
        ["1 2 3", "4 5 6"],  # three fields
        [],
    ],
)
def test_not_sequences(lines: list[str]) -> None:
    assert looks_like_sequences(lines) is False


def test_pair_lines_in_a_csv_name_ask_for_the_format(write_log) -> None:
    path = write_log("pairs.csv", "1 2\n1 3\n2 2\n")
    with pytest.raises(InputError, match="--format sequences"):
        detect_mapping(path)
    assert detect_mapping(path, fmt="sequences").source.format == "sequences"
