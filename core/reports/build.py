"""Assemble a report for one dataset (and optionally one run) from the analytics and run outputs.

`build_report` returns the self-contained HTML; `report_tables` returns the same content as
DataFrames for the CSV export. The model-based parts (metrics, segments, anomalies) are read from
the run folder when their files exist; until a run has them, the sections say so instead of
failing, so a report is useful from the first ingest on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.analysis.anomaly_flags import FlagConfig, with_flags
from core.analysis.behaviour import (
    PathsConfig,
    data_summary,
    event_volume,
    funnel,
    retention,
    top_paths,
)
from core.analysis.events_db import event_types
from core.analysis.funnels import default_funnel_steps
from core.analysis.item_labels import label_segment_items, price_frame
from core.analysis.naming import small_segments_note
from core.analysis.score_period import DRIFT_FILE, SCORED_DIR, period_row
from core.analysis.segment_profile import revenue_note
from core.analysis.time_resolution import dataset_support
from core.analysis.view_notes import event_types_note
from core.data.items import ItemCatalog, load_item_catalog
from core.errors import BehaviorLensError, InputError
from core.locks import folder_lock
from core.progress import ProgressCallback, ProgressEvent, ignore_progress
from core.reports import sections as build
from core.reports.html import Section, note, render_document
from core.reports.omitted import (
    NO_TIME,
    Omission,
    funnel_omission,
    lacking,
    not_chosen,
    paths_omission,
)
from core.reports.request import ModelOutputs, ReportOptions, ReportRequest
from core.workspace import Workspace, read_json

SECTION_KEYS = ("summary", "behaviour", "model", "segments", "anomalies", "new_period")
MODEL_SECTIONS = ("model", "segments", "anomalies")  # shown by default only when a run has them
OPTIONAL_SECTIONS = {"new_period": "new_periods"}  # section -> the output it shows; no gap if none

# Run-folder files the report reads when present (written by evaluate / segment / anomalies).
RUN_METRICS_FILE = "metrics.json"  # {model_or_baseline: {metric: value}} or {metric: value}
RUN_SEGMENTS_FILE = "segments.parquet"  # one row per segment: segment, name, size, profile…
RUN_ASSIGNMENTS_FILE = "segment_assignments.parquet"  # one row per user: user_id, segment
RUN_ANOMALIES_FILE = "anomalies.parquet"  # one row per user or session: user_id, score, reason


@dataclass
class _Context:
    """Everything the section builders need, resolved once."""

    events_path: Path
    manifest: dict[str, Any]
    options: ReportOptions
    outputs: ModelOutputs
    run: str | None = None  # the run the model sections come from (None: dataset only)
    user_ids: list[str] | None = None  # users of the filtered segment, None = everyone
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # for the CSV export
    training_label: str | None = None  # "Barely trained: …" when the run is not above Markov
    catalog: ItemCatalog = field(default_factory=ItemCatalog)  # item labels and prices
    omitted: list[Omission] = field(default_factory=list)  # the "Not in this report" box


def load_run_outputs(workspace: Workspace, run: str) -> ModelOutputs:
    """Read a run's metrics, segments and anomalies from its folder, where they exist."""
    folder = workspace.existing_run_dir(run)
    metrics_path = folder / RUN_METRICS_FILE
    with folder_lock(folder, shared=True):  # segments and assignments from the same write
        return ModelOutputs(
            metrics=read_json(metrics_path) if metrics_path.is_file() else None,
            segments=_read_optional(folder / RUN_SEGMENTS_FILE),
            assignments=_read_optional(folder / RUN_ASSIGNMENTS_FILE),
            anomalies=_read_optional(folder / RUN_ANOMALIES_FILE),
            new_periods=_new_periods(folder),
        )


def sections_available(workspace: Workspace, run: str | None) -> list[str]:
    """The sections a report can hold, from the run folder's files alone (nothing is read):
    summary and behaviour always, model, segments and anomalies once their files exist."""
    files = {
        "model": RUN_METRICS_FILE,
        "segments": RUN_SEGMENTS_FILE,
        "anomalies": RUN_ANOMALIES_FILE,
    }
    folder = workspace.existing_run_dir(run) if run else None
    ready = [key for key, name in files.items() if folder and (folder / name).is_file()]
    return ["summary", "behaviour", *ready]


def _new_periods(run_dir: Path) -> list[dict[str, Any]] | None:
    """drift.json of every new period scored with the run (`score`), oldest first; None: none."""
    paths = sorted((run_dir / SCORED_DIR).glob(f"*/{DRIFT_FILE}"), key=lambda p: p.stat().st_mtime)
    return [read_json(path) for path in paths] or None


def _read_optional(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def build_report(
    workspace: Workspace, request: ReportRequest, on_progress: ProgressCallback | None = None
) -> str:
    """The report as one HTML string (see `ReportRequest` for what it shows).

    `request.outputs` overrides what is read from the run folder (the dashboard passes what it
    holds); `request.segment_filter` restricts analytics and tables to that segment.
    """
    html, _ = build_report_parts(workspace, request, on_progress)
    return html


def build_report_parts(
    workspace: Workspace, request: ReportRequest, on_progress: ProgressCallback | None = None
) -> tuple[str, dict[str, Any]]:
    """Like `build_report`, also returning {"sections": keys, "tables": {name: DataFrame},
    "omitted": [Omission]}: what the report leaves out (a section or a view) and why."""
    dataset, run = request.dataset, request.run
    context = _context(workspace, request)
    wanted = _choose_sections(request.sections)
    keys: list[str] = []
    for key in SECTION_KEYS:  # in report order, so the box lists parts where they would be
        if key in OPTIONAL_SECTIONS and not getattr(context.outputs, OPTIONAL_SECTIONS[key]):
            continue  # an extra, not a gap: nothing to say when there is none
        absent = lacking(key, context.outputs, run)
        if key in wanted and absent is None:
            keys.append(key)
        else:
            context.omitted.append(absent or not_chosen(key))
    progress = on_progress or ignore_progress
    built: list[Section] = []
    for i, key in enumerate(keys):
        progress(ProgressEvent("report", i, len(keys), key))
        built.append(_SECTION_BUILDERS[key](context))
    progress(ProgressEvent("report", len(keys), len(keys), "done"))
    omitted = _in_report_order(context.omitted)
    boxed = [(o.title, o.reason) for o in omitted]
    meta = _meta(dataset, run, request.segment_filter)
    if context.training_label:  # on top, whichever sections are shown
        meta = f"{meta} · {context.training_label}"
    html = render_document(_title(context, dataset), meta, built, boxed)
    return html, {"sections": keys, "tables": context.tables, "omitted": omitted}


def _in_report_order(omitted: list[Omission]) -> list[Omission]:
    """Views left out of the behaviour section (funnel, paths…) follow the sections left out
    before it, so the box reads top to bottom like the report."""
    rank = {key: i for i, key in enumerate(SECTION_KEYS)}
    behaviour = rank["behaviour"]
    return sorted(omitted, key=lambda o: rank.get(o.key, behaviour))


def _context(workspace: Workspace, request: ReportRequest) -> _Context:
    folder = workspace.existing_dataset_dir(request.dataset)
    run, outputs = request.run, request.outputs
    if outputs is None:
        outputs = load_run_outputs(workspace, run) if run is not None else ModelOutputs()
    context = _Context(
        events_path=folder / "events.parquet",
        manifest=read_json(folder / "manifest.json"),
        options=request.options,
        outputs=outputs,
        run=run,
        catalog=load_item_catalog(workspace, request.dataset),
    )
    if request.segment_filter is not None:
        _apply_segment_filter(context, request.segment_filter)
    if run is not None:
        context.training_label = _training_label(workspace, run)
    return context


def _training_label(workspace: Workspace, run: str) -> str | None:
    """The warnings that lead the run's sections, if any: its dataset replaced since training
    (core.analysis.run_freshness), then "barely trained" (core.evaluation.training_check)."""
    from core.analysis.run_freshness import outdated_note
    from core.evaluation.training_check import training_check

    check = training_check(workspace, run)
    notes = [outdated_note(workspace, run), check.label() if check is not None else None]
    return " ".join(note for note in notes if note) or None


def _choose_sections(sections: Sequence[str] | None) -> list[str]:
    """Asked-for sections in report order, all by default. A section whose run output is
    missing is then left out and listed, with the reason, under "Not in this report"."""
    if sections is None:
        return list(SECTION_KEYS)
    unknown = [key for key in sections if key not in SECTION_KEYS]
    if unknown:
        raise BehaviorLensError(
            f"unknown report section {unknown[0]!r} (sections: {', '.join(SECTION_KEYS)})"
        )
    return [key for key in SECTION_KEYS if key in sections]


def _apply_segment_filter(context: _Context, wanted: str) -> None:
    """Keep only the users, segment row and anomalies of segment `wanted` (id or name)."""
    outputs = context.outputs
    if outputs.assignments is None or outputs.segments is None:
        raise BehaviorLensError(
            f"segment filter {wanted!r}: this run has no segments (run `segment` first)"
        )
    segments = outputs.segments
    for frame, name in ((segments, RUN_SEGMENTS_FILE), (outputs.assignments, RUN_ASSIGNMENTS_FILE)):
        if "segment" not in frame:
            raise InputError("segment filter needs a 'segment' column", file=name, column="segment")
    match = segments["segment"].astype(str) == wanted
    if "name" in segments:
        match |= segments["name"].astype(str) == wanted
    if not match.any():
        known = ", ".join(sorted(set(segments["segment"].astype(str))))
        raise BehaviorLensError(f"segment filter: no segment {wanted!r} (segments: {known})")
    ids = set(segments.loc[match, "segment"].astype(str))
    members = outputs.assignments["segment"].astype(str).isin(ids)
    users = outputs.assignments.loc[members, "user_id"].astype(str)
    context.user_ids = list(users)
    anomalies = outputs.anomalies
    if anomalies is not None and "user_id" in anomalies:
        anomalies = anomalies[anomalies["user_id"].astype(str).isin(set(users))]
    context.outputs = ModelOutputs(outputs.metrics, segments[match], outputs.assignments, anomalies)


def _summary(context: _Context) -> Section:
    summary = data_summary(context.events_path, context.manifest, context.user_ids)
    context.tables.update(
        summary=summary.headline,
        events_per_user=summary.events_per_user,
        session_length=summary.session_length,
        event_mix=summary.event_mix,
    )
    return build.summary_section(summary)


def _behaviour(context: _Context) -> Section:
    path, users, options = context.events_path, context.user_ids, context.options
    kinds = event_types(path, users)
    parts: list[str] = []
    steps = options.funnel_steps or default_funnel_steps(kinds)
    if len(steps) >= 2:
        prices = price_frame(context.catalog)
        table = funnel(path, steps, options.funnel_within, user_ids=users, prices=prices)
        context.tables["funnel"] = table
        parts.append(build.funnel_html(table, options.funnel_within))
    else:
        context.omitted.append(funnel_omission(kinds, steps))
    if context.manifest.get("has_time", True):
        parts += _time_parts(context)
    else:
        context.omitted.append(NO_TIME)
    if len(kinds) >= 2:
        paths = top_paths(path, PathsConfig(length=options.path_length), users)
        context.tables["paths"] = paths.paths.assign(steps=paths.paths["steps"].map(" > ".join))
        context.tables["path_links"] = paths.links
        parts.append(build.paths_html(paths))
    else:
        context.omitted.append(paths_omission(kinds))
    if not parts:
        parts.append(note(event_types_note(kinds) or "Nothing to show for this log."))
    return build.behaviour_section(parts)


def _time_parts(context: _Context) -> list[str]:
    path, users, options = context.events_path, context.user_ids, context.options
    time = dataset_support(path, context.manifest)
    freq = options.volume_freq or time.unit
    volume = event_volume(path, freq, True, users)
    cohorts = retention(path, options.retention_period, users)
    context.tables.update(volume=volume, retention=cohorts)
    return [
        *([note(time.note())] if time.note() else []),
        build.volume_html(volume, freq),
        build.retention_html(cohorts, options.retention_period),
    ]


def _model(context: _Context) -> Section:
    metrics = context.outputs.metrics
    if metrics:
        nested = all(isinstance(v, dict) for v in metrics.values())
        rows = metrics if nested else {"model": metrics}
        context.tables["model"] = pd.DataFrame([{"model": k, **v} for k, v in rows.items()])
    return build.model_section(metrics, context.run, context.training_label)


def _segments(context: _Context) -> Section:
    segments = context.outputs.segments
    if segments is None:
        return build.segments_section(None, context.run)
    segments = label_segment_items(segments, context.catalog)
    context.tables["segments"] = segments
    remarks = (revenue_note(segments, context.catalog), small_segments_note(segments))
    remark = " ".join(r for r in remarks if r) or None
    return build.segments_section(segments, context.run, remark)


def _anomalies(context: _Context) -> Section:
    anomalies = context.outputs.anomalies
    if anomalies is not None and "score" in anomalies:  # files from before the rates: computed
        anomalies = with_flags(anomalies, FlagConfig().false_alarm_rate)
    if anomalies is not None:
        context.tables["anomalies"] = anomalies
    return build.anomalies_section(anomalies, context.run)


def _new_period(context: _Context) -> Section:
    periods = context.outputs.new_periods or []
    context.tables["new_period"] = pd.DataFrame([period_row(p) for p in periods])
    return build.new_period_section(periods)


_SECTION_BUILDERS = {
    "new_period": _new_period,
    "summary": _summary,
    "behaviour": _behaviour,
    "model": _model,
    "segments": _segments,
    "anomalies": _anomalies,
}


def _title(context: _Context, dataset: str) -> str:
    return context.options.title or f"Behavior Lens report: {dataset}"


def _meta(dataset: str, run: str | None, segment_filter: str | None) -> str:
    parts = [f"dataset {dataset}"]
    if run is not None:
        parts.append(f"run {run}")
    if segment_filter is not None:
        parts.append(f"segment {segment_filter}")
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return " · ".join([*parts, f"created {created}"])
