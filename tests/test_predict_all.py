"""`predict --all`: every user's top-k next items (with labels) and next event, in one file.

A tiny shop log with an item table whose titles and a user id look like spreadsheet formulas,
and a 1-epoch run trained once; the shipped demo run (its log has item-less searches, so the
no-item token is in the vocabulary) checks that the token is never listed.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from core.analysis.all_predictions import prediction_frames, predictions_csv
from core.analysis.item_topk import ItemTopK
from core.cli import main
from core.data.ingest import ingest
from core.data.items import build_item_table, load_item_catalog, write_item_table
from core.data.store import load_sequences
from core.data.vocab import NO_ITEM
from core.inference.loading import load_run
from core.training.config import ModelOptions, TrainConfig
from core.training.run import train_on_sequences
from core.workspace import Workspace
from sample_data.demo import ensure_demo

ITEMS = [f"i{i}" for i in range(9)]
TITLES = {item: f"Product {item}" for item in ITEMS} | {"i1": '=HYPERLINK("x")'}
USERS = [f"u{u}" for u in range(19)] + ["-2+3"]  # a user id a spreadsheet would compute


@dataclass
class Shop:
    workspace: Workspace
    root: Path


def _log(path: Path) -> Path:
    rows = ["user_id,timestamp,event_type,item_id"]
    for u, user in enumerate(USERS):
        steps = [("view", ITEMS[u % 9]), ("view", ITEMS[(u + 2) % 9])]  # no search: see the
        # demo test (a tiny log with searches trips the trainer's sparse-gradient clip today)
        steps += [("purchase", ITEMS[(u + 2) % 9])] * (u % 2)
        for s, (event, item) in enumerate(steps):
            rows.append(f"{user},2024-01-0{1 + u % 5}T10:{s:02d}:00Z,{event},{item}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    root = tmp_path_factory.mktemp("predict_all")
    workspace = Workspace.at(root / "ws")
    ingest(_log(root / "shop.csv"), "shop", workspace)
    table = pd.DataFrame({"item": ITEMS, "title": [TITLES[i] for i in ITEMS]})
    write_item_table(build_item_table(table), workspace.dataset_dir("shop"))
    sequences = load_sequences(workspace, "shop")
    config = TrainConfig(epochs=1, eval_max_users=10, device="cpu", seed=0)
    options = ModelOptions(max_len=8, dim=16, layers=1, heads=1, dropout=0.1)
    train_on_sequences(sequences, "shop", workspace.run_dir("r"), config, options)
    return Shop(workspace, root)


def _cli(shop: Shop, capsys, *args: str) -> dict:
    assert main(["predict", "--workspace", str(shop.workspace.root), "--run", "r", *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_csv_lists_k_labelled_items_for_every_user_and_is_formula_safe(shop, capsys) -> None:
    out = shop.root / "all.csv"
    summary = _cli(shop, capsys, "--all", "--out", str(out), "--top-k", "3")
    assert summary["users"] == len(USERS) and summary["rows"] == 3 * len(USERS)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["user_id", "rank", "item_id", "item_label", "prob", "seen",
                             "next_event", "next_event_prob"]  # fmt: skip
    frame = pd.DataFrame(rows)
    assert set(frame["user_id"]) == {f"u{u}" for u in range(19)} | {"'-2+3"}  # neutralised
    assert (frame.groupby("user_id").size() == 3).all()
    assert all(ranks == ["1", "2", "3"] for ranks in frame.groupby("user_id")["rank"].apply(list))
    assert NO_ITEM not in set(frame["item_id"]) and set(frame["item_id"]) <= set(ITEMS)
    labels = dict(zip(frame["item_id"], frame["item_label"], strict=True))
    for item, label in labels.items():
        assert label == ("'" + TITLES[item] if item == "i1" else TITLES[item])
    for cell in (c for row in rows for c in row.values()):
        assert not cell.startswith(("=", "+", "-", "@"))
    probs = frame["prob"].astype(float)
    assert ((probs > 0) & (probs <= 1)).all()
    assert set(frame["next_event"]) <= {"view", "purchase"}
    assert set(frame["seen"]) <= {"true", "false"}


def test_parquet_matches_the_per_user_prediction(shop, capsys) -> None:
    out = shop.root / "all.parquet"
    _cli(shop, capsys, "--all", "--out", str(out), "--top-k", "4")
    frame = pd.read_parquet(out)
    assert len(frame) == 4 * len(USERS) and frame["seen"].dtype == bool
    one = _cli(shop, capsys, "--user", "u5", "--top-k", "4")
    mine = frame[frame["user_id"] == "u5"].sort_values("rank")
    assert list(mine["item_id"]) == [i["id"] for i in one["items"]]
    assert np.allclose(mine["prob"], [i["prob"] for i in one["items"]], atol=1e-5)
    assert list(mine["seen"]) == [i["seen"] for i in one["items"]]
    assert mine["next_event"].iloc[0] == one["events"][0]["type"]
    assert mine["next_event_prob"].iloc[0] == pytest.approx(one["events"][0]["prob"], abs=1e-5)
    assert set(frame["user_id"]) == set(USERS)  # Parquet keeps ids as they are


def test_top_k_is_capped_at_the_real_items_and_chunks_cover_everyone(shop) -> None:
    loaded = load_run(shop.workspace, "r", "cpu")
    sequences = load_sequences(shop.workspace, "shop")
    catalog = load_item_catalog(shop.workspace, "shop")
    frames = list(prediction_frames(loaded, sequences, catalog, 50, csv_safe=False, chunk=7))
    assert len(frames) == 3  # 20 users in chunks of 7
    frame = pd.concat(frames)
    assert len(frame) == len(USERS) * len(ITEMS) and NO_ITEM not in set(frame["item_id"])
    assert predictions_csv(loaded, sequences, catalog, 2).count(b"\n") == 1 + 2 * len(USERS)


@pytest.mark.parametrize("item_block", [3, 4096])
def test_blocked_top_k_equals_the_full_softmax(shop, item_block: int) -> None:
    loaded = load_run(shop.workspace, "r", "cpu")
    hidden = torch.randn(5, loaded.model_config.dim)
    head = loaded.model.item_head
    with torch.inference_mode():
        full = torch.topk(head.predict(hidden), 4, dim=1)
        ids, probs = ItemTopK(head, item_block)(hidden, 4)
    assert torch.equal(ids, full.indices) and torch.allclose(probs, full.values, atol=1e-6)


@pytest.mark.parametrize("offset", [-300.0, 0.0, 300.0])
def test_online_normaliser_survives_logits_far_from_zero_and_late_maxima(offset: float) -> None:
    """Logits around -300 (exp underflows without a shift) or +300 (overflows), with the best
    items in the last block so the running shift and sum must be rescaled on the way."""
    torch.manual_seed(0)
    items, dim, reserved = 50, 8, 3
    embedding = torch.nn.Embedding(items, dim)
    bias = torch.full((items,), offset)
    bias[-4:] += torch.tensor([40.0, 30.0, 20.0, 10.0])  # the last block holds the top 4
    head = SimpleNamespace(embedding=embedding, bias=bias, never_ranked=reserved)
    hidden = torch.randn(6, dim)
    with torch.inference_mode():
        logits = hidden @ embedding.weight.T + bias  # (6, items)
        logits[:, :reserved] = float("-inf")
        full = torch.topk(torch.softmax(logits.double(), dim=1), 4, dim=1)
        ids, probs = ItemTopK(head, item_block=7)(hidden, 4)
    assert torch.equal(ids, full.indices)
    assert torch.allclose(probs.double(), full.values, rtol=1e-5, atol=1e-7)


def test_bad_arguments_are_one_line_errors(shop, capsys) -> None:
    ws = str(shop.workspace.root)
    assert main(["predict", "--workspace", ws, "--run", "r", "--all"]) == 2
    assert main(["predict", "--workspace", ws, "--run", "r", "--all", "--out", "x.xlsx"]) == 2
    assert ".csv or .parquet" in capsys.readouterr().err


def test_the_no_item_token_is_never_listed(tmp_path: Path, capsys) -> None:
    workspace = Workspace.at(tmp_path / "ws")
    info = ensure_demo(workspace)
    sequences = load_sequences(workspace, info.dataset)
    assert sequences.item_vocab.no_item_id is not None  # the sample log has searches
    out = tmp_path / "demo.parquet"
    args = ["--workspace", str(workspace.root), "--run", info.run, "--all", "--out", str(out)]
    assert main(["predict", *args, "--top-k", "20"]) == 0
    frame = pd.read_parquet(out)
    assert len(frame) == 20 * sequences.num_users
    assert NO_ITEM not in set(frame["item_id"]) and "(no item)" not in set(frame["item_label"])
    assert frame["item_label"].ne(frame["item_id"]).any()  # the sample has an item table
