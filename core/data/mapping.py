"""Which column is the user, the time, the event type, the item, the session, the category.

Detection runs in three layers, strongest first: explicit overrides (`--user COL`), column names
(a synonym list), and, for headerless files, column content (unix-second integers are the time,
a low-cardinality text column is the event type, ...). `detect_mapping` is what the dashboard calls
to show the defaults and a preview before the analyst commits to an ingest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.data.mapping_checks import (
    CHECKS,
    DATE_SHARE,
    MappingIssue,
    check_mapping,
    column_values,
    date_share,
    parse_time_text,
)
from core.data.sniff import SourceInfo, inspect_source, is_number, normalise_name
from core.errors import InputError

ROLES = ("user", "time", "event", "item", "session", "category")
# An override naming no column: the file has none for this role, so detection must not find
# one (the dashboard's "(none)"). The empty string, since no column can be named so.
NO_COLUMN = ""
REQUIRED_ROLES = ("user",)  # plus an item or an event column; time only for non-sequence files
EACH_SESSION_A_USER = "session"  # detected_by value: the session column stands in for the user

# Names per role, best first. Exact matches win over "contains" matches (e.g. "visitorid").
SYNONYMS: dict[str, tuple[str, ...]] = {
    "user": ("user_id", "user", "userid", "uid", "visitor_id", "visitorid", "visitor",
             "customer_id", "customer", "client_id", "member_id", "account_id", "person_id"),
    "time": ("timestamp", "time", "ts", "event_time", "datetime", "date_time", "created_at",
             "event_timestamp", "time_stamp", "date", "unix_time", "epoch"),
    "event": ("event_type", "event", "action", "behavior", "behaviour", "behavior_type",
              "action_type", "event_name", "type", "activity", "interaction"),
    "item": ("item_id", "item", "itemid", "product_id", "product", "productid", "sku", "movie_id",
             "movie", "movieid", "content_id", "article_id", "asin", "track_id", "page", "url",
             "page_location", "page_path", "page_url", "screen_name", "pathname"),
    "session": ("session_id", "session", "sessionid", "user_session", "visit_id", "visit"),
    "category": ("category_id", "category", "cat", "categoryid", "cat_id", "category_code",
                 "genre", "department", "class"),
}  # fmt: skip
KNOWN_NAMES = {name for names in SYNONYMS.values() for name in names}
# Parts of a longer name that give a role away ("visitorid" -> user), checked after exact names.
_NAME_PARTS: dict[str, tuple[str, ...]] = {
    "session": ("session",),
    "user": ("user", "visitor", "customer", "client"),
    "time": ("timestamp", "time", "date"),
    "event": ("event", "action", "behav"),
    "category": ("categ",),
    "item": ("item", "product", "sku", "movie"),
}
EVENT_MAX_DISTINCT = 50  # a text column with at most this many values may be the event type
UNIX_SECONDS = (1e8, 1e11)  # 1973..5138: integers in this range look like unix seconds
UNIX_MILLIS = (1e11, 1e14)  # ... unix milliseconds
UNIX_MICROS = (1e14, 1e17)  # ... unix microseconds


@dataclass
class ColumnMapping:
    """Column name per role; None means the file has no such column."""

    user: str | None = None  # who acted
    time: str | None = None  # when; None only for sequence files (order = line order)
    event: str | None = None  # what kind of action; None -> every row is type "event"
    item: str | None = None  # on what
    session: str | None = None  # explicit session id; None -> sessions by inactivity gap
    category: str | None = None  # item category, optional

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass
class MappingPreview:
    """The auto-detected reading of a file: layout, mapping, and the first rows to show."""

    source: SourceInfo
    mapping: ColumnMapping
    detected_by: dict[str, str]  # role -> "override" | "name" | "content" | "session"
    preview: list[dict[str, str]]  # first rows as {column: value}
    issues: list[MappingIssue] = field(default_factory=list)  # what still looks wrong
    notes: list[str] = field(default_factory=list)  # columns auto-detection set aside, and why


def detect_mapping(
    path: str | Path,
    fmt: str = "auto",
    delimiter: str | None = None,
    has_header: bool | None = None,
    columns: list[str] | None = None,
    overrides: dict[str, str | None] | None = None,
    preview_rows: int = 10,
    require: bool = True,
) -> MappingPreview:
    """Inspect `path` and propose a mapping (overrides win), raising InputError if unusable.

    `require=False` proposes what it found even without a user, time or item column (see
    `missing_roles`), for a form where the analyst picks the rest."""
    source = inspect_source(Path(path), fmt, delimiter, has_header, columns, KNOWN_NAMES)
    if source.format == "parquet":
        _fill_parquet_layout(source)
    elif len(source.columns) < 2:
        _refuse_one_column(source, delimiter)
    notes: list[str] = []
    mapping, how = resolve_mapping(source, overrides or {}, notes, require)
    _check_types(source, mapping)
    preview = [dict(zip(source.columns, row, strict=False)) for row in source.sample[:preview_rows]]
    issues = check_mapping(source, mapping.as_dict())
    return MappingPreview(source, mapping, how, preview, issues, notes)


def _fill_parquet_layout(source: SourceInfo) -> None:
    if source.files:
        _fill_parts_layout(source)
        return
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source.path)
        table = parquet.read_row_group(0) if parquet.num_row_groups else parquet.schema_arrow
    except Exception as error:  # pyarrow raises several types for a corrupt file
        raise InputError(f"not a readable Parquet file ({error})", file=source.path) from error
    source.columns = list(parquet.schema_arrow.names)
    source.types = {f.name: f.type for f in parquet.schema_arrow}
    if parquet.num_row_groups:
        head = table.slice(0, 2000).to_pylist()
        source.sample = [
            ["" if row[c] is None else str(row[c]) for c in source.columns] for row in head
        ]


def _fill_parts_layout(source: SourceInfo) -> None:
    """Columns (hive partition keys included) and the first rows of a partitioned dataset."""
    import duckdb

    from core.data.reader import parquet_scan

    try:
        with duckdb.connect(":memory:") as con:
            frame = con.sql(f"SELECT * FROM {parquet_scan(source)} LIMIT 2000").to_arrow_table()
    except duckdb.Error as error:
        raise InputError(f"not a readable Parquet dataset ({error})", file=source.path) from error
    source.columns = list(frame.column_names)
    source.types = {f.name: f.type for f in frame.schema}
    source.sample = [
        ["" if row[c] is None else str(row[c]) for c in source.columns] for row in frame.to_pylist()
    ]


def _refuse_one_column(source: SourceInfo, delimiter: str | None) -> None:
    """A text file that splits into one column: the delimiter is one we do not guess (':')."""
    line = "" if not source.sample else source.sample[0][0] if source.sample[0] else ""
    shown = repr(delimiter) if delimiter else "one of , tab ; | space"
    raise InputError(
        f"every line is a single column (e.g. {line[:60]!r}): the delimiter is not {shown}; "
        "name it with --delimiter CHAR",
        file=source.path,
        row=2 if source.has_header else 1,
    )


def _check_types(source: SourceInfo, mapping: ColumnMapping) -> None:
    """Parquet columns whose type cannot hold their role (a list of users, a boolean time)."""
    for role in ROLES:
        column = getattr(mapping, role)
        kind = source.types.get(column) if column is not None else None
        if kind is None or _type_fits(role, kind):
            continue
        needs = "a timestamp, a date, epoch numbers or time text" if role == "time" else (
            "text or numbers"
        )  # fmt: skip
        raise InputError(
            f"the {role} column holds {kind} values; a {role} needs {needs} "
            f"(pick another column with --{role} COL, or convert this one)",
            file=source.path,
            column=column,
        )


def _type_fits(role: str, kind: object) -> bool:
    """Text, numbers (pandas writes an id column with gaps as float64: ids then read "2.0"),
    raw bytes for ids (older writers store text so), true/false for an event type or category;
    a time also as a timestamp or date. Never lists, structs or maps."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    text = (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )
    numeric = pa.types.is_integer(kind) or pa.types.is_decimal(kind) or pa.types.is_floating(kind)
    if role == "time":
        return text or numeric or pa.types.is_timestamp(kind) or pa.types.is_date(kind)
    raw = pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
    flag = pa.types.is_boolean(kind) and role in ("event", "category")
    return text or numeric or raw or pa.types.is_fixed_size_binary(kind) or flag


def resolve_mapping(
    source: SourceInfo,
    overrides: dict[str, str | None],
    notes: list[str] | None = None,
    require: bool = True,
) -> tuple[ColumnMapping, dict[str, str]]:
    """Overrides, then names, then content, then sane replacements for detected columns that
    fail their check; every mapped column must exist in the file. `notes` collects, in words,
    each detected column that was set aside."""
    found: dict[str, str] = {}
    how: dict[str, str] = {}
    for role, column in overrides.items():
        if column == NO_COLUMN:
            how[role] = "override"  # decided: no such column; detection leaves the role alone
        elif column is not None:
            if column not in source.columns:
                raise InputError(
                    f"no column {column!r} for --{role}; the file has: {', '.join(source.columns)}",
                    file=source.path,
                    column=column,
                )
            found[role], how[role] = column, "override"
    if source.format == "sequences" and not source.has_header:
        _take(found, how, {"user": source.columns[0], "item": source.columns[1]}, "content")
    _take(found, how, match_by_name(source.columns, set(found.values())), "name")
    if not source.has_header or "time" not in found:
        _take(found, how, match_by_content(source, set(found.values()), found), "content")
    if source.sample:
        _repair(source, found, how, notes if notes is not None else [])
    mapping = ColumnMapping(**{role: found.get(role) for role in ROLES})
    if require:
        _check_required(mapping, source)
    return mapping, how


def _take(found: dict[str, str], how: dict[str, str], new: dict[str, str], why: str) -> None:
    """Adds detected roles that are neither decided yet (found, or overridden to NO_COLUMN) nor
    on a column already taken."""
    for role, column in new.items():
        if role not in how and column not in found.values():
            found[role], how[role] = column, why


def _repair(
    source: SourceInfo, found: dict[str, str], how: dict[str, str], notes: list[str]
) -> None:
    """Replace detected (never explicitly chosen) columns that fail their check.

    Order matters: a date column wrongly taken as the event type is freed before the time is
    looked for, so it can become the time.
    """
    for role in ("event", "time", "user"):
        column = found.get(role)
        if column is None or how.get(role) == "override":
            continue
        issue = CHECKS[role](source, column)
        if issue is None:
            continue
        replacement = _replacement(source, role, {r: c for r, c in found.items() if r != role})
        if replacement is None and role != "event":
            continue  # kept, so the issue is reported (and the ingest refused) in its own words
        del found[role], how[role]
        if replacement is not None:
            found[role], how[role] = replacement
            if how[role] == EACH_SESSION_A_USER:  # the session column now names the users
                del found["session"], how["session"]
        used = f"; using {found[role]!r} instead" if role in found else ""
        notes.append(f"{column!r} is not the {role}: {issue.problem}{used}")


def _replacement(source: SourceInfo, role: str, found: dict[str, str]) -> tuple[str, str] | None:
    """(column, how) that can take `role` after its detected column failed, if any."""
    free = [c for c in source.columns if c not in found.values()]
    if role == "user" and "session" in found:
        return found["session"], EACH_SESSION_A_USER
    if role == "time":
        scored = [(date_share(column_values(source, c)), c) for c in free]
        best = max(scored, default=(0.0, None))
        return (best[1], "content") if best[1] is not None and best[0] >= DATE_SHARE else None
    if role == "event":
        pick = match_by_content(source, set(found.values()), {**found, "time": "", "user": ""})
        column = pick.get("event")
        if column is not None and CHECKS["event"](source, column) is None:
            return column, "content"
    return None


def missing_roles(mapping: ColumnMapping, fmt: str) -> list[str]:
    """The roles a mapping still needs before anything can be ingested: "user", "item" (an
    item or, instead, an event column) and "time" (not for sequence files, ordered by line)."""
    missing = [role for role in REQUIRED_ROLES if getattr(mapping, role) is None]
    if mapping.item is None and mapping.event is None:
        missing.append("item")
    if mapping.time is None and fmt != "sequences":
        missing.append("time")
    return missing


def _check_required(mapping: ColumnMapping, source: SourceInfo) -> None:
    missing = missing_roles(mapping, source.format)
    for role in REQUIRED_ROLES:
        if role in missing:
            raise InputError(
                f"could not find the {role} column among {', '.join(source.columns)}; "
                f"name it with --{role} COL",
                file=source.path,
            )
    if "item" in missing:
        raise InputError(
            f"could not find the item column (nor an event column to use instead) among "
            f"{', '.join(source.columns)}; name it with --item COL",
            file=source.path,
        )
    if "time" in missing:
        pairs = len(source.columns) == 2  # e.g. `1 2` lines in a file named .csv
        raise InputError(
            f"could not find the time column among {', '.join(source.columns)}; "
            "name it with --time COL"
            + (" (or use --format sequences for `user item` pair lines)" if pairs else ""),
            file=source.path,
        )


def match_by_name(columns: list[str], taken: set[str]) -> dict[str, str]:
    """Role -> column by exact synonym first, then by a telling part of the name."""
    normal = {column: normalise_name(column) for column in columns if column not in taken}
    result: dict[str, str] = {}
    for role, names in SYNONYMS.items():
        for name in names:
            hit = next(
                (c for c, n in normal.items() if n == name and c not in result.values()), None
            )
            if hit is not None:
                result[role] = hit
                break
    for role, parts in _NAME_PARTS.items():
        if role in result:
            continue
        for column, norm in normal.items():
            if column not in result.values() and any(part in norm for part in parts):
                result[role] = column
                break
    return result


def match_by_content(source: SourceInfo, taken: set[str], found: dict[str, str]) -> dict[str, str]:
    """Guess roles from sample values: time-like, low-cardinality text, then ids left to right."""
    stats = {c: _column_stats(source, i) for i, c in enumerate(source.columns) if c not in taken}
    result: dict[str, str] = {}
    if "time" not in found:
        timeish = [c for c, s in stats.items() if s["time_score"] >= 0.9]
        if timeish:
            result["time"] = max(timeish, key=lambda c: stats[c]["time_score"])
    rest = [c for c in stats if c not in result.values()]
    if "event" not in found:
        events = [
            c for c in rest if stats[c]["text"] and stats[c]["distinct"] <= EVENT_MAX_DISTINCT
        ]
        if events:
            # "view"/"pv" over "u1": a code with digits is more likely an id than an event name
            result["event"] = min(
                events, key=lambda c: (stats[c]["digits"] > 0.5, stats[c]["distinct"])
            )
    ids = [c for c in rest if c not in result.values() and stats[c]["id_like"]]
    if "user" not in found and ids:
        result["user"] = ids.pop(0)
    if "item" not in found and ids:
        result["item"] = max(ids, key=lambda c: stats[c]["distinct"])
        ids.remove(result["item"])
    if "category" not in found and ids and "item" in (found | result):
        result["category"] = ids[0]
    return result


def _column_stats(source: SourceInfo, index: int) -> dict[str, float | bool]:
    values = [
        row[index].strip() for row in source.sample if index < len(row) and row[index].strip()
    ]
    if not values:
        return {"time_score": 0.0, "text": False, "distinct": 0, "id_like": False, "digits": 0.0}
    numeric = [v for v in values if is_number(v)]
    integers = [v for v in numeric if v.lstrip("+-").isdigit()]
    return {
        "time_score": _time_score(values, numeric),
        "text": len(numeric) < 0.5 * len(values),
        "distinct": len(set(values)),
        "digits": sum(any(ch.isdigit() for ch in v) for v in values) / len(values),
        # ids are integers or text codes; floats (ratings, prices) are not ids
        "id_like": len(integers) == len(numeric),
    }


def _time_score(values: list[str], numeric: list[str]) -> float:
    """Share of values that read as a timestamp: epoch numbers in range, or ISO-like dates.

    A mostly numeric column is scored as epoch numbers, its few non-numbers counting as misses:
    one garbled value in the sample must not hide a column of unix times (that row is rejected
    at ingest, with its line)."""
    if 2 * len(numeric) >= len(values):
        lo, hi = UNIX_SECONDS[0], UNIX_MICROS[1]
        return sum(lo <= abs(float(v)) < hi for v in numeric) / len(values)
    return sum(parse_time_text(v) is not None for v in values) / len(values)
