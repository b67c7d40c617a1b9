"""The five planted user intents, each a way of moving through the same shop.

Intents differ in the *shape* of sessions (length, order of event types, revisits, repurchases,
price order of what is viewed), not in one column: all of them search, view, add to cart and buy,
and all of them draw from the same items. A user also has off-type sessions now and then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sample_data.catalog import (
    CONSUMABLE_CATEGORIES,
    Catalog,
    pick_from_tier,
    pick_long_tail,
    pick_popular,
)
from sample_data.session import Session


@dataclass
class UserProfile:
    """What one synthetic user likes and how they behave; drawn once, used for every session."""

    intent: str  # one of INTENTS
    categories: list[int]  # 3-5 category codes this user shops in; the first is the favourite
    basket: list[int]  # items this user rebuys (loyal repeaters; others borrow it off-type)
    pace: float  # multiplies the intent's median pause between events
    buy_bias: float  # multiplies purchase probabilities: some users simply buy more


def bargain_hunter(rng: np.random.Generator, cat: Catalog, user: UserProfile, s: Session) -> None:
    """Searches a category, then skims cheap results in ascending price order; rarely buys."""
    for _ in range(int(rng.integers(1, 4))):
        code = user.categories[int(rng.integers(len(user.categories)))]
        listing = pick_from_tier(rng, cat, cat.cheap[code], int(rng.integers(3, 7)))
        listing = sorted(set(listing), key=lambda i: (cat.item_price[i], i))  # sort: price asc
        s.search(code, median_gap_s=8.0)
        for item in listing:
            if rng.random() < 0.85:
                s.act("view", item)
        if rng.random() < 0.3:
            s.act("add_to_cart", min(s.viewed() or listing, key=lambda i: cat.item_price[i]))
    if s.cart and rng.random() < 0.25:
        s.act("remove_from_cart", s.cart[0])
    if s.cart and rng.random() < 0.3 * user.buy_bias:
        s.checkout()


def decisive_buyer(rng: np.random.Generator, cat: Catalog, user: UserProfile, s: Session) -> None:
    """Short sessions: (search) → view one or two popular items → add to cart → purchase."""
    code = user.categories[int(rng.integers(len(user.categories)))]
    items = pick_popular(rng, cat, code, int(rng.integers(1, 3)))
    if rng.random() < 0.5:
        s.search(code)
    for item in items:
        s.act("view", item)
    if rng.random() < 0.75 * user.buy_bias:
        s.act("add_to_cart", items[-1])
        s.checkout()


def loyal_repeater(rng: np.random.Generator, cat: Catalog, user: UserProfile, s: Session) -> None:
    """Periodic restocking: the same few basket items, straight to cart, nearly always bought."""
    k = int(rng.integers(1, min(3, len(user.basket)) + 1))
    picks = [user.basket[int(i)] for i in rng.choice(len(user.basket), k, replace=False)]
    if rng.random() < 0.2:
        home = int(cat.item_category[user.basket[0]])
        picks.append(pick_popular(rng, cat, home)[0])  # tries something new now and then
    for item in picks:
        if rng.random() < 0.5:  # often re-ordered straight from the order history
            s.act("view", item)
        s.act("add_to_cart", item)
    if rng.random() < 0.85 * user.buy_bias:
        s.checkout()


def cart_abandoner(rng: np.random.Generator, cat: Catalog, user: UserProfile, s: Session) -> None:
    """Views premium items, fills the cart, second-guesses, and mostly leaves without buying."""
    code = user.categories[int(rng.integers(len(user.categories)))]
    for item in pick_from_tier(rng, cat, cat.premium[code], int(rng.integers(3, 7))):
        s.act("view", item)
        if rng.random() < 0.4:
            s.act("add_to_cart", item)
        if s.cart and rng.random() < 0.15:
            s.act("remove_from_cart", s.cart[int(rng.integers(len(s.cart)))])
    if s.cart and rng.random() < 0.4:
        s.act("view", s.cart[-1])  # one more look at the cart before leaving
    if s.cart and rng.random() < 0.08 * user.buy_bias:
        s.checkout()


def category_researcher(
    rng: np.random.Generator, cat: Catalog, user: UserProfile, s: Session
) -> None:
    """Long sessions deep in one category: many distinct items, revisits to compare, late buying."""
    focus = rng.random() < 0.85  # researchers come back to the same category
    code = user.categories[0 if focus else int(rng.integers(1, len(user.categories)))]
    s.search(code)
    for _ in range(int(rng.integers(10, 24))):
        seen = s.viewed()
        roll = rng.random()
        if seen and roll < 0.3:
            s.act("view", seen[int(rng.integers(len(seen)))])  # back to compare
        elif roll < 0.36:
            s.search(code)  # refines the search within the category
        else:
            s.act("view", pick_long_tail(rng, cat, code)[0])
    if rng.random() < 0.35:
        counts = [item for _, event, item, _ in s.steps if event == "view"]
        s.act("add_to_cart", max(set(counts), key=lambda i: (counts.count(i), -i)))
        if rng.random() < 0.55 * user.buy_bias:
            s.checkout()


SessionWriter = Callable[[np.random.Generator, Catalog, UserProfile, Session], None]

# intent -> (session writer, median seconds between events, sessions per user as (low, high)).
INTENTS: dict[str, tuple[SessionWriter, float, tuple[int, int]]] = {
    "bargain_hunter": (bargain_hunter, 15.0, (3, 5)),
    "decisive_buyer": (decisive_buyer, 25.0, (4, 7)),
    "loyal_repeater": (loyal_repeater, 12.0, (0, 0)),  # periodic: count follows the period
    "cart_abandoner": (cart_abandoner, 35.0, (3, 6)),
    "category_researcher": (category_researcher, 60.0, (2, 3)),
}


def draw_profile(rng: np.random.Generator, cat: Catalog, intent: str) -> UserProfile:
    """A user's tastes: 3-5 categories, a rebuy basket, a personal pace and appetite for buying.

    People shop in several categories whatever their type, so which categories a user visits
    says little about the type; how they move through them says a lot.
    """
    n_cat = len(cat.categories)
    consumables = [cat.category_code(c) for c in CONSUMABLE_CATEGORIES]
    pool = consumables if intent == "loyal_repeater" else list(range(n_cat))
    first = pool[int(rng.integers(len(pool)))]
    others = [int(c) for c in rng.permutation(n_cat) if c != first]
    categories = [first, *others[: int(rng.integers(2, 5))]]
    second = [c for c in consumables if c != first][int(rng.integers(len(consumables) - 1))]
    basket = pick_popular(rng, cat, first, int(rng.integers(2, 4)))
    basket += pick_popular(rng, cat, second, int(rng.integers(1, 3)))
    return UserProfile(
        intent=intent,
        categories=categories,
        basket=sorted(set(basket)),
        pace=float(np.exp(rng.normal(0.0, 0.3))),
        buy_bias=float(np.clip(np.exp(rng.normal(0.0, 0.25)), 0.5, 1.3)),
    )


def write_session(
    rng: np.random.Generator,
    cat: Catalog,
    user: UserProfile,
    pending: list[int],
    off_type_share: float,
) -> Session:
    """One session of this user: maybe back for an abandoned cart, then an (off-)type session.

    `pending` is what the previous session left in the cart. Coming back to buy it makes
    "purchases in the next session" depend on the sequence, not only on who the user is.
    """
    intent = user.intent
    if rng.random() < off_type_share:
        others = [name for name in INTENTS if name != intent]
        intent = others[int(rng.integers(len(others)))]
    writer, median_gap, _ = INTENTS[intent]
    s = Session(rng=rng, median_gap_s=median_gap * user.pace)
    if pending and rng.random() < RETURN_TO_CART[user.intent]:
        for item in pending:
            s.act("view", item)
            s.act("add_to_cart", item)
        s.checkout()
    writer(rng, cat, user, s)
    return s


# Chance that a user comes back to buy what the previous session left in the cart.
RETURN_TO_CART: dict[str, float] = {
    "bargain_hunter": 0.3,
    "decisive_buyer": 0.6,
    "loyal_repeater": 0.5,
    "cart_abandoner": 0.3,
    "category_researcher": 0.6,
}
