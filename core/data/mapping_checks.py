"""Sanity checks of a column mapping, run on the file's first rows before anything is written.

A mapping can be syntactically fine and still wrong: a `user_id` that is `NA` on most rows, a
`timeframe` of milliseconds since the session began read as unix time (everything in January
1970), an `eventdate` column taken for the event type. Each check returns a `MappingIssue` that
says what is wrong in an analyst's words and in the CLI's (with the flag that fixes it).
Auto-detection (`core.data.mapping.resolve_mapping`) uses the same checks to pick the sane
column where one exists; what remains is refused by the ingest unless explicitly accepted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.data.sniff import SourceInfo, is_number

NULL_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "nil", "-", "0", "undefined"})
USER_DOMINANT_SHARE = 0.5  # one value (or null tokens) on at least this share is not a user id
USER_NULL_SHARE = 0.3  # null tokens on at least this share of rows: not a usable user id
MIN_ROWS_FOR_SHARE = 50  # below this many sample rows a dominant value proves nothing
EVENT_MAX_TYPES = 500  # more distinct values than this is not an event vocabulary
EVENT_MAX_NUMERIC_CODES = 50  # integer event codes (Tmall's 0..3) are fine up to this many
DATE_SHARE = 0.9  # share of values that must parse for a column to "be" dates
REAL_TIME_FROM = datetime(1971, 1, 1, tzinfo=UTC)  # earlier "event times" are offsets, not dates
UNIX_SECONDS_MIN = 1e8  # integers below this (before 1973) are counts or offsets, not epochs


@dataclass(frozen=True)
class MappingIssue:
    """One reason the mapping would produce a confident wrong answer."""

    role: str  # user | time | event | item | ...
    column: str  # the file's column at fault
    problem: str  # what is wrong, in words an analyst understands
    advice: str  # what to do in the dashboard (no flags)
    flag_hint: str  # what to do on the command line

    def cli_message(self) -> str:
        return f"{self.problem}; {self.flag_hint}, or --accept-mapping to ingest it anyway"

    def analyst_message(self) -> str:
        return f"**{self.column}** as the {self.role}: {self.problem}. {self.advice}"


def column_values(source: SourceInfo, column: str) -> list[str]:
    """The column's sample values as stripped text (missing cells as '')."""
    if column not in source.columns:
        return []
    index = source.columns.index(column)
    return [row[index].strip() if index < len(row) else "" for row in source.sample]


def parse_time_text(text: str) -> datetime | None:
    """Python-side twin of the SQL parser for detection: ISO 8601 with an optional ' UTC'."""
    cleaned = text.strip()
    if cleaned.upper().endswith(" UTC"):
        cleaned = cleaned[:-4]
    try:
        parsed = datetime.fromisoformat(cleaned.replace("/", "-"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_time_value(text: str) -> datetime | None:
    """A time as the ingest would read it: epoch numbers by magnitude (s/ms/us/ns), else ISO."""
    if is_number(text):
        number = abs(float(text))
        scale = 1 if number < 1e11 else 1e3 if number < 1e14 else 1e6 if number < 1e17 else 1e9
        seconds = float(text) / scale
        if not -1e10 < seconds < 1e11:
            return None
        return datetime.fromtimestamp(seconds, tz=UTC)
    return parse_time_text(text)


def date_share(values: list[str]) -> float:
    """Share of non-empty values that are real dates (text dates or epochs after 1971)."""
    present = [v for v in values if v]
    if not present:
        return 0.0
    parsed = [parse_time_value(v) for v in present]
    real = [p for p in parsed if p is not None and p >= REAL_TIME_FROM]
    text_dates = [v for v in present if not is_number(v) and parse_time_text(v) is not None]
    epochs = [v for v in present if is_number(v) and abs(float(v)) >= UNIX_SECONDS_MIN]
    return min(len(real), len(text_dates) + len(epochs)) / len(present)


def check_user(source: SourceInfo, column: str) -> MappingIssue | None:
    """A user id that one value (or NA/null/-/0) dominates cannot tell users apart."""
    values = column_values(source, column)
    if len(values) < MIN_ROWS_FOR_SHARE:
        return None
    nulls = sum(v.lower() in NULL_TOKENS for v in values) / len(values)
    top, count = Counter(values).most_common(1)[0]
    share = count / len(values)
    if nulls >= USER_NULL_SHARE:
        problem = f"{nulls:.0%} of rows have no real user id (values like {top or 'empty'!r})"
    elif share >= USER_DOMINANT_SHARE and _interleaved(values, top):
        problem = f"one value, {top!r}, is on {share:.0%} of rows, mixed in among other users"
    else:
        return None
    return MappingIssue(
        "user",
        column,
        problem,
        "Pick another user column, or the session column so that each session counts as a user.",
        "name the user column with --user COL (or --user SESSION_COLUMN: each session a user)",
    )


def _interleaved(values: list[str], top: str) -> bool:
    """True when `top`'s rows come in several separate runs (a log sorted by user has one)."""
    runs = sum(1 for i, v in enumerate(values) if v == top and (i == 0 or values[i - 1] != top))
    return runs > 3


def check_time(source: SourceInfo, column: str) -> MappingIssue | None:
    """An event time that reads as January 1970 is an offset or a counter, not a date."""
    values = [v for v in column_values(source, column) if v]
    if not values:
        return None
    parsed = [parse_time_value(v) for v in values]
    early = sum(p is not None and p < REAL_TIME_FROM for p in parsed) / len(values)
    small = all(is_number(v) for v in values) and max(abs(float(v)) for v in values) < 1e8
    if early < 0.5 and not small:
        return None
    others = [c for c in source.columns if c != column and date_share(column_values(source, c))]
    better = max(others, key=lambda c: date_share(column_values(source, c)), default=None)
    real = better is not None and date_share(column_values(source, better)) >= DATE_SHARE
    hint = f" ({better!r} holds real dates)" if real else ""
    years = Counter(p.year for p in parsed if p is not None and p < REAL_TIME_FROM)
    year = years.most_common(1)[0][0] if years else 1970
    return MappingIssue(
        "time",
        column,
        f"its values read as times in {year}, so they are offsets, counters or placeholder "
        f"dates, not event times{hint}",
        "Pick the column that holds the date and time of each event.",
        "name the time column with --time COL",
    )


def check_event(source: SourceInfo, column: str) -> MappingIssue | None:
    """Dates, measurements or free text are not event types."""
    values = [v for v in column_values(source, column) if v]
    if not values:
        return None
    distinct = len(set(values))
    numeric = [v for v in values if is_number(v)]
    if date_share(values) >= DATE_SHARE or (
        len(numeric) == len(values) and any(not v.lstrip("+-").isdigit() for v in numeric)
    ):
        problem = "its values are dates or measurements, not kinds of action"
    elif len(numeric) == len(values) and distinct > EVENT_MAX_NUMERIC_CODES:
        problem = f"it holds {distinct} different numbers, more like ids than kinds of action"
    elif distinct > EVENT_MAX_TYPES:
        problem = f"it holds {distinct} different values, more than a list of kinds of action"
    else:
        return None
    return MappingIssue(
        "event",
        column,
        problem,
        "Pick the column that says what kind of action each row is, or none.",
        "name the event column with --event COL",
    )


CHECKS: dict[str, Callable[[SourceInfo, str], MappingIssue | None]] = {
    "user": check_user,
    "time": check_time,
    "event": check_event,
}


def check_mapping(source: SourceInfo, mapping: dict[str, str | None]) -> list[MappingIssue]:
    """Every issue of the given role -> column mapping (roles without a column are skipped)."""
    issues = []
    for role, check in CHECKS.items():
        column = mapping.get(role)
        if column is not None and source.sample:
            issue = check(source, column)
            if issue is not None:
                issues.append(issue)
    return issues
