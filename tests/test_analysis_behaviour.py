"""Behaviour analytics against tiny fixtures whose every expected number is counted by hand."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_analysis_behaviour_data import DAY, WEEK, write_events

from core.analysis.behaviour import (
    PathsConfig,
    data_summary,
    event_volume,
    funnel,
    retention,
    retention_matrix,
    sankey_nodes,
    top_paths,
)
from core.errors import BehaviorLensError, InputError

# u1 converts; u2 skips cart; u3 does cart before view (out of order); u4 buys in a later
# session; u5 only buys; u6 views twice and converts 1 minute after the second view.
FUNNEL_ROWS = [
    ("u1", 0, 0, "view", "a"), ("u1", 0, 1, "cart", "a"), ("u1", 0, 2, "buy", "a"),
    ("u2", 0, 0, "view", "a"), ("u2", 0, 5, "buy", "a"),
    ("u3", 0, 0, "cart", "a"), ("u3", 0, 1, "view", "a"), ("u3", 0, 2, "buy", "a"),
    ("u4", 0, 0, "view", "a"), ("u4", 0, 1, "cart", "a"), ("u4", 1, DAY, "buy", "a"),
    ("u5", 0, 0, "buy", "a"),
    ("u6", 0, 0, "view", "a"), ("u6", 0, 10, "view", "a"), ("u6", 0, 11, "cart", "a"),
    ("u6", 0, 12, "buy", "a"),
]  # fmt: skip


@pytest.fixture
def funnel_file(tmp_path: Path) -> Path:
    return write_events(tmp_path / "events.parquet", FUNNEL_ROWS)


def test_funnel_by_session_counts_only_in_order_steps(funnel_file: Path) -> None:
    table = funnel(funnel_file, ["view", "cart", "buy"], within="session")
    assert list(table["count"]) == [5, 3, 2]  # u3 is out of order, u4 buys in another session
    assert list(table["drop_off"]) == [0, 2, 1]
    assert table["from_previous"].tolist() == pytest.approx([1.0, 0.6, 2 / 3])
    assert table["from_first"].tolist() == pytest.approx([1.0, 0.6, 0.4])
    assert table["median_seconds_from_previous"].iloc[1] == pytest.approx(60.0)
    assert math.isnan(table["median_seconds_from_previous"].iloc[0])


def test_funnel_by_user_crosses_sessions(funnel_file: Path) -> None:
    table = funnel(funnel_file, ["view", "cart", "buy"], within="user")
    assert list(table["count"]) == [5, 3, 3]  # u4 now completes


def test_funnel_max_gap_uses_latest_previous_step(funnel_file: Path) -> None:
    table = funnel(
        funnel_file, ["view", "cart", "buy"], within="user", max_gap=timedelta(minutes=5)
    )
    # u6's cart is 11 min after the first view but 1 min after the second: still reached.
    # u4's buy is a day after its cart: lost.
    assert list(table["count"]) == [5, 3, 2]


def test_funnel_repeated_step_needs_a_later_event(funnel_file: Path) -> None:
    table = funnel(funnel_file, ["view", "view"], within="user")
    assert list(table["count"]) == [5, 1]  # only u6 views twice


def test_funnel_restricted_to_users(funnel_file: Path) -> None:
    table = funnel(funnel_file, ["view", "cart"], within="user", user_ids=["u1", "u2"])
    assert list(table["count"]) == [2, 1]


@pytest.mark.parametrize(
    ("steps", "kwargs", "message"),
    [
        (["view", "kart"], {}, "unknown event type 'kart'"),
        ([], {}, "at least one step"),
        (["view"], {"within": "visit"}, "within must be"),
        (["view"], {"max_gap": timedelta(0)}, "max_gap must be positive"),
    ],
)
def test_funnel_rejects_bad_requests(funnel_file: Path, steps, kwargs, message) -> None:
    with pytest.raises(BehaviorLensError, match=message):
        funnel(funnel_file, steps, **kwargs)


PATH_ROWS = [
    ("u1", 0, 0, "view", "a", "x"), ("u1", 0, 1, "view", "b", "x"), ("u1", 0, 2, "cart", "b", "y"),
    ("u1", 0, 3, "buy", "b", "y"),
    ("u2", 0, 0, "view", "a", "x"), ("u2", 0, 1, "cart", "a", "x"),
    ("u3", 0, 0, "view", "a", "x"),
    ("u4", 0, 0, "cart", "a", None), ("u4", 0, 1, "view", "a", "x"), ("u4", 0, 2, "cart", "a", "x"),
]  # fmt: skip


def test_top_paths_collapse_repeats_and_mark_the_end(tmp_path: Path) -> None:
    result = top_paths(write_events(tmp_path / "e.parquet", PATH_ROWS), PathsConfig(length=3))
    counts = dict(zip(result.paths["path"], result.paths["count"], strict=True))
    assert counts == {
        "view → cart → buy": 1,  # u1: the repeated view collapses
        "view → cart → (end)": 1,
        "view → (end)": 1,
        "cart → view → cart": 1,
    }
    assert result.paths["share"].sum() == pytest.approx(1.0)
    links = {
        (s, a, b): n
        for s, a, b, n in result.links[["step", "source", "target", "count"]].itertuples(
            index=False
        )
    }
    assert links[(1, "view", "cart")] == 2
    assert links[(2, "cart", "(end)")] == 1
    assert sum(result.links.loc[result.links["step"] == 1, "count"]) == 4  # one per session
    nodes, sources, targets = sankey_nodes(result.links)
    assert nodes[0].startswith("1. ") and len(sources) == len(targets) == len(result.links)


def test_top_paths_from_start_event_and_by_category(tmp_path: Path) -> None:
    path = write_events(tmp_path / "e.parquet", PATH_ROWS)
    started = top_paths(path, start_event="cart", length=2)
    assert sorted(started.paths["path"]) == ["cart → (end)", "cart → buy", "cart → view"]
    by_category = top_paths(path, level="category", length=3, top=1)
    assert list(by_category.paths["path"]) == ["x → (end)"]  # u2 and u3
    assert list(by_category.paths["count"]) == [2]


def test_top_paths_lumps_rare_nodes(tmp_path: Path) -> None:
    rows = [(f"u{i}", 0, 0, f"e{i}", "a") for i in range(5)] + [("u0", 0, 1, "e1", "a")]
    result = top_paths(write_events(tmp_path / "e.parquet", rows), max_nodes_per_step=2)
    first = set(result.links.loc[result.links["step"] == 1, "source"])
    assert "(other)" in first and len(first) == 3


def test_retention_cohorts_by_week(tmp_path: Path) -> None:
    rows = [
        ("u1", 0, 0, "view", "a"), ("u1", 1, WEEK + 5, "view", "a"),
        ("u1", 2, 3 * WEEK + DAY, "view", "a"),
        ("u2", 0, WEEK - 1, "view", "a"),  # Sunday 23:59: still the first week
        ("u3", 0, WEEK + DAY, "view", "a"), ("u3", 1, 2 * WEEK, "view", "a"),
    ]  # fmt: skip
    long = retention(write_events(tmp_path / "e.parquet", rows), period="week")
    matrix = retention_matrix(long)
    assert [str(c) for c in matrix.index] == ["2026-01-05", "2026-01-12"]
    assert matrix.iloc[0].tolist() == pytest.approx([1.0, 0.5, 0.0, 0.5])
    assert matrix.iloc[1, :3].tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert math.isnan(matrix.iloc[1, 3])  # past the end of the data: unknown, not zero
    assert set(long.loc[long["cohort"].astype(str) == "2026-01-05", "cohort_size"]) == {2}


def test_event_volume_fills_gaps(tmp_path: Path) -> None:
    rows = [
        ("u1", 0, 0, "view", "a"), ("u1", 0, 30, "cart", "a"), ("u1", 1, 2 * DAY + 5, "view", "b"),
        ("u2", 0, 10, "view", "a"), ("u2", 0, 70, "view", "c"),
    ]  # fmt: skip
    path = write_events(tmp_path / "e.parquet", rows)
    daily = event_volume(path, freq="day")
    views = daily[daily["event"] == "view"]
    assert views["events"].tolist() == [3, 0, 1]
    assert views["users"].tolist() == [2, 0, 1]
    total = event_volume(path, freq="hour", by_event=False)
    assert total["events"].sum() == 5 and total["events"].iloc[:2].tolist() == [3, 1]
    assert len(total) == 49  # hours 0..48 inclusive


def test_data_summary_headline_and_distributions(tmp_path: Path) -> None:
    rows = [
        ("u1", 0, 0, "view", "a"), ("u1", 0, 30, "cart", "a"), ("u1", 1, 2 * DAY, "view", "b"),
        ("u2", 0, 10, "view", "a"), ("u2", 0, 70, "view", "c"),
    ]  # fmt: skip
    manifest = {"name": "shop", "has_time": True, "stats": {"rejected_rows": 3}}
    summary = data_summary(write_events(tmp_path / "e.parquet", rows), manifest)
    head = summary.headline_dict()
    assert (head["users"], head["events"], head["items"], head["sessions"]) == (2, 5, 3, 3)
    assert head["rejected rows"] == 3 and head["dataset"] == "shop"
    per_user = summary.events_per_user.set_index("stat")["events"]
    assert (per_user["min"], per_user["max"], per_user["p50"]) == (2.0, 3.0, 2.5)
    sessions = summary.session_length.set_index("stat")
    assert sessions.loc["max", "minutes"] == pytest.approx(60.0)
    assert sessions.loc["max", "events"] == 2.0
    mix = summary.event_mix
    assert mix["event"].tolist() == ["view", "cart"] and mix["events"].tolist() == [4, 1]
    assert mix["share"].tolist() == pytest.approx([0.8, 0.2])


def test_missing_file_and_missing_column_are_named(tmp_path: Path) -> None:
    with pytest.raises(BehaviorLensError, match="events file not found"):
        funnel(tmp_path / "nope.parquet", ["view"])
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"user_idx": [0], "user_id": ["u"]}), bad)
    with pytest.raises(InputError) as caught:
        retention(bad)
    assert caught.value.column == "session_idx" and "bad.parquet" in str(caught.value)


@pytest.mark.parametrize(
    ("kinds", "steps"),
    [
        (["pv", "cart", "fav", "buy"], ["pv", "cart", "buy"]),  # taobao: no side step in the path
        (["view", "add_to_cart", "purchase", "search", "remove_from_cart"],
         ["view", "add_to_cart", "purchase"]),
        (["page_view", "scroll", "purchase"], ["page_view", "purchase"]),
        (["a", "b", "c", "d", "e"], ["a", "b", "c", "d"]),  # no names to go by: by frequency
    ],
)  # fmt: skip
def test_default_funnel_is_start_cart_purchase(kinds: list[str], steps: list[str]) -> None:
    from core.analysis.funnels import default_funnel_steps

    assert default_funnel_steps(kinds) == steps
