"""Human-readable segment names from the most distinctive profile features, and analyst renames.

A name is "<behaviour noun> [in <category>]", e.g. "cart abandoners in electronics": the noun
comes from how the segment's conversion, cart use, repeats and session shape compare with
everyone (ratios, so it works on any log), the category suffix only when the segment's top
c-TF-IDF category is clearly over-represented. Names are made unique with the next most
distinctive trait. Analysts' renames (runs/NAME/segment_names.json) always win.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from core.analysis.item_labels import TOKEN_SEPARATOR
from core.errors import InputError
from core.locks import folder_lock
from core.workspace import atomic_write_json

NAMES_FILE = "segment_names.json"  # analyst renames {segment: name}
HIGH, LOW = 1.3, 0.75  # ratio to everyone above / below which a trait is distinctive
CATEGORY_LIFT = 1.75  # top category must be this much over-represented to name the segment
SMALL_SHARE, SMALL_USERS = 0.01, 10  # a segment needs max(1% of users, 10 users) for a name
SMALL_NAME = "other (small segments)"  # the group the smaller segments are merged into


def min_segment_size(num_users: int) -> int:
    """Fewest users a segment needs for its own name: a 3-user "buyers" is an anecdote."""
    return max(math.ceil(SMALL_SHARE * num_users), SMALL_USERS)


def merge_small_segments(labels: np.ndarray, keep: tuple[int, ...] = (-1,)) -> tuple:
    """(labels, merged_id or None): segments under `min_segment_size` become one new segment.

    Labels in `keep` (HDBSCAN noise) stay as they are; the merged group gets the next free id.
    """
    labels = np.asarray(labels, dtype=np.int64)
    ids, sizes = np.unique(labels, return_counts=True)
    small = [int(i) for i, n in zip(ids, sizes, strict=True) if n < min_segment_size(len(labels))]
    small = [i for i in small if i not in keep]
    if not small:
        return labels, None
    merged_id = int(ids.max()) + 1
    return np.where(np.isin(labels, small), merged_id, labels), merged_id


def small_segments_note(profiles: pd.DataFrame) -> str | None:
    """The sentence the Segments page and the report show when small segments were merged."""
    names = profiles.get("auto_name", profiles.get("name"))
    if names is None or not (names == SMALL_NAME).any() or "size" not in profiles:
        return None
    size = min_segment_size(int(profiles["size"].sum()))
    return (
        f'Segments with fewer than {size} users are merged into "{SMALL_NAME}": too few users '
        "to describe a behaviour of their own, so the group is a mix."
    )


TIME_TRAITS = ("median_gap_s", "session_minutes", "events_per_min", "burst")  # need clock times


def auto_names(profiles: pd.DataFrame, overall: pd.Series, pace: bool = True) -> dict[int, str]:
    """{segment: name} for every row of `segment_profiles`, unique, compared against `overall`.

    With `pace=False` (timestamps without clock times, core.analysis.time_resolution) no name
    mentions pace or session length: "rapid-fire" or "quick" would be read off midnight stamps.
    """
    if not pace:
        profiles = profiles.drop(columns=[c for c in TIME_TRAITS if c in profiles])
        overall = overall.drop([c for c in TIME_TRAITS if c in overall.index])
    names: dict[int, str] = {}
    by_preference = not _has_event_mix(overall)
    for _, row in profiles.iterrows():
        name = _preference_name(row, overall) if by_preference else _name(row, overall)
        names[int(row["segment"])] = name
    return _unique(names, profiles, overall)


def _has_event_mix(overall: pd.Series) -> bool:
    """Two or more event types: names can say how a segment shops, not only what it likes."""
    shares = [float(overall[c] or 0) for c in overall.index if str(c).startswith("mix:")]
    return sum(share > 0 for share in shares) >= 2


def _preference_name(row: pd.Series, overall: pd.Series) -> str:
    """A log with one event type: a segment is named by what it prefers.

    Its clearly over-represented category when there is one, else its two most distinctive
    items (by label); session length alone would describe nothing the analyst can act on. Only
    machine-like pace (real clock times, a tenth of the usual gaps) is named as well.
    """
    rapid = _ratio(row, overall, "median_gap_s") <= 0.25
    rapid = rapid and _ratio(row, overall, "events_per_session") >= 1.5
    category = str(row.get("top_categories", "") or "").split(", ")[0]
    items = [t for t in str(row.get("top_items", "") or "").split(TOKEN_SEPARATOR) if t]
    if category and float(row.get("category_lift", 0.0) or 0.0) >= CATEGORY_LIFT:
        taste = f"{category} fans"
    elif items:
        taste = "fans of " + " & ".join(items[:2])
    else:
        return "rapid-fire sessions" if rapid else "mixed tastes"
    return f"rapid-fire {taste}" if rapid else taste


def _ratio(row: pd.Series, overall: pd.Series, column: str) -> float:
    base = float(overall.get(column, 0.0) or 0.0)
    value = float(row.get(column, 0.0) or 0.0)
    return value / base if base > 0 else (1.0 if value == 0 else float("inf"))


def _noun(row: pd.Series, overall: pd.Series) -> str:
    has_purchase = float(overall.get("conversion", 0.0) or 0.0) > 0
    conv = _ratio(row, overall, "conversion")
    repeat = _ratio(row, overall, "repeat_items")
    length = _ratio(row, overall, "events_per_session")
    minutes = _ratio(row, overall, "session_minutes")
    cart = _ratio(row, overall, "cart_rate")
    if _ratio(row, overall, "median_gap_s") <= 0.25 and length >= 1.5:
        return f"rapid-fire {_top_event(row, overall)} sessions"
    if has_purchase and conv >= HIGH:
        if repeat >= HIGH:
            return "repeat buyers"
        return "quick buyers" if minutes <= LOW else "buyers"
    if has_purchase and conv <= LOW:
        if length >= 1.5:
            return "deep researchers"
        if cart >= 1.1 or _ratio(row, overall, _mix_cart(row)) >= HIGH:
            return "cart abandoners"
        return f"{_top_event(row, overall)} browsers"
    if length >= 1.5:
        return "long-session users"
    if length <= LOW:
        return "short-session users"
    return f"{_top_event(row, overall)} users"


def _mix_cart(row: pd.Series) -> str:
    cart = [c for c in row.index if c.startswith("mix:") and "cart" in c and "remove" not in c]
    return cart[0] if cart else "cart_rate"


def _top_event(row: pd.Series, overall: pd.Series) -> str:
    """The event type with the largest share lift over everyone, as a readable word."""
    mix = [c for c in row.index if c.startswith("mix:") and float(overall.get(c, 0) or 0) > 0.01]
    if not mix:
        return "active"
    best = max(mix, key=lambda c: _ratio(row, overall, c))
    return best.removeprefix("mix:").replace("_", " ")


def _name(row: pd.Series, overall: pd.Series) -> str:
    noun = _noun(row, overall)
    category = str(row.get("top_categories", "") or "").split(", ")[0]
    if category and float(row.get("category_lift", 0.0) or 0.0) >= CATEGORY_LIFT:
        return f"{noun} in {category}"
    return noun


def _unique(names: dict[int, str], profiles: pd.DataFrame, overall: pd.Series) -> dict[int, str]:
    """Duplicate names get the next distinctive trait ("(long sessions)"), then a number."""
    traits = {
        "top_items": None,  # the next distinctive item (logs named by preference)
        "events_per_session": ("long sessions", "short sessions"),
        "median_gap_s": ("slow pace", "fast pace"),
        "conversion": ("buy more", "buy less"),
        "revisits": ("compare items", "few revisits"),
    }
    by_segment = profiles.set_index("segment")
    counts = pd.Series(list(names.values())).value_counts()
    for seg, name in list(names.items()):
        if counts[name] < 2:
            continue
        row = by_segment.loc[seg]
        items = [t for t in str(row.get("top_items", "") or "").split(TOKEN_SEPARATOR) if t]
        extra = [t for t in items if t not in name]
        if not _has_event_mix(overall) and extra:
            names[seg] = f"{name} (also {extra[0]})"
            continue
        ratios = {c: _ratio(row, overall, c) for c in traits if c in row and traits[c]}
        if ratios:
            column = max(ratios, key=lambda c: abs(_safe_log(ratios[c])))
            high, low = traits[column]
            names[seg] = f"{name} ({high if ratios[column] >= 1 else low})"
    seen: dict[str, int] = {}
    for seg in sorted(names):
        seen[names[seg]] = seen.get(names[seg], 0) + 1
        if seen[names[seg]] > 1:
            names[seg] = f"{names[seg]} #{seen[names[seg]]}"
    return names


def _safe_log(x: float) -> float:
    import math

    return math.log(x) if 0 < x < float("inf") else 10.0


def read_renames(run_dir: Path) -> dict[int, str]:
    """Analyst renames from runs/NAME/segment_names.json ({} when absent)."""
    path = run_dir / NAMES_FILE
    if not path.is_file():
        return {}
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return {int(k): str(v) for k, v in payload.items()}
    except (json.JSONDecodeError, ValueError, AttributeError) as error:
        raise InputError(
            f"unreadable renames ({error}); expected {{segment: name}}", path
        ) from error


def save_renames(run_dir: Path, renames: dict[int, str]) -> None:
    """Merge `renames` into segment_names.json (an empty name removes a rename); the read and
    the write hold the run's lock, so two analysts renaming at once both keep their names."""
    with folder_lock(run_dir):
        merged = read_renames(run_dir)
        for seg, name in renames.items():
            if name.strip():
                merged[int(seg)] = name.strip()
            else:
                merged.pop(int(seg), None)
        atomic_write_json(run_dir / NAMES_FILE, {str(k): v for k, v in sorted(merged.items())})
