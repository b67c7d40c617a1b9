"""The bundled sample data: reproducible, as documented, and carrying the structure we planted."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sample_data import generate
from sample_data.generate import EVENTS_FILE, ITEMS_FILE, TRUTH_FILE, GeneratorConfig

SAMPLE_DIR = Path(generate.__file__).resolve().parent
EVENT_TYPES = {"search", "view", "add_to_cart", "remove_from_cart", "purchase"}
# The documented mix of the default 1,500 users (sample_data/README.md).
DOCUMENTED_INTENTS = {
    "bargain_hunter": 326,
    "decisive_buyer": 326,
    "loyal_repeater": 266,
    "cart_abandoner": 325,
    "category_researcher": 237,
    "none": 20,  # bots and scrapers have no shopping intent
}
DOCUMENTED_ANOMALIES = {"bot": 10, "burst": 10, "scraper": 10}


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    frame = pd.read_csv(SAMPLE_DIR / EVENTS_FILE, dtype={"user_id": str, "item_id": str})
    frame["ts"] = pd.to_datetime(frame["timestamp"], format="%Y-%m-%dT%H:%M:%SZ", utc=True)
    return frame.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DIR / TRUTH_FILE, dtype={"user_id": str})


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DIR / ITEMS_FILE, dtype={"item_id": str})


@pytest.fixture(scope="module")
def gaps(events: pd.DataFrame) -> pd.Series:
    """Seconds since the same user's previous event (NaN on a user's first event)."""
    return events.groupby("user_id")["ts"].diff().dt.total_seconds()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    runs = {"a": ["--seed", "3"], "b": ["--seed", "3"], "c": ["--seed", "4"]}
    for name, flags in runs.items():
        assert generate.main(["--out", str(tmp_path / name), "--users", "60", *flags]) == 0
    for file in (EVENTS_FILE, TRUTH_FILE, ITEMS_FILE):
        a, b, c = ((tmp_path / run / file).read_bytes() for run in "abc")
        assert a == b
        assert a != c


def test_committed_files_are_the_generators_default_output() -> None:
    built = generate.build(GeneratorConfig())
    for name, data in built.items():
        committed = (SAMPLE_DIR / name).read_bytes()
        assert _sha256(committed) == _sha256(data), f"{name} is stale: run the generator"


def test_too_few_users_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert generate.main(["--users", "5", "--out", "unused"]) == 2
    assert "need at least 10 users" in capsys.readouterr().err


def test_file_sizes_within_limits() -> None:
    assert (SAMPLE_DIR / EVENTS_FILE).stat().st_size <= 3_000_000
    assert (SAMPLE_DIR / TRUTH_FILE).stat().st_size <= 100_000
    assert (SAMPLE_DIR / ITEMS_FILE).stat().st_size <= 150_000


def test_schema_and_values(events: pd.DataFrame) -> None:
    header = (SAMPLE_DIR / EVENTS_FILE).open().readline().strip()
    assert header == "user_id,timestamp,event_type,item_id,category,price"
    searches = events["event_type"] == "search"
    assert events[~searches].notna().all().all()
    assert events.loc[searches, ["item_id", "price"]].isna().all().all()  # no item, no price
    assert events.loc[searches, ["user_id", "timestamp", "category"]].notna().all().all()
    assert set(events["event_type"]) == EVENT_TYPES
    assert events["timestamp"].str.endswith("Z").all()
    assert 50_000 <= len(events) <= 80_000
    assert events["item_id"].nunique() >= 1450  # ~1,500 items; a tail item may go unseen
    assert events["category"].nunique() == 10
    assert (events["price"].dropna() > 0).all()
    assert events.groupby("item_id")["price"].nunique().max() == 1  # one price per item
    span = events["ts"].max() - events["ts"].min()
    assert pd.Timedelta(days=54) <= span <= pd.Timedelta(days=58)  # about 8 weeks


def test_searches_are_item_less_and_lead_into_their_category(
    events: pd.DataFrame, gaps: pd.Series
) -> None:
    searches = events["event_type"] == "search"
    assert 0.08 <= searches.mean() <= 0.10  # documented: ~9 % of rows
    assert set(events.loc[searches, "category"]) == set(events["category"])
    session = (gaps.isna() | (gaps > 30 * 60)).cumsum()
    starts = gaps.isna() | (gaps > 30 * 60)
    switches = events["category"] != events.groupby(session)["category"].shift()
    assert (starts | switches)[searches].mean() > 0.7  # mostly opens a session or a category
    # The user searched, then looked at items of that category: the next item event agrees.
    next_item_category = events["category"].where(~searches).groupby(session).bfill()
    following = next_item_category.groupby(session).shift(-1)[searches].dropna()
    assert len(following) > 0.98 * searches.sum()
    assert (following == events.loc[following.index, "category"]).mean() > 0.98


def test_searches_follow_the_intent(events: pd.DataFrame, truth: pd.DataFrame) -> None:
    intent = events["user_id"].map(truth.set_index("user_id")["intent"])
    share = (events["event_type"] == "search").groupby(intent).mean()
    assert share["bargain_hunter"] > share["category_researcher"] > 0.1  # search per round
    assert share[["loyal_repeater", "cart_abandoner"]].max() < 0.03  # off-type sessions only
    assert share["none"] == 0  # bots and scrapers never search


def test_item_table_names_every_item(events: pd.DataFrame, items: pd.DataFrame) -> None:
    header = (SAMPLE_DIR / ITEMS_FILE).open().readline().strip()
    assert header == "item_id,name,brand,category,price"
    assert items.notna().all().all()
    assert items["item_id"].is_unique
    assert set(events["item_id"].dropna()) <= set(items["item_id"])
    assert items["name"].is_unique  # readable labels tell items apart
    assert items.apply(lambda row: row["name"].startswith(row["brand"] + " "), axis=1).all()
    assert (items["price"] > 0).all()
    medians = items.groupby("category")["price"].median()
    assert medians["grocery"] < 15 < 100 < medians["electronics"]  # plausible per category
    shown = events.dropna(subset=["item_id"]).drop_duplicates("item_id").set_index("item_id")
    table = items.set_index("item_id").loc[shown.index]
    assert (table["price"] == shown["price"]).all()  # the table agrees with the log


def test_item_table_category_is_the_items_own_listing(
    events: pd.DataFrame, items: pd.DataFrame
) -> None:
    modal = (
        events.dropna(subset=["item_id"])
        .groupby("item_id")["category"]
        .agg(lambda c: c.value_counts().index[0])
    )
    own = items.set_index("item_id")["category"].loc[modal.index]
    assert (own == modal).mean() > 0.99  # dual-listed items show a second category now and then


def test_items_are_mostly_consistent_with_one_category(events: pd.DataFrame) -> None:
    modal = events.groupby("item_id")["category"].agg(lambda c: c.value_counts().iloc[0] / len(c))
    assert (modal == 1.0).mean() > 0.9  # most items only ever show one category
    shares = events.groupby("item_id")["category"].transform(lambda c: c.map(c.value_counts()))
    assert (shares / events.groupby("item_id")["category"].transform("size")).mean() > 0.98


def test_popularity_is_long_tailed(events: pd.DataFrame) -> None:
    views = events[events["event_type"] == "view"]["item_id"].value_counts()
    top_share = views.iloc[: len(views) // 10].sum() / views.sum()
    assert top_share > 0.3  # the top 10 % of items get well over 10 % of views


def test_sessions_are_separated_by_more_than_30_minutes(gaps: pd.Series) -> None:
    known = gaps.dropna()
    assert not ((known > 20 * 60) & (known <= 30 * 60)).any()  # no gap is ambiguous
    assert (known > 30 * 60).sum() > 4000  # many users come back several times


def test_daily_rhythm(events: pd.DataFrame) -> None:
    hours = events["ts"].dt.hour.value_counts()
    assert hours.loc[[19, 20, 21]].sum() > 3 * hours.loc[[2, 3, 4]].sum()


def test_ground_truth_covers_every_user_once(events: pd.DataFrame, truth: pd.DataFrame) -> None:
    assert truth["user_id"].is_unique
    assert set(truth["user_id"]) == set(events["user_id"])
    assert len(truth) == 1500


def test_intent_mix_and_anomalies_as_documented(truth: pd.DataFrame) -> None:
    assert truth["intent"].value_counts().to_dict() == DOCUMENTED_INTENTS
    kinds = truth[truth["is_anomaly"] == 1]["anomaly_kind"].value_counts().to_dict()
    assert kinds == DOCUMENTED_ANOMALIES
    normal = truth[truth["is_anomaly"] == 0]
    assert (normal["anomaly_kind"] == "none").all()
    machines = truth["anomaly_kind"].isin(["bot", "scraper"])
    assert (truth.loc[machines, "intent"] == "none").all()
    assert (truth.loc[~machines, "intent"] != "none").all()  # burst users keep their intent


def test_anomalous_users_are_the_fastest(
    events: pd.DataFrame, truth: pd.DataFrame, gaps: pd.Series
) -> None:
    pace = gaps.groupby(events["user_id"]).median()
    n_planted = int(truth["is_anomaly"].sum())
    fastest = set(pace.nsmallest(n_planted).index)
    assert fastest == set(truth.loc[truth["is_anomaly"] == 1, "user_id"])


def test_scrapers_walk_item_ids_in_order(events: pd.DataFrame, truth: pd.DataFrame) -> None:
    for user in truth.loc[truth["anomaly_kind"] == "scraper", "user_id"]:
        ids = events.loc[events["user_id"] == user, "item_id"].astype(int).to_numpy()
        assert (np.diff(ids) == 1).mean() > 0.95


def test_bursts_put_80_items_in_the_cart_within_a_minute(
    events: pd.DataFrame, truth: pd.DataFrame
) -> None:
    for user in truth.loc[truth["anomaly_kind"] == "burst", "user_id"]:
        carts = events.loc[(events["user_id"] == user) & (events["event_type"] == "add_to_cart")]
        per_minute = carts.set_index("ts").rolling("60s")["item_id"].count()
        assert per_minute.max() >= 80


def test_purchases_happen_in_some_sessions_but_not_all(
    events: pd.DataFrame, truth: pd.DataFrame, gaps: pd.Series
) -> None:
    session = (gaps.isna() | (gaps > 30 * 60)).cumsum()
    bought = (events["event_type"] == "purchase").groupby(session).any()
    assert 0.25 < bought.mean() < 0.75
    users = events.groupby(session)["user_id"].first()
    per_user = bought.groupby(users).mean()
    humans = truth.loc[truth["is_anomaly"] == 0, "user_id"]
    mixed = per_user.reindex(humans).between(0.01, 0.99)
    assert mixed.mean() > 0.5  # most users buy in some of their sessions, not all


def test_event_mix_is_informative_but_not_a_giveaway(
    events: pd.DataFrame, truth: pd.DataFrame
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    humans = truth[truth["intent"] != "none"].set_index("user_id")
    counts = pd.crosstab(events["user_id"], events["event_type"]).reindex(humans.index)
    labels = np.asarray(humans["intent"].astype(str).tolist())
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    accuracy = cross_val_score(model, np.log1p(counts.to_numpy()), labels, cv=3).mean()
    assert 0.5 < accuracy < 0.98  # chance is ~0.22: signal, yet sequences carry the rest
