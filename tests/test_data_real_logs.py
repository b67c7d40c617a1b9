"""Real-log shapes that used to ingest into confident nonsense, each as a small fixture.

A session log whose `user_id` is mostly `NA` and whose `timeframe` counts milliseconds since the
session began; search rows without an item; a product-analytics export with no item column and
microsecond times; item attributes in the log plus a separate item table.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.data.ingest import IngestOptions, ingest, ingest_warnings
from core.data.items import load_item_catalog
from core.data.mapping import detect_mapping
from core.data.store import load_manifest, load_sequences
from core.data.vocab import NO_ITEM, NUM_RESERVED
from core.errors import InputError, for_analyst
from core.evaluation.baselines import PopularityBaseline
from core.evaluation.leave_one_out import evaluate
from core.workspace import Workspace


def session_log(path: Path, sessions: int = 300) -> Path:
    """`session_id;user_id;item_id;timeframe;eventdate`: users mostly NA, timeframe in ms."""
    rng = random.Random(0)
    rows = ["session_id;user_id;item_id;timeframe;eventdate"]
    for s in range(sessions):
        user = "NA" if rng.random() < 0.8 else str(1000 + s % 40)
        offset = 0
        for _ in range(rng.randint(2, 8)):
            offset += rng.randint(100, 90_000)
            rows.append(f"{s};{user};{rng.randint(1, 500)};{offset};2016-05-{1 + s % 28:02d}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_session_log_maps_sessions_as_users_and_the_date_as_time(tmp_path: Path) -> None:
    found = detect_mapping(session_log(tmp_path / "train-item-views.csv"))
    assert found.mapping.user == "session_id" and found.detected_by["user"] == "session"
    assert found.mapping.time == "eventdate" and found.mapping.event is None
    assert not found.issues
    assert any("'user_id' is not the user" in note for note in found.notes)
    assert any("'timeframe' is not the time" in note for note in found.notes)
    ws = Workspace.at(tmp_path / "ws")
    summary = ingest(found.source.path, "sessions", ws)
    assert summary["users"] == 300 and summary["start"].startswith("2016-05-01")
    assert list(summary["event_types"]) == ["event"]  # no dates listed as event types


def test_cli_refuses_a_user_column_that_is_mostly_na(tmp_path: Path, capsys) -> None:
    log = session_log(tmp_path / "s.csv")
    ws = str(tmp_path / "ws")
    code = main(["ingest", str(log), "--name", "s", "--user", "user_id", "--workspace", ws])
    err = capsys.readouterr().err
    assert code == 2 and f"error: {log}:user_id:" in err
    assert "no real user id" in err and "--accept-mapping" in err
    assert not (tmp_path / "ws" / "datasets" / "s").exists()  # nothing half-written
    args = ["ingest", str(log), "--name", "s", "--user", "user_id", "--accept-mapping"]
    assert main([*args, "--workspace", ws]) == 0
    assert load_manifest(Workspace.at(ws), "s")["accepted_issues"]


def test_time_that_reads_as_1970_is_refused_when_no_date_column_exists(tmp_path: Path) -> None:
    log = tmp_path / "offsets.csv"
    log.write_text(
        "user_id,item_id,timeframe\n" + "".join(f"u{i % 7},i{i},{i * 10}\n" for i in range(80))
    )
    with pytest.raises(InputError, match="times in 1970") as info:
        ingest(log, "o", Workspace.at(tmp_path / "ws"))
    assert info.value.column == "timeframe" and "--time COL" in str(info.value)
    assert "--" not in for_analyst(info.value)  # the dashboard says it without flags


def test_a_log_sorted_by_user_is_not_mistaken_for_a_dominant_value(tmp_path: Path) -> None:
    rows = [f"u1,i{i},{1_700_000_000 + i}" for i in range(150)] + ["u2,i1,1700001000"]
    log = tmp_path / "sorted.csv"
    log.write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n")
    assert not detect_mapping(log).issues


@pytest.mark.parametrize(
    ("values", "bad"),
    [([f"2024-01-0{1 + i % 9}" for i in range(60)], True),  # dates
     ([str(i % 4) for i in range(60)], False),  # Tmall-style action codes 0..3
     ([f"{i * 0.37:.2f}" for i in range(60)], True)],  # measurements
)  # fmt: skip
def test_event_column_checks(tmp_path: Path, values: list[str], bad: bool) -> None:
    lines = [f"u{i % 5},i{i},{1_700_000_000 + i},{v}" for i, v in enumerate(values)]
    log = tmp_path / "e.csv"
    log.write_text("user_id,item_id,timestamp,action\n" + "\n".join(lines) + "\n")
    found = detect_mapping(log, overrides={"event": "action"})
    assert bool(found.issues) is bad


CLICKS = (
    "user_id,timestamp,event_type,item_id,category_code,brand,price\n"
    "u1,2024-01-01 10:00:00,search,,electronics.phone,,\n"
    "u1,2024-01-01 10:01:00,view,100,electronics.phone,apple,999.5\n"
    "u1,2024-01-01 10:02:00,purchase,100,electronics.phone,apple,999.5\n"
    "u2,2024-01-01 11:00:00,view,200,beauty.lip,loreal,9.9\n"
    "u2,2024-01-01 11:01:00,search,,,,\n"
    "u2,2024-01-01 11:02:00,,,,,\n"
    "u2,2024-01-01 11:03:00,,201,,,\n"
)


def test_item_less_search_rows_are_kept_as_events(tmp_path: Path) -> None:
    log = tmp_path / "clicks.csv"
    log.write_text(CLICKS)
    ws = Workspace.at(tmp_path / "ws")
    summary = ingest(log, "clicks", ws)
    assert summary["item_less_events"] == 2 and summary["events"] == 6
    assert summary["rejected_rows"] == 1  # only the row with neither item nor event type
    manifest = load_manifest(ws, "clicks")
    assert manifest["stats"]["rejected_examples"][0]["reason"].startswith("missing both")
    seqs = load_sequences(ws, "clicks")
    assert seqs.item_vocab.token_of(NUM_RESERVED) == NO_ITEM
    assert seqs.item_vocab.no_item_id == NUM_RESERVED and seqs.item_vocab.first_real_id == 4
    searches = seqs.events == seqs.event_vocab.id_of("search")
    assert (seqs.items[searches] == NUM_RESERVED).all()
    assert seqs.event_vocab.id_of("event") > NUM_RESERVED  # a blank type with an item is "event"
    assert any("have no item" in w for w in ingest_warnings("clicks.csv", manifest))


def test_item_less_events_are_never_targets_nor_recommended(tmp_path: Path) -> None:
    rng = random.Random(3)
    lines = ["user_id,timestamp,event_type,item_id"]
    for u in range(60):
        for k in range(12):
            search = rng.random() < 0.3
            item = "" if search else str(rng.randint(1, 30))
            lines.append(
                f"u{u},{1_700_000_000 + u * 1000 + k},{'search' if search else 'view'},{item}"
            )
    log = tmp_path / "s.csv"
    log.write_text("\n".join(lines) + "\n")
    ws = Workspace.at(tmp_path / "ws")
    ingest(log, "s", ws)
    seqs = load_sequences(ws, "s")
    result = evaluate(PopularityBaseline().fit(seqs), seqs, split="test", protocol="full")
    searches_last = int(np.sum(seqs.items[seqs.offsets[1:] - 1] == NUM_RESERVED))
    assert result["item_less_events"] == int(np.sum(seqs.items == NUM_RESERVED)) > 0
    assert result["skipped_users"] == searches_last  # a search is never a held-out target
    assert result["items"] == 30  # the no-item token is not counted as an item
    args = ["train", "--dataset", "s", "--run", "r", "--epochs", "2", "--workspace", str(ws.root)]
    assert main(args) == 0
    ws_arg = ["--workspace", str(ws.root)]
    assert main(["predict", "--run", "r", "--user", "u1", "--top-k", "40", *ws_arg]) == 0


GA4 = (
    "user_pseudo_id,event_timestamp,event_name,platform\n"
    "a,1700000000000000,page_view,web\n"
    "a,1700000001000000,scroll,web\n"
    "a,1700000002000000,page_view,web\n"
    "b,1700000003000000,page_view,ios\n"
    "b,1700000004000000,purchase,ios\n"
)


def test_a_page_column_is_the_item_of_a_product_analytics_export(tmp_path: Path) -> None:
    log = tmp_path / "ga4_pages.csv"
    log.write_text(GA4.replace("platform", "page_location").replace(",web", ",/home"))
    found = detect_mapping(log)
    assert found.mapping.item == "page_location" and found.mapping.event == "event_name"


def test_product_analytics_export_without_item_column(tmp_path: Path, capsys) -> None:
    log = tmp_path / "ga4.csv"
    log.write_text(GA4)
    ws = tmp_path / "ws"
    assert main(["ingest", str(log), "--name", "ga", "--workspace", str(ws)]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["events"] == 5 and summary["start"].startswith("2023-11-14T22:13:20")
    assert "no item column" in err and "--item COL" in err
    seqs = load_sequences(Workspace.at(ws), "ga")
    assert [seqs.item_vocab.token_of(int(i)) for i in seqs.items[:2]] == ["page_view", "scroll"]
    manifest = load_manifest(Workspace.at(ws), "ga")
    analyst = ingest_warnings("ga4.csv", manifest, for_analyst=True)
    assert any("no item column" in w for w in analyst) and not any("--" in w for w in analyst)


def test_item_attributes_from_the_log_and_an_item_table(tmp_path: Path) -> None:
    log = tmp_path / "clicks.csv"
    log.write_text(CLICKS)
    table = tmp_path / "items.csv"
    table.write_text("product_id;title;price\n100;iPhone 15;1000\n201;Lipstick red;12\n")
    ws = Workspace.at(tmp_path / "ws")
    ingest(log, "clicks", ws, IngestOptions(items=str(table)))
    catalog = load_item_catalog(ws, "clicks")
    assert catalog.labels(["100", "200", "201", "999", NO_ITEM]) == [
        "iPhone 15",  # the item table's title wins
        "beauty.lip · loreal",  # from the log's category_code + brand
        "Lipstick red",
        "999",  # unknown: the id
        "(no item)",
    ]
    frame = pd.read_parquet(ws.dataset_dir("clicks") / "items.parquet").set_index("item")
    assert frame.at["100", "brand"] == "apple"  # the log fills what the table lacks
    assert catalog.prices(["100", "200"]).tolist() == [1000.0, 9.9]


def test_training_on_a_batch_of_only_searches(tmp_path: Path) -> None:
    """Every training target is item-less: the event head learns, clipping sees a dense grad."""
    rows = ["user_id,timestamp,event_type,item_id"]
    for u in range(4):
        rows += [f"u{u},{1_700_000_000 + u * 100 + k},search," for k in range(3)]
        rows += [f"u{u},{1_700_000_000 + u * 100 + k},view,i{k}" for k in (3, 4)]
    log = tmp_path / "searches.csv"
    log.write_text("\n".join(rows) + "\n")
    ws = str(tmp_path / "ws")
    assert main(["ingest", str(log), "--name", "s", "--workspace", ws]) == 0
    assert main(["train", "--dataset", "s", "--run", "r", "--epochs", "2", "--workspace", ws]) == 0
