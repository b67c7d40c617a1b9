"""The item table: a readable name and a brand per catalogue item, beside category and price.

Names are `brand descriptor noun` from per-category word lists ("Aurora trail running shoe").
Brands are listed from budget to premium and dealt by an item's price rank within its category
(with some spread), so dear items tend to carry the dearer brands. Within a brand, every
descriptor-noun pair is used at most once, so names are unique.
"""

from __future__ import annotations

import numpy as np

from sample_data.catalog import Catalog

# category -> (brands from budget to premium, descriptors, nouns), each a ", "-separated list.
WORDS: dict[str, tuple[str, str, str]] = {
    "electronics": (
        "Voltix, Nexon, Pixelo, Sonara, Lumina, Aurion",
        "wireless, compact, smart, portable, 4K, noise-cancelling, ultra-slim, fast-charging, "
        "bluetooth, gaming, pro, mini",
        "headphones, speaker, smartwatch, tablet, charger, webcam, keyboard, mouse, monitor, "
        "power bank, earbuds, router, camera, projector",
    ),
    "fashion": (
        "Basico, Urbana, Threadly, Nordvik, Maison Vert, Velluto",
        "linen, wool, denim, cotton, slim-fit, oversized, waterproof, knitted, leather, classic, "
        "striped, relaxed",
        "shirt, jacket, scarf, sneaker, dress, trousers, hoodie, belt, coat, skirt, cap, boot, "
        "sweater, tote bag",
    ),
    "home": (
        "Casa, Homely, Nestwell, Lindgren, Oakhaus, Belmont",
        "ceramic, bamboo, stainless, cotton, scented, non-stick, glass, oak, velvet, minimalist, "
        "stackable, woven",
        "mug, candle, frying pan, cushion, lamp, towel set, storage box, cutting board, vase, "
        "duvet, kettle, throw blanket, serving bowl, rug",
    ),
    "beauty": (
        "Purely, Glowa, Dermaline, Belle Rose, Solenne, Orchidea",
        "hydrating, vitamin C, matte, gentle, repairing, SPF 30, rose, argan, charcoal, "
        "fragrance-free, overnight, brightening",
        "face cream, serum, lipstick, shampoo, cleanser, body lotion, mascara, hand cream, "
        "face mask, conditioner, toner, lip balm, eye cream, soap",
    ),
    "grocery": (
        "Daily, FreshFarm, Harvest, Green Valley, Artisan, Delizia",
        "organic, whole grain, roasted, dark, extra virgin, wild, smoked, free-range, sea salt, "
        "honey, spiced, cold-pressed",
        "coffee, olive oil, pasta, granola, chocolate, tea, almonds, rice, peanut butter, "
        "crackers, jam, oats, salmon, juice",
    ),
    "books": (
        "Paperleaf, Inkwell, Northstar, Quill & Co, Harbor, Folio",
        "illustrated, pocket, collected, complete, hardcover, annotated, modern, beginner's, "
        "classic, bilingual, young readers', deluxe",
        "cookbook, thriller, travel guide, atlas, poetry, novel, biography, history, "
        "sci-fi saga, field guide, puzzle book, art book, memoir, fantasy epic",
    ),
    "toys": (
        "Playful, Kiddo, Tinker, Wonderbox, Brightbrick, Elfwood",
        "wooden, magnetic, musical, glow-in-the-dark, plush, remote-control, stacking, "
        "build-your-own, mini, deluxe, rainbow, pocket",
        "puzzle, train set, doll, robot, dinosaur, race car, board game, blocks, kite, "
        "teddy bear, marble run, tea set, science kit, drum",
    ),
    "sports": (
        "Strive, Kinetic, Aurora, Summit, Velocita, Alpinex",
        "trail, lightweight, breathable, insulated, adjustable, carbon, quick-dry, padded, "
        "foldable, pro, grip, all-weather",
        "running shoe, yoga mat, water bottle, backpack, cycling helmet, dumbbell, "
        "tennis racket, swim goggles, jersey, gloves, jump rope, trekking pole, tent, football",
    ),
    "garden": (
        "Greenly, Sprout, Terrabloom, Fernwood, Meadowgate, Hortensia",
        "hanging, self-watering, solar, terracotta, galvanised, raised, weatherproof, "
        "telescopic, ergonomic, heirloom, compact, cedar",
        "planter, hose, pruning shears, lantern, seed kit, watering can, bird feeder, trowel, "
        "garden bench, compost bin, rake, trellis, gloves, fountain",
    ),
    "pets": (
        "Pawsome, Happy Tail, Whisker, Furwell, Barkley, Noble Paw",
        "grain-free, chewable, orthopedic, reflective, catnip, salmon, washable, chicken, "
        "dental, squeaky, calming, senior",
        "dog food, cat litter, leash, pet bed, chew toy, scratching post, food bowl, treats, "
        "collar, grooming brush, carrier, cat food, aquarium filter, harness",
    ),
}
BRAND_SPREAD = 0.12  # noise on an item's price quantile before it picks a brand tier


def name_items(rng: np.random.Generator, cat: Catalog) -> tuple[list[str], list[str]]:
    """A unique readable name and a brand per item position, from the category's word lists."""
    names, brands = [""] * cat.n_items, [""] * cat.n_items
    for code, category in enumerate(cat.categories):
        brand_words, descriptors, nouns = (words.split(", ") for words in WORDS[category])
        members = np.flatnonzero(cat.item_category == code)
        rank = np.argsort(np.argsort(cat.item_price[members], kind="stable"), kind="stable")
        quantile = (rank + 0.5) / len(members) + rng.normal(0.0, BRAND_SPREAD, len(members))
        tier = np.clip((quantile * len(brand_words)).astype(int), 0, len(brand_words) - 1)
        n_pairs = len(descriptors) * len(nouns)
        for b, brand in enumerate(brand_words):
            group = members[tier == b]
            if len(group) > n_pairs:
                raise ValueError(f"{category}/{brand}: {len(group)} items > {n_pairs} names")
            pairs = rng.choice(n_pairs, len(group), replace=False)  # no name twice per brand
            for item, pair in zip(group, pairs, strict=True):
                descriptor, noun = descriptors[pair // len(nouns)], nouns[pair % len(nouns)]
                names[item], brands[item] = f"{brand} {descriptor} {noun}", brand
    return names, brands


def items_csv(rng: np.random.Generator, cat: Catalog) -> bytes:
    """item_id, name, brand, category, price for every item, sorted by item id, as CSV bytes."""
    names, brands = name_items(rng, cat)
    lines = ["item_id,name,brand,category,price"]
    for item in np.argsort(cat.item_ids):
        category = cat.categories[int(cat.item_category[item])]
        price = f"{cat.item_price[item]:.2f}"
        lines.append(f"{cat.item_ids[item]},{names[item]},{brands[item]},{category},{price}")
    return ("\n".join(lines) + "\n").encode("utf-8")
