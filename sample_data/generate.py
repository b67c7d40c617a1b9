"""`python -m sample_data.generate`: rebuild the bundled sample clickstream and its ground truth.

Seeded and deterministic: the same seed, user count and numpy version give identical bytes, which
a test checks against the committed `events.csv`, `ground_truth.csv` and `items.csv`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.workspace import atomic_write_bytes
from sample_data.anomalies import ANOMALY_KINDS, bot_session, burst_session, scraper_session
from sample_data.catalog import Catalog, CatalogConfig, build_catalog, event_category
from sample_data.intents import INTENTS, UserProfile, draw_profile, write_session
from sample_data.items import items_csv
from sample_data.session import NO_ITEM, Session
from sample_data.timeline import diurnal_starts, iso_utc, periodic_starts, separate, uniform_starts

HERE = Path(__file__).resolve().parent
EVENTS_FILE = "events.csv"
TRUTH_FILE = "ground_truth.csv"
ITEMS_FILE = "items.csv"
NO_LABEL = "none"  # intent of bots/scrapers, anomaly_kind of normal users


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that shapes the sample; the defaults produce the committed files."""

    users: int = 1500  # users in total, anomalous ones included
    seed: int = 20261128  # seed of the one random stream everything is drawn from
    n_days: int = 56  # observation window: 8 weeks
    window_start: str = "2026-09-07"  # a Monday, so weekday rhythm lines up with day % 7
    anomaly_share: float = 0.02  # share of users planted as anomalies (at least 3)
    off_type_share: float = 0.06  # chance a session follows another intent than the user's own
    min_session_gap_s: int = 30 * 60  # sessions are separated by more than this
    intent_mix: dict[str, float] = field(  # share of non-bot, non-scraper users per intent
        default_factory=lambda: {
            "bargain_hunter": 0.22,
            "decisive_buyer": 0.22,
            "loyal_repeater": 0.18,
            "cart_abandoner": 0.22,
            "category_researcher": 0.16,
        }
    )
    catalog: CatalogConfig = field(default_factory=CatalogConfig)  # the shop's shape


@dataclass
class PlannedUser:
    """One user's label and, once generated, their sessions as (start second, session)."""

    user_id: int
    intent: str
    anomaly_kind: str
    sessions: list[tuple[int, Session]] = field(default_factory=list)


def split_counts(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Largest-remainder split of `total` by `shares`, so counts add up exactly."""
    raw = {k: total * v / sum(shares.values()) for k, v in shares.items()}
    counts = {k: int(v) for k, v in raw.items()}
    by_remainder = sorted(raw, key=lambda k: (counts[k] - raw[k], list(raw).index(k)))
    for key in by_remainder[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def anomaly_counts(config: GeneratorConfig) -> dict[str, int]:
    """How many bots, bursts and scrapers: the anomaly share of users, dealt round-robin."""
    n = max(3, round(config.anomaly_share * config.users))
    return {kind: len(range(i, n, len(ANOMALY_KINDS))) for i, kind in enumerate(ANOMALY_KINDS)}


def plan_users(rng: np.random.Generator, config: GeneratorConfig) -> list[PlannedUser]:
    """Labels for every user in a shuffled order, with random user ids of 4 digits (5 if many)."""
    anomalies = anomaly_counts(config)
    n_machines = anomalies["bot"] + anomalies["scraper"]
    intents = split_counts(config.users - n_machines, config.intent_mix)
    labels = [(name, NO_LABEL) for name, count in intents.items() for _ in range(count)]
    burst = set(rng.choice(len(labels), anomalies["burst"], replace=False).tolist())
    labels = [(i, "burst" if k in burst else a) for k, (i, a) in enumerate(labels)]
    labels += [(NO_LABEL, kind) for kind in ("bot", "scraper") for _ in range(anomalies[kind])]
    order = rng.permutation(len(labels))
    low = 1000 if len(labels) <= 4000 else 10000  # short ids keep the committed CSV small
    ids = low + rng.choice(9 * low, size=len(labels), replace=False)
    return [PlannedUser(int(ids[k]), *labels[int(j)]) for k, j in enumerate(order)]


def machine_sessions(
    rng: np.random.Generator, cat: Catalog, kind: str, n_days: int
) -> list[tuple[int, Session]]:
    """One or two runs of a bot or scraper, at any hour."""
    starts = uniform_starts(rng, int(rng.integers(1, 3)), n_days)
    make = bot_session if kind == "bot" else scraper_session
    return [(int(t), make(rng, cat)) for t in starts]


def human_sessions(
    rng: np.random.Generator, cat: Catalog, user: PlannedUser, config: GeneratorConfig
) -> list[tuple[int, Session]]:
    """Sessions of a person, in time order, carrying any abandoned cart into the next one."""
    profile: UserProfile = draw_profile(rng, cat, user.intent)
    if user.intent == "loyal_repeater":
        starts = periodic_starts(rng, config.n_days)
    else:
        low, high = INTENTS[user.intent][2]
        first_day = int(rng.integers(0, 21))
        starts = diurnal_starts(rng, int(rng.integers(low, high + 1)), first_day, config.n_days)
    burst_at = int(rng.integers(len(starts))) if user.anomaly_kind == "burst" else -1
    sessions, pending = [], []
    for k, start in enumerate(starts):
        if k == burst_at:
            sessions.append((int(start), burst_session(rng, cat, profile)))
            pending = []
            continue
        session = write_session(rng, cat, profile, pending, config.off_type_share)
        pending = [] if session.purchases else list(session.cart)
        sessions.append((int(start), session))
    return sessions


def generate_users(config: GeneratorConfig) -> tuple[Catalog, list[PlannedUser]]:
    """Draw the shop, the users and all their sessions from one seeded random stream."""
    rng = np.random.default_rng(config.seed)
    cat = build_catalog(rng, config.catalog)
    users = plan_users(rng, config)
    for user in users:
        if user.anomaly_kind in ("bot", "scraper"):
            sessions = machine_sessions(rng, cat, user.anomaly_kind, config.n_days)
        else:
            sessions = human_sessions(rng, cat, user, config)
        starts = np.array([start for start, _ in sessions])
        durations = [s.duration_s for _, s in sessions]
        placed = separate(rng, starts, durations, config.min_session_gap_s)
        user.sessions = [(t, s) for t, (_, s) in zip(placed, sessions, strict=True)]
    return cat, users


def events_csv(
    rng: np.random.Generator, cat: Catalog, users: list[PlannedUser], config: GeneratorConfig
) -> bytes:
    """All events, sorted by time (ties: user id, then order within the user), as CSV bytes.

    A search has no item and no price, only the searched category.
    """
    ts, uid, seq, steps = [], [], [], []
    for user in users:
        n = 0
        for start, session in user.sessions:
            for step in session.steps:
                ts.append(start + step.offset)
                uid.append(user.user_id)
                seq.append(n)
                steps.append(step)
                n += 1
    order = np.lexsort((np.array(seq), np.array(uid), np.array(ts)))
    stamps = iso_utc(np.array(ts)[order], config.window_start)
    lines = ["user_id,timestamp,event_type,item_id,category,price"]
    for row, k in enumerate(order):
        _, event, item, searched = steps[k]
        if item == NO_ITEM:
            lines.append(f"{uid[k]},{stamps[row]},{event},,{cat.categories[searched]},")
            continue
        category = cat.categories[event_category(rng, cat, item)]
        price = f"{cat.item_price[item]:.2f}"
        lines.append(f"{uid[k]},{stamps[row]},{event},{cat.item_ids[item]},{category},{price}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def ground_truth_csv(users: list[PlannedUser]) -> bytes:
    """One row per user, sorted by user id: intent, is_anomaly (0/1) and anomaly_kind."""
    lines = ["user_id,intent,is_anomaly,anomaly_kind"]
    for user in sorted(users, key=lambda u: u.user_id):
        flag = int(user.anomaly_kind != NO_LABEL)
        lines.append(f"{user.user_id},{user.intent},{flag},{user.anomaly_kind}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def build(config: GeneratorConfig) -> dict[str, bytes]:
    """The file name -> bytes of the three outputs, without touching the disk."""
    cat, users = generate_users(config)
    label_rng = np.random.default_rng([config.seed, 1])  # dual-listing draws, kept separate
    name_rng = np.random.default_rng([config.seed, 2])  # item names and brands, kept separate
    return {
        EVENTS_FILE: events_csv(label_rng, cat, users, config),
        TRUTH_FILE: ground_truth_csv(users),
        ITEMS_FILE: items_csv(name_rng, cat),
    }


def write(out_dir: Path, config: GeneratorConfig) -> dict[str, int]:
    """Generate and write the files atomically into `out_dir`; returns bytes written per file."""
    files = build(config)
    for name, data in files.items():
        atomic_write_bytes(out_dir / name, data)
        (out_dir / name).chmod(0o644)  # plain readable data files, not private temp files
    return {name: len(data) for name, data in files.items()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sample_data.generate",
        description="Rebuild the seeded sample clickstream (events.csv), its ground truth "
        "and the item table (items.csv).",
    )
    defaults = GeneratorConfig()
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help=f"random seed (default: {defaults.seed})"
    )
    parser.add_argument(
        "--users",
        type=int,
        default=defaults.users,
        help=f"users in total, anomalies included (default: {defaults.users})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.users < 10:
        print(f"error: --users {args.users}: need at least 10 users", file=sys.stderr)
        return 2
    sizes = write(args.out, GeneratorConfig(users=args.users, seed=args.seed))
    for name, size in sizes.items():
        print(f"wrote {args.out / name} ({size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
