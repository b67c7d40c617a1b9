"""Add a dataset from the browser: upload → save to disk → map columns → preview → ingest.

The uploaded file is streamed to WORKSPACE/uploads/<tab>/ once per upload (the tab's own folder,
so two tabs uploading files of the same name do not overwrite each other), then every step works
from that file on disk.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import streamlit as st

from core import fs_atomic
from core.analysis import run_info
from core.data.ingest import IngestOptions, ingest, ingest_warnings, preview
from core.data.mapping import NO_COLUMN, ColumnMapping, MappingPreview, missing_roles
from core.data.mapping_checks import MappingIssue, check_mapping
from core.data.store import load_manifest
from core.progress import ProgressEvent
from core.workspace import Workspace, safe_file_name, safe_name
from dashboard import state
from dashboard.components import widgets

UPLOAD_CHUNK = 16 << 20  # bytes copied per read when saving an upload

ROLES = ("user", "time", "event", "item", "session", "category")
NONE = "(none)"
ROLE_HELP = {
    "user": "Who acted (required).",
    "time": "When (unix seconds/ms or ISO text). Required except for sequence files.",
    "event": "Kind of action; without it every row is one type 'event'.",
    "item": "What the action was on; without it, the event type stands in for the item.",
    "session": "Explicit session id; without it, sessions split at 30 min of inactivity.",
    "category": "Item category (optional).",
}
MISSING_TEXT = {  # a required role with no column (core.data.mapping.missing_roles)
    "user": "No user column was found: pick the column that says who acted.",
    "item": "No item column was found (nor an event column to use instead): pick one.",
    "time": "No time column was found: pick the column that says when (unix times or dates).",
}
FILE_TYPES = ["csv", "tsv", "txt", "parquet", "inter"]
FORMATS = ["auto", "csv", "parquet", "recbole", "sequences"]  # IngestOptions.format values
DELIMITERS = {"auto": None, ",": ",", ";": ";", "tab": "\t", "|": "|", "space": " "}
HEADERS = {"auto": None, "yes": True, "no": False}  # IngestOptions.has_header values


def _tab_folder(ws: Workspace) -> Path:
    token = state.get(state.TAB_TOKEN)
    if token is None:
        token = uuid.uuid4().hex[:12]
        state.put(state.TAB_TOKEN, token)
    return ws.root / "uploads" / token


def save_upload(stream: BinaryIO, filename: str, folder: Path) -> Path:
    """Copy an uploaded file to disk in 16 MB chunks (never `.getvalue()`: no second copy).

    Saved under `core.workspace.safe_file_name` (never a path outside `folder`), written under
    a temp name and renamed (`core.fs_atomic.replacing`), so a half-copied upload is never
    ingested.
    """
    target = folder / safe_file_name(filename)
    stream.seek(0)
    with fs_atomic.replacing(target) as partial, open(partial, "wb") as out:
        shutil.copyfileobj(stream, out, length=UPLOAD_CHUNK)
    return target


def dataset_name_for(filename: str) -> str:
    """A valid dataset name proposed from an uploaded file's name (`core.workspace.safe_name`)."""
    return safe_name(Path(filename).stem, "dataset")


def saved_upload(
    ws: Workspace,
    key: str,
    label: str = "Drop a behaviour log (CSV, TSV, Parquet, RecBole .inter, or `user item` text)",
    slot: str = state.UPLOAD,
    types: list[str] = FILE_TYPES,
) -> Path | None:
    """An uploader widget; returns the saved file on disk (copied once per upload).

    `slot` is the session-state record of this uploader (the log, or the optional item table),
    so each one remembers its own file.
    """
    uploaded = st.file_uploader(label, type=types, key=f"{key}_file")
    if uploaded is None:
        return None
    record = state.get(slot) or {}
    if record.get("file_id") != uploaded.file_id or not Path(record.get("path", "")).is_file():
        path = save_upload(uploaded, uploaded.name, _tab_folder(ws))
        record = {"file_id": uploaded.file_id, "path": str(path), "name": uploaded.name}
        state.put(slot, record)
    return Path(record["path"])


def mapping_form(proposal: MappingPreview, key: str) -> dict[str, str | None]:
    """One select box per role, defaulting to the detected column."""
    options = [NONE, *proposal.source.columns]
    chosen: dict[str, str | None] = {}
    columns = st.columns(len(ROLES))
    for column, role in zip(columns, ROLES, strict=True):
        detected = getattr(proposal.mapping, role)
        how = proposal.detected_by.get(role)
        pick = column.selectbox(
            role.capitalize(),
            options,
            index=options.index(detected) if detected in options else 0,
            key=f"{key}_{role}",
            help=ROLE_HELP[role] + (f" Detected by {how}." if how else ""),
        )
        chosen[role] = None if pick == NONE else pick
    return chosen


def read_options(key: str) -> IngestOptions:
    """The "Advanced" overrides of format, delimiter and header (all "auto" by default).

    Detection is right for most files; these are for the ones it gets wrong (a semicolon CSV
    whose first data row looks like a header, a headerless file, …).
    """
    with st.popover("Advanced", icon=":material/tune:"):
        fmt = st.selectbox("Format", FORMATS, key=f"{key}_format")
        delimiter = st.selectbox(
            "Delimiter", list(DELIMITERS), key=f"{key}_delimiter", help="For text formats only."
        )
        header = st.selectbox(
            "First line is a header", list(HEADERS), key=f"{key}_header", help="For text formats."
        )
    # The ingest limits come from the server's environment: a bad value is the operator's to fix.
    with widgets.friendly_errors("Uploads are off until whoever runs this server fixes a limit"):
        return IngestOptions(
            format=fmt, delimiter=DELIMITERS[delimiter], has_header=HEADERS[header]
        )
    st.stop()


def run_ingest(
    ws: Workspace,
    path: Path,
    name: str,
    mapping: dict[str, str | None],
    read: IngestOptions | None = None,
    follow: bool = True,
) -> bool:
    """Ingest with a live progress bar; on success (True) the tab switches to the new dataset
    (unless `follow` is False)."""
    with st.status(f"Ingesting {path.name} as **{name}**…", expanded=True) as status:
        bar = st.progress(0.0, text="reading")

        def on_progress(event: ProgressEvent) -> None:
            bar.progress(event.fraction or 0.0, text=f"{event.stage} {event.message}".strip())

        with widgets.friendly_errors("Ingest failed"):
            # "(none)" is a decision, not a blank: detection must not bring the column back
            roles = {role: column or NO_COLUMN for role, column in mapping.items()}
            options = replace(read or IngestOptions(), **roles)
            summary = ingest(path, name, ws, options, on_progress=on_progress)
            bar.progress(1.0, text="done")
            # kept open when rows were rejected: the warnings below say which and why
            said = bool(summary.get("rejected_rows"))
            status.update(label=f"Ingested **{name}**", state="complete", expanded=said)
            if follow:
                state.put(state.DATASET, name)
            _show_summary(summary)
            for warning in ingest_warnings(path.name, load_manifest(ws, name), for_analyst=True):
                st.warning(warning, icon=":material/warning:")
            return True
        status.update(label="Ingest failed", state="error", expanded=True)
    return False


def _show_summary(summary: dict[str, Any]) -> None:
    st.success(
        f"{summary.get('events', 0):,} events from {summary.get('users', 0):,} users, "
        f"{summary.get('items', 0):,} items, {summary.get('sessions', 0):,} sessions; "
        f"{summary.get('rejected_rows', 0):,} rows rejected."
    )
    st.json(summary, expanded=False)


def mapping_checks(
    proposal: MappingPreview, mapping: dict[str, str | None], key: str
) -> tuple[list[MappingIssue], bool]:
    """Show what auto-detection set aside and what still looks wrong with the chosen mapping.

    Returns (issues, accepted): Ingest stays disabled while an issue is neither fixed by picking
    another column nor explicitly accepted with the check box.
    """
    for note in proposal.notes:
        st.info(f"Auto-detection: {widgets.md(note)}.", icon=":material/auto_fix_high:")
    issues = check_mapping(proposal.source, mapping)
    for issue in issues:
        st.error(
            f"**{widgets.md(issue.column)}** as the {issue.role}: {widgets.md(issue.problem)}. "
            f"{issue.advice}",
            icon=":material/error:",
        )
    accepted = bool(issues) and st.checkbox(
        "I have checked these columns: ingest with this mapping anyway",
        key=f"{key}_accept_{'_'.join(i.role for i in issues)}",
    )
    return issues, accepted


def add_dataset(ws: Workspace, key: str, follow: bool = True) -> bool:
    """The whole upload flow; `follow`: the tab switches to the new dataset once ingested (the
    Score page's second period does not: the run being scored stays the tab's subject).

    Returns True while a file is uploaded but not ingested yet, so the page can avoid showing
    another dataset's profile as if it were this file's."""
    path = saved_upload(ws, key)
    if path is None:
        st.caption("Files stay on this machine, in the workspace folder.")
        return False
    record = state.get(state.UPLOAD) or {}
    # Mapping widgets keyed by the upload: a second file never inherits the first one's picks.
    ingested = map_and_ingest(ws, path, f"{key}_{record.get('file_id', '')}", follow)
    if ingested is not None:
        record = {**record, "dataset": ingested}
        state.put(state.UPLOAD, record)
    return "dataset" not in record


def replace_warning(ws: Workspace, name: str) -> str:
    """What ingesting under an existing dataset's name does, runs trained on it included."""
    said = f"A dataset named **{widgets.md(name)}** exists; ingesting replaces it."
    runs = run_info.runs_of(ws, name)
    if not runs:
        return said
    names = ", ".join(f"**{widgets.md(run)}**" for run in runs)
    many = len(runs) > 1
    return (
        f"{said} Run{'s' if many else ''} {names} {'were' if many else 'was'} trained on it: "
        f"{'their' if many else 'its'} segments, anomalies and scores will describe the old data "
        "until you train again."
    )


def map_and_ingest(ws: Workspace, path: Path, key: str, follow: bool = True) -> str | None:
    """Preview, mapping with its checks, optional item table, name, and the Ingest button.
    Returns the dataset's name when it was just ingested."""
    read = read_options(key)
    with widgets.friendly_errors("Cannot read this file"):
        proposal = preview(path, read, require=False)  # a role not found: the analyst picks it
        st.markdown(f"**Preview** · detected format: `{proposal.source.format}`")
        frame = pd.DataFrame(proposal.preview, columns=proposal.source.columns)
        st.dataframe(frame, hide_index=True, key=f"{key}_preview")
        st.markdown("**Column mapping** (auto-detected; change any that are wrong)")
        mapping = mapping_form(proposal, key)
        issues, accepted = mapping_checks(proposal, mapping, key)
        missing = missing_roles(ColumnMapping(**mapping), proposal.source.format)
        for role in missing:
            st.error(MISSING_TEXT[role], icon=":material/error:")
        items = saved_upload(
            ws,
            f"{key}_items",
            "Item table (optional): item id plus name, brand, category, price…",
            slot=state.ITEM_UPLOAD,
            types=["csv", "tsv", "txt", "parquet"],
        )
        name = st.text_input("Dataset name", value=dataset_name_for(path.name), key=f"{key}_name")
        if name in ws.dataset_names():
            st.warning(replace_warning(ws, name), icon=":material/warning:")
        blocked = (bool(issues) and not accepted) or bool(missing)
        if st.button("Ingest", type="primary", key=f"{key}_go", disabled=blocked):
            read = replace(read, accept_mapping=accepted, items=str(items) if items else None)
            if run_ingest(ws, path, name, mapping, read, follow):
                return name
    return None
