"""Column mapping: names, synonyms, content of headerless files, overrides, clear errors."""

from __future__ import annotations

import pytest

from core.data.mapping import NO_COLUMN, detect_mapping, match_by_name
from core.data.timeparse import parse_gap
from core.errors import BehaviorLensError, InputError

TAOBAO_LIKE = (
    "1,2268318,2520377,pv,1511544070\n"
    "1,2333346,2520771,pv,1511561733\n"
    "1,2576651,149192,cart,1511572885\n"
    "2,3830808,4181361,pv,1511593493\n"
    "2,4365585,2520377,buy,1511596146\n"
    "3,4606018,2735466,fav,1511616481\n"
)


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (
            ["user_id", "timestamp", "event_type", "item_id", "category"],
            {"user": "user_id", "time": "timestamp", "event": "event_type", "item": "item_id",
             "category": "category"},
        ),
        (
            ["visitorid", "event_time", "behaviour", "sku", "session_id"],
            {"user": "visitorid", "time": "event_time", "event": "behaviour", "item": "sku",
             "session": "session_id"},
        ),
        (
            ["user_id:token", "item_id:token", "rating:float", "timestamp:float"],
            {"user": "user_id:token", "item": "item_id:token", "time": "timestamp:float"},
        ),
        (
            ["Customer ID", "Date", "Action", "Product", "user_session", "Category Code"],
            {"user": "Customer ID", "time": "Date", "event": "Action", "item": "Product",
             "session": "user_session", "category": "Category Code"},
        ),
    ],
)  # fmt: skip
def test_match_by_name_synonyms(columns: list[str], expected: dict[str, str]) -> None:
    assert match_by_name(columns, set()) == expected


def test_headerless_taobao_detected_by_content(write_log) -> None:
    found = detect_mapping(write_log("UserBehavior.csv", TAOBAO_LIKE))
    assert found.source.has_header is False
    assert found.mapping.as_dict() == {
        "user": "column1",
        "time": "column5",
        "event": "column4",
        "item": "column2",
        "session": None,
        "category": "column3",
    }
    assert set(found.detected_by.values()) == {"content"}
    assert found.preview[0]["column4"] == "pv"


def test_one_garbled_time_in_the_sample_does_not_hide_the_time_column(write_log) -> None:
    """Headerless tab-separated unix seconds with one `not-a-time` among them: still the time
    column (the row itself is rejected at ingest, with its line)."""
    rows = [f"{50000 + i % 30}\tp{i * 7}\t{1_700_000_000 + 97 * i}" for i in range(80)]
    rows[7] = "50007\tp7\tnot-a-time"
    found = detect_mapping(write_log("plays.tsv", "\n".join(rows) + "\n"))
    assert found.source.has_header is False
    assert found.mapping.time == "column3"
    assert (found.mapping.user, found.mapping.item) == ("column1", "column2")


def test_an_override_of_no_column_keeps_detection_off_that_role(write_log) -> None:
    log = "user,time,action,item\n" + "".join(
        f"u{i % 5},{1_700_000_000 + i},{('view', 'cart')[i % 2]},i{i}\n" for i in range(40)
    )
    path = write_log("shop.csv", log)
    assert detect_mapping(path).mapping.event == "action"
    found = detect_mapping(path, overrides={"event": NO_COLUMN})
    assert found.mapping.event is None and found.detected_by["event"] == "override"
    assert (found.mapping.user, found.mapping.time, found.mapping.item) == ("user", "time", "item")


def test_header_with_iso_times_and_semicolons(write_log) -> None:
    text = (
        "uid;when;what;product\nu1;2024-01-01T10:00:00Z;view;p1\nu1;2024-01-01T10:05:00Z;buy;p1\n"
    )
    found = detect_mapping(write_log("log.csv", text))
    assert found.source.delimiter == ";"
    assert found.source.has_header is True
    mapping = found.mapping
    assert (mapping.user, mapping.item, mapping.time) == ("uid", "product", "when")
    assert found.detected_by["time"] == "content"


def test_overrides_win_and_columns_name_a_headerless_file(write_log) -> None:
    path = write_log("x.csv", "a1,p1,10,1700000000\na2,p2,20,1700000100\n")
    found = detect_mapping(
        path,
        has_header=False,
        columns=["who", "what", "price", "at"],
        overrides={"user": "who", "item": "what", "time": "at"},
    )
    assert found.mapping.user == "who" and found.mapping.time == "at"
    assert found.detected_by["user"] == "override"


def test_unknown_override_column_is_named(write_log) -> None:
    path = write_log("x.csv", "user_id,item_id,timestamp\n1,2,1700000000\n")
    with pytest.raises(InputError, match="no column 'uzer'.*user_id, item_id, timestamp") as info:
        detect_mapping(path, overrides={"user": "uzer"})
    assert info.value.column == "uzer"


def test_missing_time_column_is_an_input_error(write_log) -> None:
    path = write_log("x.csv", "user_id,item_id,price\n1,2,3.5\n1,3,4.5\n")
    with pytest.raises(InputError, match="time column.*--time COL"):
        detect_mapping(path)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("1h", 3600), ("90s", 90), ("45", 45), ("2d", 172800)]
)
def test_parse_gap(text: str, seconds: float) -> None:
    assert parse_gap(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5m", "0", "10w"])
def test_parse_gap_rejects_nonsense(text: str) -> None:
    with pytest.raises(BehaviorLensError, match="session gap"):
        parse_gap(text)
