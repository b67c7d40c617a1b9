"""What each segment is: size, event mix, conversion, session shape and its distinctive tokens.

Distinctive categories and items come from class-based TF-IDF (c-TF-IDF, Grootendorst 2022,
BERTopic): all events of a segment form one "document", a token's weight is its frequency in
the segment times log(1 + A / its frequency overall), A = mean events per segment. This favours
what a segment does *more than everyone else*, not merely the globally popular items.

Top items are listed by readable label (`top_items`) with their ids kept in `top_item_ids` for
export. When the item catalogue has prices, `revenue` sums the price of the items of the
segment's purchase-like events; without prices (or without a purchase event type) there is no
revenue column at all, since zeros would read as "nobody paid".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis.event_mix import event_mix
from core.analysis.item_labels import TOKEN_SEPARATOR
from core.analysis.user_features import EventRoles
from core.data.items import ItemCatalog
from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED, UNK

TOP_TOKENS = 3  # categories / items listed per segment
PROFILE_COLUMNS = (  # behaviour columns averaged into the profile, when present
    "conversion",
    "cart_rate",
    "events_per_session",
    "session_minutes",
    "median_gap_s",
    "repeat_items",
    "revisits",
)
NO_REVENUE_NOTE = (
    "Revenue per segment is not computed: no event type reads as a purchase (or the segments "
    "were computed before item prices were known; recompute them)."
)


def c_tf_idf(tokens: np.ndarray, labels: np.ndarray, vocab_size: int) -> dict[int, np.ndarray]:
    """{segment: (V,) c-TF-IDF weight of every token id}; reserved ids and UNK weigh 0."""
    segments = np.unique(labels)
    counts = np.zeros((len(segments), vocab_size))
    row = np.searchsorted(segments, labels)
    np.add.at(counts, (row, tokens), 1.0)
    counts[:, :NUM_RESERVED] = 0.0
    counts[:, UNK] = 0.0
    tf = counts / np.maximum(counts.sum(1, keepdims=True), 1.0)
    average = counts.sum() / max(len(segments), 1)
    idf = np.log1p(average / np.maximum(counts.sum(0), 1.0))
    return {int(s): tf[i] * idf for i, s in enumerate(segments)}


def top_tokens(weights: np.ndarray, vocab_tokens: list[str], n: int = TOP_TOKENS) -> list[str]:
    order = np.argsort(-weights, kind="stable")[:n]
    return [vocab_tokens[i] for i in order if weights[i] > 0]


def segment_profiles(
    sequences: EventSequences,
    labels: np.ndarray,
    behaviour: pd.DataFrame,
    catalog: ItemCatalog | None = None,
    roles: EventRoles | None = None,
) -> pd.DataFrame:
    """One row per segment: segment, size, share, mean behaviour, event mix, top tokens, and
    `revenue` when `catalog` has prices and `roles` finds a purchase event type.

    `labels` (U,) gives each user's segment; `behaviour` is `user_features.user_behaviour`
    (index = user index). Event-mix shares are over the segment's events (`mix:<event>`), and
    `category_share` is the share of the segment's events in its top c-TF-IDF category, with
    `category_lift` that share over the share among all users.
    """
    labels = np.asarray(labels, dtype=np.int64)
    per_event = np.repeat(labels, np.diff(sequences.offsets))  # (N,) segment of each event
    frame = behaviour.assign(segment=labels)
    rows = frame.groupby("segment")
    profile = pd.DataFrame({"size": rows.size()})
    profile["share"] = profile["size"] / len(labels)
    present = [c for c in PROFILE_COLUMNS if c in behaviour]
    profile = profile.join(rows[present].mean())
    profile["buyers"] = rows["conversion"].apply(lambda s: float((s > 0).mean()))
    profile = profile.join(_event_mix(sequences, per_event))
    catalog = catalog or ItemCatalog()
    profile = profile.join(_token_columns(sequences, per_event, catalog))
    revenue = segment_revenue(sequences, per_event, catalog, roles or EventRoles())
    if revenue is not None:
        profile["revenue"] = revenue.reindex(profile.index, fill_value=0.0)
    return profile.reset_index()


def segment_revenue(
    sequences: EventSequences, per_event: np.ndarray, catalog: ItemCatalog, roles: EventRoles
) -> pd.Series | None:
    """{segment: sum of item prices over its purchase-like events}; None without prices or
    without a purchase event type (items of unknown price add nothing)."""
    purchase = roles.ids(sequences, "purchase")
    if not catalog.has_price or len(purchase) == 0:
        return None
    price = np.nan_to_num(catalog.prices(sequences.item_vocab.tokens))  # (V,) 0 where unknown
    events = np.asarray(sequences.events)
    paid = np.where(np.isin(events, purchase), price[np.asarray(sequences.items)], 0.0)  # (N,)
    return pd.Series(paid).groupby(per_event).sum()


def revenue_note(profiles: pd.DataFrame, catalog: ItemCatalog) -> str | None:
    """A sentence for views when prices exist but the profiles have no revenue column."""
    return NO_REVENUE_NOTE if catalog.has_price and "revenue" not in profiles else None


def _event_mix(sequences: EventSequences, per_event: np.ndarray) -> pd.DataFrame:
    mix = event_mix(per_event, sequences)
    return mix


def _token_columns(
    sequences: EventSequences, per_event: np.ndarray, catalog: ItemCatalog
) -> pd.DataFrame:
    cats, items = np.asarray(sequences.categories), np.asarray(sequences.items)
    cat_w = c_tf_idf(cats, per_event, len(sequences.category_vocab))
    item_w = c_tf_idf(items, per_event, len(sequences.item_vocab))
    no_item = sequences.item_vocab.no_item_id
    if no_item is not None:  # "searched" is not a top item of anyone
        for weights in item_w.values():
            weights[no_item] = 0.0
    overall = np.bincount(cats, minlength=len(sequences.category_vocab)) / max(len(cats), 1)
    rows = {}
    for seg, weights in cat_w.items():
        top = top_tokens(weights, sequences.category_vocab.tokens)
        mine = cats[per_event == seg]
        best = sequences.category_vocab.id_of(top[0]) if top else UNK
        share = float((mine == best).mean()) if top and len(mine) else 0.0
        top_ids = top_tokens(item_w[seg], sequences.item_vocab.tokens)
        rows[seg] = {
            "top_categories": ", ".join(top),
            "top_items": TOKEN_SEPARATOR.join(catalog.labels(top_ids)),
            "top_item_ids": TOKEN_SEPARATOR.join(top_ids),
            "category_share": share,
            "category_lift": share / overall[best] if top and overall[best] > 0 else 0.0,
        }
    return pd.DataFrame.from_dict(rows, orient="index")
