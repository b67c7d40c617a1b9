"""The weekly loop: a run trained on the first weeks scores next week's log (`score`): new users,
unseen items, segments by transform (never refit), anomalies against the training period,
drift figures and a verdict, formula-safe CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.analysis.new_period import align, remap
from core.analysis.score_period import scored_dir
from core.cli import main
from core.data.store import load_sequences
from core.data.vocab import UNK, Vocab
from core.workspace import Workspace

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def weekly(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Weeks 1-6 (ingested as w1, a trained + analysed run r) and week 7+ (w2, with two new
    users, an item never seen before, and a formula-like user id)."""
    root = tmp_path_factory.mktemp("weekly")
    log = pd.read_csv(SAMPLE / "events.csv", dtype=str, keep_default_na=False)
    stamp = pd.to_datetime(log["timestamp"])
    cut = stamp.quantile(0.8)
    log[stamp <= cut].to_csv(root / "w1.csv", index=False)
    later = log[stamp > cut]
    extra = later.head(12).copy()
    extra["user_id"] = ["newcomer"] * 6 + ["=HYPERLINK(1)"] * 6
    extra.loc[extra.index[:3], "item_id"] = "unseen-item"
    pd.concat([later, extra]).to_csv(root / "w2.csv", index=False)
    ws = ["--workspace", str(root / "ws")]
    items = ["--items", str(SAMPLE / "items.csv")]
    assert main(["ingest", str(root / "w1.csv"), "--name", "w1", *items, *ws]) == 0
    assert main(["ingest", str(root / "w2.csv"), "--name", "w2", *ws]) == 0
    assert main(["ingest", str(root / "w1.csv"), "--name", "w1again", *ws]) == 0
    train = ["train", "--dataset", "w1", "--run", "r", "--epochs", "2", "--analyze", "--dim", "32"]
    assert main([*train, *ws]) == 0
    return Workspace.at(root / "ws")


def test_score_writes_predictions_segments_anomalies_and_drift(weekly: Workspace, capsys) -> None:
    run_dir = weekly.run_dir("r")
    fitted = (run_dir / "segment_model.json").read_bytes()
    capsys.readouterr()
    args = ["score", "--run", "r", "--dataset", "w2", "--top-k", "5"]
    assert main([*args, "--workspace", str(weekly.root)]) == 0
    drift = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    folder = scored_dir(weekly, "r", "w2")
    users = pd.read_parquet(folder / "users.parquet")
    new = load_sequences(weekly, "w2")
    assert sorted(users["user_id"]) == sorted(new.user_ids.astype(str))
    assert drift["users"] == len(users) and drift["known_users"] == users["known"].sum()
    by_id = users.set_index("user_id")
    assert not by_id.loc["newcomer", "known"] and by_id.loc["newcomer", "history_events"] == 0
    assert by_id["known"].mean() > 0.9 and (by_id.loc[by_id["known"], "history_events"] > 0).all()
    assert 0 < drift["unseen_item_share"] < 0.01  # the unseen item: counted, read as unknown
    assert drift["event_mix"]["distance"] < 0.1 and "view" in drift["event_mix"]["after"]
    assert drift["ndcg@10"] > drift["baselines"]["popular"]["ndcg@10"]
    assert drift["training_ndcg@10"] > 0 and drift["verdict"].startswith(("The model", "Retrain"))
    assert drift["overlap_share"] < 0.01 and "Careful" not in drift["verdict"]
    segments = pd.read_parquet(run_dir / "segments.parquet")
    assert set(users["segment"]) <= set(segments["segment"])
    assert users["anomaly_score"].notna().all() and users["flagged"].mean() < 0.1
    predictions = pd.read_parquet(folder / "predictions.parquet")
    assert len(predictions) == 5 * len(users) and "unseen-item" not in set(predictions["item_id"])
    assert (run_dir / "segment_model.json").read_bytes() == fitted  # transform, never refit
    text = (folder / "users.csv").read_text()
    assert "'=HYPERLINK(1)" in text and "\n=HYPERLINK" not in text


def test_same_users_land_in_their_training_segments(weekly: Workspace) -> None:
    args = ["score", "--run", "r", "--dataset", "w1again", "--no-history"]
    assert main([*args, "--workspace", str(weekly.root)]) == 0
    folder = scored_dir(weekly, "r", "w1again")
    scored = pd.read_parquet(folder / "users.parquet")
    drift = json.loads((folder / "drift.json").read_text())
    assert drift["overlap_share"] == 1.0 and "Careful: 100%" in drift["verdict"]  # not new data
    trained = pd.read_parquet(weekly.run_dir("r") / "segment_assignments.parquet")
    both = scored.merge(trained, on="user_id", suffixes=("_scored", "_trained"))
    assert len(both) == len(trained)
    assert (both["segment_scored"] == both["segment_trained"]).mean() > 0.99


def test_scoring_the_training_dataset_is_refused(weekly: Workspace, capsys) -> None:
    args = ["score", "--run", "r", "--dataset", "w1", "--workspace", str(weekly.root)]
    assert main(args) == 2
    assert "trained on" in capsys.readouterr().err


def _renamed_period(weekly: Workspace, name: str, users: bool) -> None:
    """Week 7+ with every item id renamed (and every user id too when `users`)."""
    log = pd.read_csv(SAMPLE / "events.csv", dtype=str, keep_default_na=False)
    later = log[pd.to_datetime(log["timestamp"]) > pd.to_datetime(log["timestamp"]).quantile(0.8)]
    later = later.assign(item_id="other-" + later["item_id"])
    if users:
        later = later.assign(user_id="someone-" + later["user_id"])
    path = weekly.root.parent / f"{name}.csv"
    later.to_csv(path, index=False)
    assert main(["ingest", str(path), "--name", name, "--workspace", str(weekly.root)]) == 0


def test_a_log_with_nothing_in_common_is_refused_before_anything_is_written(
    weekly: Workspace, capsys
) -> None:
    _renamed_period(weekly, "elsewhere", users=True)
    capsys.readouterr()
    args = ["score", "--run", "r", "--dataset", "elsewhere", "--workspace", str(weekly.root)]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "does not look like a later period" in error and "Traceback" not in error
    assert not scored_dir(weekly, "r", "elsewhere").exists()


def test_known_users_on_a_whole_new_catalogue_still_get_segments(weekly: Workspace) -> None:
    """No item the run knows (and no history read): the item-preference block is missing, so it
    sits at the centre instead of failing; the drift says the catalogue moved on."""
    _renamed_period(weekly, "newcatalogue", users=False)
    args = ["score", "--run", "r", "--dataset", "newcatalogue", "--no-history"]
    assert main([*args, "--workspace", str(weekly.root)]) == 0
    folder = scored_dir(weekly, "r", "newcatalogue")
    users = pd.read_parquet(folder / "users.parquet")
    assert users["segment"].notna().all()
    assert json.loads((folder / "drift.json").read_text())["unseen_item_share"] == 1.0


def test_remap_keeps_reserved_ids_and_unknowns_become_unk() -> None:
    source, target = Vocab.build(["a", "b", "z"]), Vocab.build(["b", "a"])
    assert remap(source, target).tolist() == [0, 1, 2, 4, 3, UNK]


def test_align_prepends_known_history(weekly: Workspace) -> None:
    train, new = load_sequences(weekly, "w1"), load_sequences(weekly, "w2")
    period = align(new, train)
    user = int(period.known.nonzero()[0][0])
    known_id = str(new.user_ids[user])
    history = (
        train.offsets[train.user_index(known_id) + 1] - train.offsets[train.user_index(known_id)]
    )
    assert period.new_start[user] - period.sequences.offsets[user] == history
    assert period.sequences.item_vocab is train.item_vocab


def test_report_has_a_new_period_section(weekly: Workspace) -> None:
    from core.reports.build import build_report_parts
    from core.reports.request import ReportRequest

    assert main(["score", "--run", "r", "--dataset", "w2", "--workspace", str(weekly.root)]) == 0
    html, parts = build_report_parts(weekly, ReportRequest("w1", "r"))
    assert "new_period" in parts["sections"] and "New period" in html
    assert "w2" in html and ("still beats" in html or "Retrain" in html)
    assert "new_period" in parts["tables"]
