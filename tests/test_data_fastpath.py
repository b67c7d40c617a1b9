"""The fast ingest path keeps the slow path's answers: detected time layouts, streamed interning in
several groups, row-group dictionaries, and cleaning done once per distinct value."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.data import reader, write
from core.data.ingest import ingest
from core.data.intern import MISSING, Interner, clean_dictionary
from core.data.store import events_path, load_manifest
from core.data.timeparse import detect_layout, time_to_ms

MIXED = (
    "user,item,time\n"
    "u1,a,2023-11-14 22:13:20\n"
    "u1,b,2023-11-14 22:13:21.5\n"
    "u2,c,2023-11-15T00:13:20+02:00\n"  # other spellings in a file of one layout: generic path
    "u2,d,1700000000\n"
    "u3,e,2023-11-14 22:13:20 UTC\n"
    "u3,f,2023-11-14 22:13:20 Europe/Paris\n"
    "u4,g,2023-11-14 22:13:22\n"
)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def test_detected_layout_agrees_with_generic_parser(con) -> None:
    values = ["2023-11-14 22:13:20", "2023-11-14 22:13:20.123", " 2023-1-4 2:3:0 ", "epoch", "junk"]
    layout = detect_layout(con, values)
    assert layout == "%Y-%m-%d %H:%M:%S"
    fast = f"epoch_ms(try_strptime(v, '{layout}'))"
    rows = con.execute(
        f"SELECT v, {fast}, {time_to_ms('v', 'VARCHAR')} FROM (SELECT unnest($1::VARCHAR[]) v)",
        [values],
    ).fetchall()
    assert all(f is None or f == g for _, f, g in rows), rows
    assert detect_layout(con, ["1700000000", "1700000001"]) is None  # numbers: generic cast


def test_mixed_spellings_in_one_file_all_parse(workspace, write_log) -> None:
    summary = ingest(write_log("mixed.csv", MIXED), "mixed", workspace)
    assert summary["rejected_rows"] == 0 and summary["events"] == 7
    rows = pq.read_table(events_path(workspace, "mixed")).to_pylist()
    stamps = {r["item"]: r["ts"].timestamp() for r in rows}
    assert stamps == {
        "a": 1700000000.0,
        "b": 1700000001.5,
        "c": 1700000000.0,
        "d": 1700000000.0,
        "e": 1700000000.0,
        "f": 1699996400.0,
        "g": 1700000002.0,
    }


def test_interner_keeps_codes_across_groups() -> None:
    interner = Interner()
    first = interner.add([pa.array(["b", "a", None]), pa.array(["b"])])
    second = interner.add([pa.array(["c", None, "a"])])
    assert first.tolist() == [0, 1, 2, 0] and second.tolist() == [3, 2, 1]
    assert interner.dictionary.to_pylist() == ["b", "a", None, "c"]


def test_cleaning_merges_spacing_variants_and_blank_is_missing(con) -> None:
    raw = pa.array([" u1 ", "u2", "u1", "  ", None, "\u00a0u2"])
    remap, tokens = clean_dictionary(con, raw)
    assert tokens.to_pylist() == ["u1", "u2"]
    assert remap.tolist() == [0, 1, 0, MISSING, MISSING, 1]
    remap, tokens = clean_dictionary(con, pa.array(["view", "", None]), default="event")
    assert tokens.to_pylist() == ["view", "event"] and remap.tolist() == [0, 1, 1]


def test_many_groups_and_row_groups_match_one_group(workspace, write_log, monkeypatch) -> None:
    lines = ["user,item,time,event,cat"]
    rng = np.random.default_rng(0)
    for i in range(300):
        user, item = rng.integers(0, 20), rng.integers(0, 30)
        cat = "" if item % 7 == 0 else f"c{item % 5}"
        lines.append(
            f" u{user},i{item},{1_700_000_000 + int(rng.integers(0, 9000))},e{i % 3},{cat}"
        )
    path = write_log("many.csv", "\n".join(lines) + "\n")
    ingest(path, "one", workspace)
    monkeypatch.setattr(reader, "BATCH_ROWS", 16)
    monkeypatch.setattr(reader, "GROUP_ROWS", 16)
    monkeypatch.setattr(write, "ROW_GROUP_ROWS", 7)
    ingest(path, "many", workspace)
    one, many = (pq.read_table(events_path(workspace, n)) for n in ("one", "many"))
    assert pq.ParquetFile(events_path(workspace, "many")).metadata.num_row_groups > 40
    assert many.equals(one) and many.schema.field("user_id").type == pa.string()
    assert all(u == u.strip() for u in one.column("user_id").to_pylist())  # spaces trimmed
    assert one.column("category").null_count > 0
    stats = ("users", "items", "sessions", "event_types", "start", "end")
    manifests = [load_manifest(workspace, n)["stats"] for n in ("one", "many")]
    assert {k: manifests[0][k] for k in stats} == {k: manifests[1][k] for k in stats}


def test_lone_carriage_return_is_an_input_error(workspace, write_log) -> None:
    from core.errors import InputError

    with pytest.raises(InputError):
        ingest(write_log("cr.csv", b"\r\x01"), "cr", workspace)
