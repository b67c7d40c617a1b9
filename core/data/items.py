"""Item table: readable labels (and prices) for item ids, so no view shows a bare `44600062`.

A dataset may hold `items.parquet`: one row per item id (`item`, text as in events.parquet), a
`label` chosen once at ingest, and the attribute columns it came with (name, brand, category,
price, …). It is built from attribute columns found in the log itself (`category_code`, `brand`,
`price`, `title`, …) and/or from a separate item file (`ingest --items FILE`), the file winning
where both say something. Every view asks `ItemCatalog.label`; the id stays in exports and hovers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.sniff import normalise_name
from core.data.vocab import NO_ITEM
from core.errors import InputError
from core.workspace import Workspace

ITEM_TABLE = "items.parquet"
NO_ITEM_LABEL = "(no item)"  # how an item-less event (a search, a page view) reads in views
# Attribute columns by meaning, best first; matched on normalised column names.
NAME_COLUMNS = ("name", "title", "item_name", "product_name", "product_title", "item_title")
BRAND_COLUMNS = ("brand", "brand_name", "manufacturer")
CATEGORY_COLUMNS = ("category_code", "category_name", "category_path", "genre", "genres")
PRICE_COLUMNS = ("price", "unit_price", "item_price", "amount")
ATTRIBUTE_COLUMNS = (*NAME_COLUMNS, *BRAND_COLUMNS, *CATEGORY_COLUMNS, *PRICE_COLUMNS)
ITEM_ID_COLUMNS = ("item_id", "item", "itemid", "product_id", "product", "sku", "movie_id", "id")
MAX_LABEL_CHARS = 60  # longer names are cut with an ellipsis in views


@dataclass
class ItemCatalog:
    """Labels and prices of a dataset's items; an empty catalogue labels every item by its id."""

    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["label"]))
    # index: item id (str); columns: label (str), optional price (float) and attributes

    @property
    def has_labels(self) -> bool:
        return bool(len(self.table)) and bool((self.table["label"] != self.table.index).any())

    @property
    def has_price(self) -> bool:
        return "price" in self.table.columns and bool(self.table["price"].notna().any())

    def label(self, token: str) -> str:
        """The readable label of one item id (the id itself when nothing better is known)."""
        if token == NO_ITEM:
            return NO_ITEM_LABEL
        if token in self.table.index:
            return str(self.table.at[token, "label"])
        return str(token)

    def labels(self, tokens: Iterable[str]) -> list[str]:
        """Labels of many ids at once (vectorised lookup)."""
        ids = pd.Index([str(t) for t in tokens])
        found = self.table["label"].reindex(ids) if len(self.table) else pd.Series(index=ids)
        out = found.where(found.notna(), ids.to_series(index=ids)).astype(str).tolist()
        return [NO_ITEM_LABEL if t == NO_ITEM else label for t, label in zip(ids, out, strict=True)]

    def prices(self, tokens: Iterable[str]) -> np.ndarray:
        """(n,) float price per id, NaN where unknown (or no price column)."""
        ids = pd.Index([str(t) for t in tokens])
        if not self.has_price:
            return np.full(len(ids), np.nan)
        return self.table["price"].reindex(ids).to_numpy(dtype=np.float64)


def load_item_catalog(workspace: Workspace, dataset: str) -> ItemCatalog:
    """The dataset's item table, or an empty catalogue when it has none (older datasets too)."""
    path = workspace.existing_dataset_dir(dataset) / ITEM_TABLE
    if not path.is_file():
        return ItemCatalog()
    table = pd.read_parquet(path)
    return ItemCatalog(table.set_index("item"))


def find_columns(columns: Iterable[str], wanted: tuple[str, ...]) -> list[str]:
    """Columns whose normalised name is one of `wanted`, in the order of `wanted`."""
    by_name = {normalise_name(c): c for c in columns}
    return [by_name[name] for name in wanted if name in by_name]


def label_items(frame: pd.DataFrame) -> pd.Series:
    """Label per row: name (or title), else category + brand, else the item id."""
    ids = frame["item"].astype(str)
    label = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    names = find_columns(frame.columns, NAME_COLUMNS)
    if names:
        label = _text(frame[names[0]])
    parts = [_text(frame[c]) for c in (*find_columns(frame.columns, CATEGORY_COLUMNS)[:1],
                                       *find_columns(frame.columns, BRAND_COLUMNS)[:1])]  # fmt: skip
    if parts:
        joined = parts[0] if len(parts) == 1 else _join(parts[0], parts[1])
        label = label.where(label.notna(), joined)
    label = label.where(label.notna(), ids)
    return label.map(_shorten)


def _text(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.where(text.notna() & (text != ""), None).astype(object)


def _join(first: pd.Series, second: pd.Series) -> pd.Series:
    both = first.notna() & second.notna()
    joined = first.where(~both, first.astype(str) + " · " + second.astype(str))
    return joined.where(joined.notna(), second)


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def build_item_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per item: `item`, `label`, and the attribute columns (price as float)."""
    table = frame.drop_duplicates("item", keep="first").reset_index(drop=True)
    table["item"] = table["item"].astype(str)
    for column in find_columns(table.columns, PRICE_COLUMNS)[:1]:
        table = table.rename(columns={column: "price"})
        table["price"] = pd.to_numeric(table["price"], errors="coerce")
    table["label"] = label_items(table)
    rest = [c for c in table.columns if c not in ("item", "label")]
    for column in rest:
        if column != "price":
            table[column] = table[column].astype("string")
    return table[["item", "label", *rest]]


def merge_item_tables(
    from_log: pd.DataFrame | None, from_file: pd.DataFrame | None
) -> pd.DataFrame:
    """Per item and attribute, the item file's value wins; the log's fills what the file lacks."""
    frames = [
        f.drop_duplicates("item").set_index("item")
        for f in (from_file, from_log)
        if f is not None and len(f)
    ]
    if not frames:
        return pd.DataFrame(columns=["item"])
    merged = frames[0] if len(frames) == 1 else frames[0].combine_first(frames[1])
    return merged.reset_index()


def read_item_file(path: str | Path) -> pd.DataFrame:
    """An item file (CSV with any delimiter, or Parquet): its id column renamed to `item`."""
    source = Path(path)
    if not source.is_file():
        raise InputError("no such item file", file=source)
    try:
        if source.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(source)
        else:
            frame = pd.read_csv(source, sep=None, engine="python", dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InputError(f"not a readable item table ({error})", file=source) from error
    ids = find_columns(frame.columns, ITEM_ID_COLUMNS)
    if not ids:
        raise InputError(
            f"no item id column among {', '.join(map(str, frame.columns))} "
            f"(name one of: {', '.join(ITEM_ID_COLUMNS)})",
            file=source,
        )
    frame = frame.rename(columns={ids[0]: "item"})
    frame["item"] = frame["item"].astype(str).str.strip()
    return frame[frame["item"] != ""]


def write_item_table(table: pd.DataFrame, folder: Path) -> None:
    """items.parquet in a (staging) dataset folder; nothing is written for an empty table."""
    if len(table):
        table.to_parquet(folder / ITEM_TABLE, index=False)
