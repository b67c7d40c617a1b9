"""Ingest end to end on tiny files: every format, timestamps, rejects, sessions, vocabularies."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.data import write
from core.data.ingest import IngestOptions, ingest
from core.data.store import events_path, load_manifest, load_sequences, load_vocab
from core.data.vocab import UNK
from core.errors import InputError
from core.workspace import Workspace

CLICKS = (
    "user_id,timestamp,event_type,item_id,category\n"
    "u1,2024-01-01 10:00:00,view,i1,c1\n"
    "u2,2024-01-01 09:00:00,view,i2,c2\n"
    "u1,2024-01-01 10:10:00,cart,i1,c1\n"
    "u1,2024-01-01 12:00:00,view,i3,c2\n"
    "u2,2024-01-01 09:00:00,buy,i2,c2\n"
)


def events(workspace: Workspace, name: str) -> list[dict]:
    return pq.read_table(events_path(workspace, name)).to_pylist()


def test_csv_with_header_full_contract(workspace, write_log) -> None:
    summary = ingest(write_log("clicks.csv", CLICKS), "clicks", workspace)
    assert summary == {
        "dataset": "clicks",
        "events": 5,
        "item_less_events": 0,
        "users": 2,
        "items": 3,
        "sessions": 3,  # u1: 10:00-10:10 | 12:00 (gap > 30m); u2: one session
        "event_types": {"view": 3, "buy": 1, "cart": 1},
        "rejected_rows": 0,
        "start": "2024-01-01T09:00:00+00:00",
        "end": "2024-01-01T12:00:00+00:00",
    }
    rows = events(workspace, "clicks")
    assert [(r["user_id"], r["user_idx"], r["session_idx"], r["src_row"]) for r in rows] == [
        ("u1", 0, 0, 2),
        ("u1", 0, 0, 4),
        ("u1", 0, 1, 5),
        ("u2", 1, 2, 3),  # equal timestamps keep file order (src_row 3 before 6)
        ("u2", 1, 2, 6),
    ]
    items = load_vocab(workspace, "clicks", "items")
    assert items.tokens[3:] == ["i1", "i2", "i3"] and items.counts[3:] == [2, 2, 1]
    assert [r["item_idx"] for r in rows] == [3, 3, 5, 4, 4]
    assert str(rows[0]["ts"].tzinfo) == "UTC"
    schema = pq.read_schema(events_path(workspace, "clicks"))
    assert (
        schema.field("user_idx").type == pa.int32() and schema.field("src_row").type == pa.int64()
    )
    manifest = load_manifest(workspace, "clicks")
    assert manifest["mapping"]["time"] == "timestamp" and manifest["has_time"] is True
    assert len(manifest["source"]["sha256"]) == 64


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("1700000000", "2023-11-14T22:13:20+00:00"),
        ("1700000000000", "2023-11-14T22:13:20+00:00"),
        ("1700000000000000", "2023-11-14T22:13:20+00:00"),
        ("1700000000.5", "2023-11-14T22:13:20.500000+00:00"),
        ("2023-11-14T22:13:20Z", "2023-11-14T22:13:20+00:00"),
        ("2023-11-15T00:13:20+02:00", "2023-11-14T22:13:20+00:00"),
        ("2023-11-14 22:13:20 UTC", "2023-11-14T22:13:20+00:00"),
        ("2023-11-14 22:13:20", "2023-11-14T22:13:20+00:00"),
    ],
)
def test_timestamp_spellings_normalise_to_utc(workspace, write_log, stamp, expected) -> None:
    path = write_log("t.csv", f"user,item,time\nu,i,{stamp}\n")
    assert ingest(path, "t", workspace)["start"] == expected


def test_rejects_are_counted_and_located(workspace, write_log) -> None:
    text = "user,item,time\nu1,i1,1700000000\n,i2,1700000001\nu1,i3,not-a-time\nu1,i4\nu2,i5,1700000002\n"
    summary = ingest(write_log("r.csv", text), "r", workspace)
    assert summary["rejected_rows"] == 3 and summary["events"] == 2
    examples = load_manifest(workspace, "r")["stats"]["rejected_examples"]
    assert [(e["row"], e["column"]) for e in examples] == [(3, "user"), (4, "time"), (5, "time")]
    # the ragged line 5 was dropped by the reader, yet the kept rows keep their true line numbers
    assert [r["src_row"] for r in events(workspace, "r")] == [2, 6]


def test_all_rows_bad_names_file_row_and_column(workspace, write_log) -> None:
    path = write_log("bad.csv", "user,item,ts\nu1,i1,yesterday\nu2,i2,never\n")
    with pytest.raises(InputError) as info:
        ingest(path, "bad", workspace)
    assert (info.value.row, info.value.column) == (2, "ts")
    assert str(info.value).startswith(f"{path}:2:ts: all 2 rows were rejected")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"user,item,time\n", "no data rows"), (b"\x00\x01\x02junk", "binary")],
)
def test_unusable_files(workspace, write_log, content, message) -> None:
    with pytest.raises(InputError, match=message):
        ingest(write_log("x.csv", content), "x", workspace)
    assert workspace.dataset_names() == []


def test_bom_latin1_and_tabs(workspace, write_log) -> None:
    bom = write_log("bom.csv", "\ufeffuser_id,item_id,timestamp\nu1,i1,1700000000\n")
    assert ingest(bom, "bom", workspace)["users"] == 1
    latin = write_log("l.tsv", "user\titem\ttime\nJosé\tcafé\t1700000000\n", encoding="latin-1")
    ingest(latin, "latin", workspace)
    assert events(workspace, "latin")[0]["user_id"] == "José"
    assert load_manifest(workspace, "latin")["options"]["encoding"] == "latin-1"


def test_recbole_atomic_file(workspace, write_log) -> None:
    text = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n196\t302\t3\t881250950\n"
    summary = ingest(write_log("ml.inter", text), "ml", workspace)
    assert summary["events"] == 2 and summary["event_types"] == {"event": 2}
    assert load_manifest(workspace, "ml")["source"]["format"] == "recbole"


def test_sequence_file_keeps_line_order(workspace, write_log) -> None:
    summary = ingest(write_log("beauty.txt", "1 10\n1 11\n2 10\n1 12\n"), "seq", workspace)
    assert summary["users"] == 2 and summary["events"] == 4
    seqs = load_sequences(workspace, "seq")
    assert list(seqs.offsets) == [0, 3, 4]
    assert [seqs.item_vocab.token_of(i) for i in seqs.items[:3]] == ["10", "11", "12"]
    assert list(seqs.timestamps[:3]) == [1000, 2000, 4000]  # 1 s per line, order kept
    assert load_manifest(workspace, "seq")["has_time"] is False


def test_parquet_with_typed_timestamps(workspace, tmp_path) -> None:
    table = pa.table(
        {
            "customer": ["a", "b", "a"],
            "sku": ["x", "y", "z"],
            "event_time": pa.array([1_700_000_000_000, 1_700_000_100_000, 1_700_000_200_000],
                                   pa.timestamp("ms", tz="Europe/Paris")),
        }
    )  # fmt: skip
    path = tmp_path / "log.parquet"
    pq.write_table(table, path)
    summary = ingest(path, "pq", workspace)
    assert summary["users"] == 2 and summary["start"] == "2023-11-14T22:13:20+00:00"
    assert [r["src_row"] for r in events(workspace, "pq")] == [1, 3, 2]


def test_explicit_session_column_and_gap_option(workspace, write_log) -> None:
    text = "user,item,time,visit\nu,a,1700000100,s1\nu,b,1700005000,s1\nu,c,1700005001,s2\n"
    assert ingest(write_log("s.csv", text), "s", workspace)["sessions"] == 2
    gap = IngestOptions(session_gap="1h")
    assert ingest(write_log("g.csv", text), "g", workspace, gap)["sessions"] == 2
    tight = IngestOptions(session_gap="1s")
    text2 = "user,item,time\nu,a,1700000100\nu,b,1700005000\nu,c,1700005001\n"
    assert ingest(write_log("g2.csv", text2), "g2", workspace, tight)["sessions"] == 2


def test_min_item_count_maps_rare_items_to_unk(workspace, write_log) -> None:
    text = "user,item,time\nu,a,1700000001\nu,a,1700000002\nu,b,1700000003\n"
    ingest(write_log("m.csv", text), "m", workspace, IngestOptions(min_item_count=2))
    seqs = load_sequences(workspace, "m")
    assert seqs.item_vocab.tokens[3:] == ["a"]
    assert list(seqs.items) == [3, 3, UNK]


def test_load_sequences_round_trip(workspace, write_log) -> None:
    ingest(write_log("clicks.csv", CLICKS), "c", workspace)
    seqs = load_sequences(workspace, "c")
    assert list(seqs.user_ids) == ["u1", "u2"] and list(seqs.lengths()) == [3, 2]
    assert np.all(np.diff(seqs.timestamps[seqs.user_slice(0)]) >= 0)
    assert [seqs.event_vocab.token_of(e) for e in seqs.events] == [
        "view",
        "cart",
        "view",
        "view",
        "buy",
    ]
    assert seqs.timestamps.dtype == np.int64 and seqs.timestamps[0] == 1704103200000


def test_interrupted_ingest_leaves_workspace_unchanged(workspace, write_log, monkeypatch) -> None:
    ingest(write_log("clicks.csv", CLICKS), "clicks", workspace)
    folder = workspace.dataset_dir("clicks")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(write, "write_events", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest(write_log("other.csv", "user,item,time\nx,y,1700000001\n"), "clicks", workspace)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in workspace.datasets_dir.iterdir()) == ["clicks"]
