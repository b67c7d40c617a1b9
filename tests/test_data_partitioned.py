"""Read what a cluster wrote: a folder (or glob) of hive-partitioned Parquet parts, as Spark or
DuckDB write them, ingested like one file."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.data.ingest import ingest
from core.data.store import load_manifest, load_sequences
from core.errors import InputError
from core.workspace import Workspace


def partitioned(root: Path) -> Path:
    """Three users over two days, partitioned by day and event type (hive folders)."""
    rows = [
        (
            "u1",
            1_700_000_000 + 10 * i,
            ["view", "cart", "buy"][i % 3],
            f"i{i}",
            f"2023-11-1{4 + i % 2}",
        )
        for i in range(12)
    ] + [
        ("u2", 1_700_000_500, "view", "i1", "2023-11-14"),
        ("u3", 1_700_000_700, "view", "", "2023-11-15"),
    ]
    table = pa.table(
        {
            "user_id": [r[0] for r in rows],
            "timestamp": pa.array([r[1] for r in rows], pa.int64()),
            "event_type": [r[2] for r in rows],
            "item_id": [r[3] for r in rows],
            "day": [r[4] for r in rows],
        }
    )
    folder = root / "events"
    pq.write_to_dataset(table, folder, partition_cols=["day", "event_type"])
    (folder / "_SUCCESS").write_text("")  # Spark's marker is not a part
    return folder


def test_a_partitioned_folder_ingests_like_one_file(tmp_path: Path) -> None:
    folder = partitioned(tmp_path)
    ws = Workspace.at(tmp_path / "ws")
    summary = ingest(folder, "cluster", ws)
    assert summary["events"] == 14 and summary["users"] == 3
    assert summary["event_types"] == {"view": 6, "cart": 4, "buy": 4}  # from the hive folders
    assert summary["item_less_events"] == 1 and summary["rejected_rows"] == 0  # u3: a view, no item
    manifest = load_manifest(ws, "cluster")
    assert manifest["source"]["format"] == "parquet" and len(manifest["source"]["sha256"]) == 64
    seqs = load_sequences(ws, "cluster")
    u1 = seqs.user_slice(seqs.user_index("u1"))
    assert list(seqs.timestamps[u1]) == sorted(seqs.timestamps[u1])  # time order across parts


def test_a_glob_picks_the_parts(tmp_path: Path) -> None:
    folder = partitioned(tmp_path)
    ws = Workspace.at(tmp_path / "ws")
    summary = ingest(Path(f"{folder}/day=2023-11-14/*/*.parquet"), "one_day", ws)
    assert summary["events"] == 7 and "day" not in summary["event_types"]


def test_a_folder_without_parquet_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Parquet files"):
        ingest(tmp_path / "empty", "nothing", Workspace.at(tmp_path / "ws"))
