"""Item labels and revenue in every view: predictions, explanations, segments, funnel, report.

A tiny log is ingested without attribute columns; the item table (titles, prices) is written
next to it by hand, as the ingest of an item file would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.analysis.explain import explain_user
from core.analysis.funnels import funnel
from core.analysis.item_labels import (
    label_segment_items,
    option_text,
    price_frame,
    unique_labels,
    with_labels,
)
from core.analysis.next_actions import GenerationConfig, generate, next_actions, what_if
from core.analysis.segment_profile import NO_REVENUE_NOTE, revenue_note, segment_profiles
from core.analysis.segment_space import BlockWeights
from core.analysis.segments import SegmentConfig, segment_run
from core.analysis.user_features import user_behaviour
from core.cli import main
from core.cli.predict import top_items
from core.data.ingest import IngestOptions, ingest
from core.data.items import (
    NO_ITEM_LABEL,
    ItemCatalog,
    build_item_table,
    load_item_catalog,
    write_item_table,
)
from core.data.store import events_path, load_sequences
from core.data.vocab import NO_ITEM, Vocab
from core.inference.loading import load_run
from core.reports.build import build_report_parts
from core.reports.request import ReportRequest
from core.training.config import ModelOptions, TrainConfig
from core.training.run import train_on_sequences
from core.workspace import Workspace

ITEMS = [str(1001 + i) for i in range(8)]
TITLES = {item: f"Product {chr(65 + i)}" for i, item in enumerate(ITEMS)}  # 1001 -> Product A
PRICES = {item: 10.0 * (i + 1) for i, item in enumerate(ITEMS)}  # 1001 -> 10.0


def _log(path: Path, events: tuple[str, ...]) -> Path:
    """24 users, one session each: view two items, then the later event types on the second."""
    rows = ["user_id,timestamp,event_type,item_id"]
    for u in range(24):
        first, second = ITEMS[u % 8], ITEMS[(u + 3) % 8]
        steps = [(events[0], first), (events[0], second)]
        steps += [(event, second) for event in events[1 : 2 + u % 2]]  # odd users go further
        for s, (event, item) in enumerate(steps):
            rows.append(f"u{u},2024-01-0{1 + u % 5}T10:{s:02d}:00Z,{event},{item}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _dataset(root: Path, name: str, events: tuple[str, ...], prices: bool) -> Workspace:
    """Dataset `name` with an item table of titles (and prices when `prices`)."""
    workspace = Workspace.at(root / "ws")
    ingest(_log(root / f"{name}.csv", events), name, workspace, IngestOptions())
    frame = pd.DataFrame({"item": ITEMS, "title": [TITLES[i] for i in ITEMS]})
    if prices:
        frame["price"] = [PRICES[i] for i in ITEMS]
    write_item_table(build_item_table(frame), workspace.dataset_dir(name))
    return workspace


@dataclass
class Shop:
    workspace: Workspace
    dataset: str
    run: str


def _shop(root: Path) -> Shop:
    workspace = _dataset(root, "shop", ("view", "add_to_cart", "purchase"), prices=True)
    sequences = load_sequences(workspace, "shop")
    config = TrainConfig(epochs=1, eval_max_users=10, device="cpu", seed=0)
    options = ModelOptions(max_len=8, dim=16, layers=1, heads=1, dropout=0.1)
    train_on_sequences(sequences, "shop", workspace.run_dir("r"), config, options)
    return Shop(workspace, "shop", "r")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """A priced shop log with a 1-epoch run `r` (trained once for the module)."""
    return _shop(tmp_path_factory.mktemp("item_labels_shop"))


def _catalog(columns: dict[str, list[str]]) -> ItemCatalog:
    """A catalogue as load_item_catalog makes it, without a dataset."""
    return ItemCatalog(build_item_table(pd.DataFrame(columns)).set_index("item"))


def test_catalog_helpers_label_beside_ids() -> None:
    catalog = _catalog({"item": ["1", "2"], "title": ["A", "A"]})
    frame = with_labels(pd.DataFrame({"rank": [1, 2, 3], "item": ["1", "2", "9"]}), catalog)
    assert list(frame.columns) == ["rank", "item", "label"]
    assert list(frame["label"]) == ["A", "A", "9"]  # unknown ids read as themselves
    assert unique_labels(list(frame["label"]), list(frame["item"])) == ["A (1)", "A (2)", "9"]
    assert option_text("1", catalog) == "A (1)" and option_text("9", catalog) == "9"
    assert price_frame(catalog) is None  # no price column: no revenue anywhere
    searches = with_labels(
        pd.DataFrame({"event": ["search", "view"], "item": [None, "1"]}), catalog
    )
    assert searches["label"].isna().tolist() == [True, False]  # item-less: missing, not "nan"
    assert searches["label"].iloc[1] == "A"


def test_no_item_token_is_never_recommended() -> None:
    vocab = Vocab.build([NO_ITEM, "a", "b", "c"])
    probs = np.array([0.0, 0.0, 0.0, 0.7, 0.05, 0.2, 0.05])  # the no-item token is most likely
    rows = top_items(probs, vocab, top_k=10, seen=set())
    assert [r["id"] for r in rows] == ["b", "a", "c"]
    assert ItemCatalog().label(NO_ITEM) == NO_ITEM_LABEL


def test_cli_predict_lists_labels_and_ids(shop: Shop, capsys: pytest.CaptureFixture) -> None:
    root = str(shop.workspace.root)
    assert main(["predict", "--run", shop.run, "--user", "u1", "--workspace", root]) == 0
    items = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["items"]
    assert {r["id"] for r in items} <= set(ITEMS)
    assert all(r["label"] == TITLES[r["id"]] for r in items)


def test_next_actions_what_if_and_generation_carry_labels(shop: Shop) -> None:
    loaded = load_run(shop.workspace, shop.run, "cpu")
    sequences = load_sequences(shop.workspace, shop.dataset)
    catalog = load_item_catalog(shop.workspace, shop.dataset)
    items = next_actions(loaded, sequences, ["u3"], top_k=4, catalog=catalog)["u3"].items
    assert list(items.columns[:3]) == ["rank", "item", "label"]
    assert list(items["label"]) == [TITLES[i] for i in items["item"]]
    typed = what_if(loaded, sequences, [(ITEMS[0], "view")], top_k=3, catalog=catalog)
    assert list(typed.items["label"]) == [TITLES[i] for i in typed.items["item"]]
    config = GenerationConfig(steps=3, seed=1)
    steps = generate(loaded, sequences, [(ITEMS[0], "view")], config, catalog=catalog)
    assert list(steps["label"]) == [TITLES[i] for i in steps["item"]]
    plain = next_actions(loaded, sequences, ["u3"], top_k=4)["u3"].items  # no catalogue: ids
    assert list(plain["label"]) == list(plain["item"])


def test_explanation_labels_events_and_target(shop: Shop) -> None:
    loaded = load_run(shop.workspace, shop.run, "cpu")
    sequences = load_sequences(shop.workspace, shop.dataset)
    catalog = load_item_catalog(shop.workspace, shop.dataset)
    view = explain_user(loaded, sequences, "u1", steps=4, catalog=catalog)
    assert view.target_label == TITLES[view.target_item]
    assert [e.label for e in view.events] == [TITLES[e.item] for e in view.events]
    assert all(r["label"] == TITLES[r["item"]] for r in view.top_items)
    assert view.top_events(1)[0]["label"] == TITLES[view.top_events(1)[0]["item"]]


def _expected_revenue(shop: Shop, segment_of: dict[str, int]) -> dict[int, float]:
    """{segment: summed price of its users' purchased items}, straight from events.parquet."""
    log = pd.read_parquet(events_path(shop.workspace, shop.dataset))
    bought = log[log["event"] == "purchase"]
    paid = bought["item"].map(PRICES).groupby(bought["user_id"].map(segment_of)).sum()
    return {int(s): float(v) for s, v in paid.items()}


def test_segment_profiles_label_top_items_and_sum_revenue(shop: Shop) -> None:
    sequences = load_sequences(shop.workspace, shop.dataset)
    catalog = load_item_catalog(shop.workspace, shop.dataset)
    segment_of = {str(u): int(str(u)[1:]) % 2 for u in sequences.user_ids}  # odd users buy
    labels = np.array([segment_of[str(u)] for u in sequences.user_ids])
    profiles = segment_profiles(sequences, labels, user_behaviour(sequences), catalog)
    for labels_cell, ids_cell in zip(profiles["top_items"], profiles["top_item_ids"], strict=True):
        assert labels_cell.split(", ") == [TITLES[i] for i in ids_cell.split(", ")]
    expected = _expected_revenue(shop, segment_of)
    assert set(expected) == {1} and expected[1] > 0  # only odd users reach the purchase
    got = dict(zip(profiles["segment"], profiles["revenue"], strict=True))
    assert got == pytest.approx({s: expected.get(s, 0.0) for s in got})
    assert revenue_note(profiles, catalog) is None


def test_funnel_reports_revenue_per_step_only_with_prices(shop: Shop) -> None:
    path = events_path(shop.workspace, shop.dataset)
    catalog = load_item_catalog(shop.workspace, shop.dataset)
    table = funnel(path, ["view", "purchase"], "user", prices=price_frame(catalog))
    log = pd.read_parquet(path)
    for step, event in ((0, "view"), (1, "purchase")):
        expected = log.loc[log["event"] == event, "item"].map(PRICES).sum()
        assert table["revenue"].iloc[step] == pytest.approx(expected)
    assert "revenue" not in funnel(path, ["view", "purchase"], "user")


def test_report_shows_labels_revenue_and_exports_ids(shop: Shop) -> None:
    segment_run(
        shop.workspace,
        shop.run,
        SegmentConfig(k=2, weights=BlockWeights(predicted=0, state=0, preference=0)),
    )
    html, parts = build_report_parts(shop.workspace, ReportRequest(shop.dataset, run=shop.run))
    assert "Product " in html and "Revenue" in html and "revenue" in html
    segments, steps = parts["tables"]["segments"], parts["tables"]["funnel"]
    ids = {i for cell in segments["top_item_ids"] for i in cell.split(", ")}
    assert ids <= set(ITEMS) and "revenue" in segments and "revenue" in steps


def test_old_segment_files_are_relabelled() -> None:
    catalog = _catalog({"item": ["1", "2"], "title": ["A", "B"]})
    old = pd.DataFrame({"segment": [0], "top_items": ["2, 1, 7"]})
    new = label_segment_items(old, catalog)
    assert new["top_items"].iloc[0] == "B, A, 7" and new["top_item_ids"].iloc[0] == "2, 1, 7"


def test_no_prices_means_no_revenue_column(tmp_path: Path) -> None:
    workspace = _dataset(tmp_path, "titles", ("view", "add_to_cart", "purchase"), prices=False)
    sequences = load_sequences(workspace, "titles")
    catalog = load_item_catalog(workspace, "titles")
    labels = np.arange(sequences.num_users) % 2
    profiles = segment_profiles(sequences, labels, user_behaviour(sequences), catalog)
    assert "revenue" not in profiles and revenue_note(profiles, catalog) is None
    assert set(profiles["top_items"].str.split(", ").explode()) <= set(TITLES.values())
    html, parts = build_report_parts(workspace, ReportRequest("titles"))
    assert "revenue" not in parts["tables"]["funnel"] and "revenue" not in html.lower()


def test_prices_without_a_purchase_event_say_revenue_is_not_computed(tmp_path: Path) -> None:
    workspace = _dataset(tmp_path, "browse", ("view", "add_to_cart"), prices=True)
    sequences = load_sequences(workspace, "browse")
    catalog = load_item_catalog(workspace, "browse")
    labels = np.arange(sequences.num_users) % 2
    profiles = segment_profiles(sequences, labels, user_behaviour(sequences), catalog)
    assert "revenue" not in profiles
    assert revenue_note(profiles, catalog) == NO_REVENUE_NOTE
