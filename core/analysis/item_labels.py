"""Item labels in analysis results: a readable `label` beside every `item` id, and item prices.

Views show labels, exports keep ids. Predictions, segments, funnels and the report all label
items through these few helpers, so a label reads the same everywhere and an id is never lost
(the catalogue itself, built at ingest, is `core.data.items.ItemCatalog`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from core.data.items import ItemCatalog

TOKEN_SEPARATOR = ", "  # how segment profiles join their top items into one cell


def with_labels(frame: pd.DataFrame, catalog: ItemCatalog, column: str = "item") -> pd.DataFrame:
    """A copy of `frame` with a `label` column right after the id column `column`; an event
    without an item (a search) gets an empty label, never the text "nan" or "None"."""
    out = frame.drop(columns=["label"], errors="ignore")
    labels = catalog.labels(out[column].astype(str)) if len(out) else []
    has_item = out[column].notna().tolist()
    labels = [label if item else None for label, item in zip(labels, has_item, strict=True)]
    out.insert(out.columns.get_loc(column) + 1, "label", labels)
    return out


def unique_labels(labels: Sequence[str], ids: Sequence[str]) -> list[str]:
    """Labels for a chart axis: a label several items share ("shoes · nike") gets its id added,
    so the bars of different items are never merged into one."""
    counts = pd.Series(list(labels)).value_counts()
    return [
        label if counts[label] == 1 or label == item else f"{label} ({item})"
        for label, item in zip(labels, ids, strict=True)
    ]


def option_text(item: str, catalog: ItemCatalog) -> str:
    """How an item reads in a picker: "label (id)", or the bare id when it has no label."""
    label = catalog.label(str(item))
    return str(item) if label == str(item) else f"{label} ({item})"


def price_frame(catalog: ItemCatalog) -> pd.DataFrame | None:
    """(item, price) rows of the items with a known price; None when the data has no prices,
    so callers add no revenue column at all rather than a column of zeros."""
    if not catalog.has_price:
        return None
    prices = catalog.table["price"].dropna()
    return pd.DataFrame({"item": prices.index.astype(str), "price": prices.to_numpy(float)})


def label_segment_items(profiles: pd.DataFrame, catalog: ItemCatalog) -> pd.DataFrame:
    """Segment profiles whose `top_items` are labels and `top_item_ids` the ids (for export).

    Profiles computed before the dataset had an item table hold ids in `top_items`; they are
    relabelled here so a view need not recompute the segments to read names.
    """
    if "top_items" not in profiles or "top_item_ids" in profiles:
        return profiles
    ids = profiles["top_items"].fillna("").astype(str)
    labels = [
        TOKEN_SEPARATOR.join(catalog.labels(cell.split(TOKEN_SEPARATOR))) if cell else ""
        for cell in ids
    ]
    out = profiles.assign(top_items=labels)
    out.insert(out.columns.get_loc("top_items") + 1, "top_item_ids", ids.to_numpy())
    return out
