"""The synthetic shop: categories, items, prices and a long-tailed popularity within each category.

Every user type draws from this one catalogue, so intents share items and categories and must be
told apart by how users move through it, not by which products exist for them alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Category name -> median price. Short names keep the committed CSV small.
CATEGORY_MEDIAN_PRICE: dict[str, float] = {
    "electronics": 180.0,
    "fashion": 45.0,
    "home": 60.0,
    "beauty": 22.0,
    "grocery": 8.0,
    "books": 14.0,
    "toys": 25.0,
    "sports": 55.0,
    "garden": 35.0,
    "pets": 18.0,
}
# Consumables that people rebuy: loyal repeaters favour these.
CONSUMABLE_CATEGORIES: tuple[str, ...] = ("grocery", "beauty", "pets", "home")


@dataclass(frozen=True)
class CatalogConfig:
    """Shape of the synthetic shop."""

    n_items: int = 1500  # items in the shop, ids n_items..2*n_items-1 (4 digits by default)
    zipf_exponent: float = 1.1  # popularity of rank r within a category ~ 1 / r**exponent
    price_sigma: float = 0.6  # log-normal spread of prices around the category median
    dual_listed_share: float = 0.03  # items also shown under a second category now and then
    dual_listed_rate: float = 0.3  # how often a dual-listed item's event shows the second category


@dataclass
class Catalog:
    """Items with their category, price and popularity, plus per-category lookups."""

    categories: list[str]  # category names, index = category code
    item_ids: np.ndarray  # (I,) int, the id written to the CSV
    item_category: np.ndarray  # (I,) int category code of each item
    item_price: np.ndarray  # (I,) float price of each item
    item_alt_category: np.ndarray  # (I,) int second category code, -1 for most items
    by_category: list[np.ndarray]  # category code -> item positions, most popular first
    popularity: list[np.ndarray]  # category code -> probabilities aligned with by_category
    cheap: list[np.ndarray]  # category code -> item positions in the cheapest third, by price
    premium: list[np.ndarray]  # category code -> item positions in the dearest 30 %, by price
    item_weight: np.ndarray  # (I,) float popularity weight of each item within its category
    config: CatalogConfig

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def category_code(self, name: str) -> int:
        return self.categories.index(name)


def build_catalog(rng: np.random.Generator, config: CatalogConfig) -> Catalog:
    """Draw a catalogue: items spread over categories, shuffled ids, log-normal prices."""
    categories = list(CATEGORY_MEDIAN_PRICE)
    n_cat = len(categories)
    shares = rng.dirichlet(np.full(n_cat, 8.0))  # unequal but not extreme category sizes
    item_category = rng.choice(n_cat, size=config.n_items, p=shares)
    item_ids = config.n_items + rng.permutation(config.n_items)  # ids unrelated to category
    medians = np.array([CATEGORY_MEDIAN_PRICE[c] for c in categories])[item_category]
    raw = medians * np.exp(rng.normal(0.0, config.price_sigma, config.n_items))
    item_price = np.maximum(np.floor(raw), 0.0) + 0.99  # shop-style x.99 prices
    alt = np.full(config.n_items, -1)
    dual = rng.random(config.n_items) < config.dual_listed_share
    alt[dual] = (item_category[dual] + rng.integers(1, n_cat, dual.sum())) % n_cat
    by_category, popularity, cheap, premium = [], [], [], []
    item_weight = np.zeros(config.n_items)
    for code in range(n_cat):
        members = rng.permutation(np.flatnonzero(item_category == code))  # rank = random order
        weights = 1.0 / np.arange(1, len(members) + 1) ** config.zipf_exponent
        item_weight[members] = weights
        by_category.append(members)
        popularity.append(weights / weights.sum())
        by_price = members[np.argsort(item_price[members], kind="stable")]
        cheap.append(by_price[: max(3, len(by_price) // 3)])
        premium.append(by_price[-max(3, (len(by_price) * 3) // 10) :])
    return Catalog(
        categories=categories,
        item_ids=item_ids,
        item_category=item_category,
        item_price=item_price,
        item_alt_category=alt,
        by_category=by_category,
        popularity=popularity,
        cheap=cheap,
        premium=premium,
        item_weight=item_weight,
        config=config,
    )


def pick_popular(
    rng: np.random.Generator, catalog: Catalog, category: int, n: int = 1
) -> list[int]:
    """Items of one category drawn by popularity (long tail), without repeats when possible."""
    members, probs = catalog.by_category[category], catalog.popularity[category]
    replace = n > len(members)
    return [int(i) for i in rng.choice(members, size=n, replace=replace, p=probs)]


def pick_from_tier(
    rng: np.random.Generator, cat: Catalog, tier: np.ndarray, n: int = 1
) -> list[int]:
    """Items of a price tier (cheap or premium), drawn by their popularity within the tier."""
    weights = cat.item_weight[tier]
    replace = n > len(tier)
    return [int(i) for i in rng.choice(tier, size=n, replace=replace, p=weights / weights.sum())]


def pick_long_tail(
    rng: np.random.Generator, catalog: Catalog, category: int, n: int = 1
) -> list[int]:
    """Items drawn from a flattened popularity: how a researcher digs past the bestsellers."""
    members = catalog.by_category[category]
    weights = catalog.item_weight[members] ** 0.4
    replace = n > len(members)
    return [int(i) for i in rng.choice(members, size=n, replace=replace, p=weights / weights.sum())]


def event_category(rng: np.random.Generator, catalog: Catalog, item: int) -> int:
    """The category shown on an event: the item's own, or now and then its second listing."""
    alt = int(catalog.item_alt_category[item])
    if alt >= 0 and rng.random() < catalog.config.dual_listed_rate:
        return alt
    return int(catalog.item_category[item])
