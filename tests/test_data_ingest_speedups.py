"""The second round of ingest speed-ups keeps every answer: the sort that reads sorted keys back from
packed bits, both row-group dictionary paths, the CASE spelling of the time fallback, and the
block-reusing hash and encoding check."""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from core.data import build, write
from core.data.ingest import ingest
from core.data.sniff import check_encoding, file_sha256
from core.data.store import events_path, load_manifest
from core.data.timeparse import text_time_to_ms


@pytest.mark.parametrize("seconds", [True, False])
def test_packed_sort_matches_stable_argsort(seconds: bool) -> None:
    rng = np.random.default_rng(1)
    users = rng.integers(0, 40, 2000).astype(np.int32)
    ts = rng.integers(0, 50, 2000).astype(np.int64) * (1000 if seconds else 7)  # many ties
    expected = np.lexsort((ts, users))  # stable: ties keep file order
    order, sorted_users, sorted_ts = build.sort_rows(users, ts)
    assert build._packed_sort(users, ts) is not None  # the packed path is the one tested
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(sorted_users, users[expected])
    np.testing.assert_array_equal(sorted_ts, ts[expected])
    assert sorted_users.dtype == np.int32 and sorted_ts.dtype == np.int64


def test_unpacked_sort_matches_too(monkeypatch) -> None:
    users = np.array([2, 0, 2, 1, 0], dtype=np.int32)
    ts = np.array([5, 9, 5, -3, 9], dtype=np.int64)
    monkeypatch.setattr(build, "_packed_sort", lambda u, t: None)
    order, sorted_users, sorted_ts = build.sort_rows(users, ts)
    assert order.tolist() == [1, 4, 3, 0, 2]
    assert sorted_users.tolist() == [0, 0, 1, 2, 2] and sorted_ts.tolist() == [9, 9, -3, 5, 5]


def test_large_and_small_dictionary_paths_write_the_same_file(
    workspace, write_log, monkeypatch
) -> None:
    lines = ["user,item,time,event,cat"]
    for i in range(200):
        cat = "" if i % 6 == 0 else f"c{i % 9}"
        lines.append(f"u{i % 13},i{(i * 7) % 31},{1_700_000_000 + 37 * i},e{i % 3},{cat}")
    path = write_log("dict.csv", "\n".join(lines) + "\n")
    monkeypatch.setattr(write, "ROW_GROUP_ROWS", 16)
    ingest(path, "small", workspace)  # every vocabulary whole in each row group
    monkeypatch.setattr(write, "SMALL_DICTIONARY", 0)
    ingest(path, "large", workspace)  # every vocabulary cut to the tokens of the group
    small, large = (pq.read_table(events_path(workspace, n)) for n in ("small", "large"))
    assert large.equals(small) and small.column("category").null_count == 34
    assert small.column("user_id").to_pylist()[:2] == ["u0", "u0"]
    manifest = load_manifest(workspace, "small")
    assert manifest["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_time_fallback_is_coalesce() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    values = ["2023-11-14 22:13:20", "2023-11-15T00:13:20+02:00", "1700000000", "junk", None]
    expr = text_time_to_ms("v", "%Y-%m-%d %H:%M:%S")
    rows = con.execute(f"SELECT {expr} FROM (SELECT unnest($1::VARCHAR[]) v)", [values]).fetchall()
    assert [r[0] for r in rows] == [1_700_000_000_000] * 3 + [None, None]


def test_hash_and_encoding_read_in_small_blocks(tmp_path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes("user,item\nu1,caf\u00e9\n".encode() * 5)  # é spans block boundaries
    data = path.read_bytes()
    for chunk in (1, 3, 7, 1 << 20):
        assert file_sha256(path, chunk=chunk) == hashlib.sha256(data).hexdigest()
    assert check_encoding(path) == check_encoding(path, chunk=1) == "utf-8"
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"user,item\nu1,caf\xe9\n")
    assert check_encoding(latin) == check_encoding(latin, chunk=2) == "latin-1"
