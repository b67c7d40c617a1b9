"""Report section builders: each turns core results (DataFrames, dicts) into one `Section`.

Builders take computed results rather than paths, so the dashboard can reuse them on frames it
already holds and the tests can feed hand-made frames with hostile strings.
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import pandas as pd

from core.analysis.anomaly_flags import METHOD_NOTE, FlagConfig, summarize, with_flags
from core.analysis.paths import PathsResult
from core.analysis.retention import retention_matrix
from core.analysis.score_period import PERIOD_PERCENT, period_row
from core.analysis.summary import DataSummary
from core.analysis.view_notes import PATHS_MERGED_NOTE, event_types_note
from core.reports.html import Section, esc, note, table_html
from core.reports.omitted import SECTION_TITLES
from core.reports.svg import bar_chart, heatmap, line_chart

MAX_VOLUME_SERIES = 6  # event types drawn in the volume chart; the rest are summed as "(other)"
MAX_ANOMALY_ROWS = 50  # most anomalous users listed
MAX_RETENTION_COHORTS = 20  # latest cohorts shown in the heatmap
# Columns the HTML tables show (when present), with readable headers; the CSV export keeps all.
SEGMENT_COLUMNS = {
    "segment": "#",
    "name": "Name",
    "size": "Users",
    "share": "Share",
    "conversion": "Conversion",
    "events_per_session": "Events / session",
    "top_categories": "Top categories",
    "top_items": "Top items",  # labels; the ids are in the export's top_item_ids
    "revenue": "Revenue",  # only when items have prices
}
SEGMENT_PERCENT = ("Share", "Conversion")
ANOMALY_PERCENT = ("False-alarm rate",)
ANOMALY_COLUMNS = {
    "user_id": "User",
    "score": "Score",
    "false_alarm_rate": "False-alarm rate",
    "flagged": "Flagged",
    "percentile": "Percentile",
    "session": "Session",
    "events": "Events",
    "reason": "Why it stands out",
}
# The dashboard page that produces each model-based part, named when a part is missing.
PRODUCED_ON = {"model metrics": "Train", "segments": "Segments", "anomaly scores": "Anomalies"}


def summary_section(summary: DataSummary) -> Section:
    """Headline numbers, event mix, and the per-user and per-session distributions."""
    mix = summary.event_mix
    single = event_types_note(list(mix["event"]))
    body = [
        table_html(summary.headline),
        "<h3>Event mix</h3>",
        note(single)
        if single
        else bar_chart(
            list(mix["event"]),
            list(mix["events"]),
            "Events per event type",
            notes=[f"{e:,} ({s:.1%})" for e, s in zip(mix["events"], mix["share"], strict=True)],
        ),
        "<h3>Events per user</h3>",
        table_html(summary.events_per_user),
        "<h3>Session length</h3>",
        table_html(summary.session_length),
    ]
    return Section("summary", SECTION_TITLES["summary"], "".join(body))


def funnel_html(funnel: pd.DataFrame, within: str) -> str:
    """Funnel bars labelled with counts and conversion, then the table with drop-off."""
    labels = [
        f"{step}. {event}" for step, event in zip(funnel["step"], funnel["event"], strict=True)
    ]
    notes = [
        f"{count:,} ({share:.1%})"
        for count, share in zip(funnel["count"], funnel["from_first"], strict=True)
    ]
    if "revenue" in funnel:  # only when the items have prices
        notes = [f"{n} · revenue {r:,.2f}" for n, r in zip(notes, funnel["revenue"], strict=True)]
    chart = bar_chart(labels, list(funnel["count"]), f"Funnel ({within}s)", notes=notes)
    table = table_html(funnel, percent=("from_previous", "from_first"))
    return f"<h3>Funnel ({esc(within)}s reaching each step in order)</h3>{chart}{table}"


def volume_html(volume: pd.DataFrame, freq: str) -> str:
    """Events per period, one line per frequent event type."""
    wide = volume.pivot_table(index="period", columns="event", values="events", aggfunc="sum")
    order = wide.sum().sort_values(ascending=False).index
    keep, rest = list(order[:MAX_VOLUME_SERIES]), list(order[MAX_VOLUME_SERIES:])
    series = {str(name): list(wide[name].fillna(0)) for name in keep}
    if rest:
        series["(other)"] = list(wide[rest].fillna(0).sum(axis=1))
    x_labels = [_period_label(period, freq) for period in wide.index]
    chart = line_chart(x_labels, series, f"Events per {freq}")
    return f"<h3>Event volume per {esc(freq)}</h3>{chart}"


def retention_html(long: pd.DataFrame, period: str) -> str:
    """Heatmap of the latest cohorts: share of each cohort active k periods after its first."""
    matrix = retention_matrix(long).tail(MAX_RETENTION_COHORTS)
    if matrix.empty:
        return note("No retention: the dataset has no events.")
    sizes = long.groupby("cohort")["cohort_size"].first()
    rows = [f"{cohort} ({sizes[cohort]:,})" for cohort in matrix.index]
    chart = heatmap(rows, [str(c) for c in matrix.columns], matrix.to_numpy().tolist(), "Retention")
    caption = (
        f"Rows: cohort by first active {period} (users). Columns: {period}s since. "
        "Blank cells lie past the end of the data."
    )
    return f"<h3>Retention by cohort {esc(period)}</h3>{note(caption)}{chart}"


def paths_html(paths: PathsResult, merged: bool = True) -> str:
    """The top paths table; `merged` (repeats collapsed, the default) is said in a caption."""
    caption = note(PATHS_MERGED_NOTE) if merged else ""
    table = table_html(paths.paths.drop(columns="steps"), percent=("share",))
    return f"<h3>Top paths</h3>{caption}{table}"


def behaviour_section(parts: list[str]) -> Section:
    """Funnel, volume, retention and paths, each already rendered (absent ones left out)."""
    return Section("behaviour", SECTION_TITLES["behaviour"], "".join(parts))


def model_section(
    metrics: dict[str, Any] | None, run: str | None = None, warning: str | None = None
) -> Section:
    """Model quality vs baselines: rows are models, columns their numeric metrics.

    `warning` ("Barely trained: …", core.evaluation.training_check) leads the section.
    """
    lead = f'<p class="warning">{esc(warning)}</p>' if warning else ""
    if not metrics:
        body = lead + note(missing("model metrics", run))
        return Section("model", SECTION_TITLES["model"], body)
    nested = all(isinstance(value, dict) for value in metrics.values())
    rows = metrics if nested else {"model": metrics}
    frame = pd.DataFrame(
        [
            {"model": name, **{k: v for k, v in values.items() if _is_number(v)}}
            for name, values in rows.items()
        ]
    )
    text = {k: v for k, v in next(iter(rows.values())).items() if not _is_number(v)}
    context = note(", ".join(f"{k}: {v}" for k, v in text.items())) if text else ""
    return Section("model", SECTION_TITLES["model"], lead + context + table_html(frame))


def segments_section(
    segments: pd.DataFrame | None, run: str | None = None, remark: str | None = None
) -> Section:
    """One row per segment with its name and a few readable measures, largest first.

    The full profile (~25 columns) would overflow the page; it is in the CSV export. `remark`
    is a sentence about what could not be computed (e.g. revenue without a purchase event).
    """
    if segments is None or segments.empty:
        return Section("segments", SECTION_TITLES["segments"], note(missing("segments", run)))
    frame = segments.sort_values("size", ascending=False) if "size" in segments else segments
    chart = ""
    label = next((c for c in ("name", "segment") if c in frame), None)
    if label is not None and "size" in frame:
        labels = [
            f"{s}: {n}" if label == "name" and "segment" in frame else str(n)
            for s, n in zip(frame.get("segment", frame[label]), frame[label], strict=True)
        ]
        notes = None
        if "share" in frame:
            notes = [f"{n:,} ({s:.0%})" for n, s in zip(frame["size"], frame["share"], strict=True)]
        chart = bar_chart(labels, list(frame["size"]), "Segment sizes", notes=notes or ())
    table = table_html(curated(frame, SEGMENT_COLUMNS), percent=SEGMENT_PERCENT)
    extra = note(remark) if remark else ""
    return Section(
        "segments", SECTION_TITLES["segments"], chart + table + extra + note(FULL_DATA_NOTE)
    )


def anomalies_section(
    anomalies: pd.DataFrame | None, run: str | None = None, rate: float | None = None
) -> Section:
    """How many users are flagged at `rate` (default `FlagConfig`), then the most anomalous
    users (highest score first) with the reason for each."""
    if anomalies is None or anomalies.empty:
        return Section(
            "anomalies", SECTION_TITLES["anomalies"], note(missing("anomaly scores", run))
        )
    frame, intro = anomalies, ""
    if "score" in frame:
        rate = rate or FlagConfig().false_alarm_rate
        frame = with_flags(frame, rate).sort_values("score", ascending=False)
        intro = note(summarize(frame, rate).sentence()) + note(METHOD_NOTE)
    shown = min(len(frame), MAX_ANOMALY_ROWS)
    intro += note(f"The {shown:,} highest-scoring of {len(frame):,} scored users.")
    table = table_html(curated(frame, ANOMALY_COLUMNS), max_rows=shown, percent=ANOMALY_PERCENT)
    return Section("anomalies", SECTION_TITLES["anomalies"], intro + table + note(FULL_DATA_NOTE))


def new_period_section(periods: list[dict[str, Any]]) -> Section:
    """Each scored new period: the verdict, then quality beside the baselines and drift."""
    parts = []
    for period in periods:
        parts.append(f"<h3>{esc(period.get('dataset', ''))}</h3>")
        parts.append(note(str(period.get("verdict", ""))))
    frame = pd.DataFrame([period_row(p) for p in periods])
    parts.append(table_html(frame, percent=PERIOD_PERCENT))
    return Section("new_period", SECTION_TITLES["new_period"], "".join(parts))


FULL_DATA_NOTE = "Every measure, for every row, is in the CSV tables exported with this report."


def curated(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """The `columns` present in `frame`, renamed to their readable headers.

    Falls back to the whole frame when none is present (an unknown layout still shows).
    """
    present = [c for c in columns if c in frame]
    if not present:
        return frame
    return frame[present].rename(columns=columns)


def missing(what: str, run: str | None) -> str:
    """One line, in analyst words, saying where a missing model-based part is produced."""
    page = PRODUCED_ON.get(what)
    if run is None or page is None:
        return f"No {what}: choose a trained model run that has them."
    return f"No {what} for run {run} yet: compute them on the {page} page, then rebuild the report."


def _is_number(value: Any) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def _period_label(period: Any, freq: str) -> str:
    stamp = pd.Timestamp(period)
    formats = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H:00"}
    return stamp.strftime(formats.get(freq, "%Y-%m-%d"))
