"""Reusable Streamlit widgets: pickers, friendly errors, headline cards.

Each function takes a `key` prefix for every widget it creates, so one page can use it twice and
two pages never collide. Selections are remembered per browser tab in session state (the keys
live in dashboard/state.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import streamlit as st

from core import jobs
from core.analysis import run_info, runs_table
from core.errors import BehaviorLensError, for_analyst
from core.workspace import Workspace
from dashboard import state

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~])")


def md(text: object) -> str:
    """User data (item labels, ids, column names) as literal text inside Streamlit markdown:
    a label like `**50% off**` or `[x](y)` is shown as written, never as formatting or a link."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


@contextmanager
def friendly_errors(what: str = "") -> Iterator[None]:
    """Show a user error (bad file, missing run, bad input) as a message, not a traceback."""
    try:
        yield
    except BehaviorLensError as error:
        text = for_analyst(error)
        st.error(f"{what}: {text}" if what else text)


def synced_select(
    label: str,
    names: list[str],
    state_key: str,
    fallback: Any,
    key: str,
    on_pick: Callable[[str], None] | None = None,
    format_func: Callable[[str], str] = str,
) -> str:
    """A select box that follows the tab's choice in `state_key` across pages.

    The widget is set from session state before it is drawn (so a choice made elsewhere, e.g.
    ingesting a new dataset, shows here) and writes back through on_change (then `on_pick`).
    Setting it on every run also sends the browser the option's current text, so a label that
    changes (a job's state) is never left showing an old one.
    """
    current = state.get(state_key) or fallback
    if current not in names:
        current = names[0]
    st.session_state[key] = current
    state.put(state_key, current)

    def picked() -> None:
        state.put(state_key, st.session_state[key])
        if on_pick is not None:
            on_pick(st.session_state[key])

    return st.selectbox(label, names, key=key, on_change=picked, format_func=format_func)


def keep_values(prefix: str) -> None:
    """Keep the values of the widgets whose keys start with `prefix` through a run that does
    not draw them (a closed tab's view): Streamlit forgets an undrawn widget's value, and
    re-assigning it is its documented way to keep it. Call it only in runs that do not draw
    them: a value assigned in the run that draws its widget makes Streamlit warn."""
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix)]:
        st.session_state[key] = st.session_state[key]


def dataset_picker(ws: Workspace, key: str, label: str = "Dataset") -> str | None:
    """Select box over the workspace's datasets; remembers the tab's choice. None when empty."""
    names = ws.dataset_names()
    if not names:
        return None
    adopt_trained_runs(ws)
    demo = state.demo(str(ws.root))
    return synced_select(
        label, names, state.DATASET, getattr(demo, "dataset", None), f"{key}_dataset"
    )


def run_picker(
    ws: Workspace, key: str, label: str = "Trained run", names: list[str] | None = None
) -> str | None:
    """Select box over trained runs (default: all in the workspace); None when there is none.

    A run still training is never offered: its checkpoint changes under the analyst, and what
    they computed on it would be overwritten when it finishes. It opens on the tab's dataset's
    default run (else its newest finished run) whenever the tab's run belongs to another dataset;
    picking a run of another dataset makes that the tab's dataset. When the tab's dataset has no
    run yet, the page says whose run it shows instead.
    """
    names = ws.run_names() if names is None else names
    names = [name for name in names if not jobs.job_status(ws, name).active]
    if not names:
        return None
    adopt_trained_runs(ws)
    demo = state.demo(str(ws.root))
    dataset = state.get(state.DATASET) or getattr(demo, "dataset", None)
    preferred = runs_table.preferred_run(ws, dataset) if dataset else None
    current = state.get(state.RUN)
    if preferred in names and (current not in names or _dataset_of(ws, current) != dataset):
        state.put(state.RUN, preferred)

    def follow_dataset(run: str) -> None:
        state.put(state.DATASET, _dataset_of(ws, run) or dataset)

    fallback = preferred or getattr(demo, "run", None)
    run = synced_select(label, names, state.RUN, fallback, f"{key}_run", follow_dataset)
    trained_on = _dataset_of(ws, run)
    if dataset and trained_on and trained_on != dataset and preferred is None:
        st.info(
            f"No run has been trained on **{md(dataset)}** yet: this page shows run "
            f"**{md(run)}**, trained on **{md(trained_on)}**. Train one on the **Train** page.",
            icon=":material/info:",
        )
    training_warning(ws, run)
    return run


def adopt_trained_runs(ws: Workspace) -> None:
    """Once a run this tab started has finished training, make it the tab's run (and its
    dataset the tab's dataset), so every page opens on it rather than on an older run."""
    launched = state.get(state.LAUNCHED) or []
    if not launched:
        return
    finished = set(ws.run_names())
    waiting = []
    for run in launched:
        if jobs.job_status(ws, run).active:
            waiting.append(run)
        elif run in finished:
            state.put(state.RUN, run)
            state.put(state.DATASET, _dataset_of(ws, run) or state.get(state.DATASET))
    state.put(state.LAUNCHED, waiting)


def _dataset_of(ws: Workspace, run: str) -> str | None:
    try:
        return run_info.run_meta(ws, run).get("dataset")
    except (BehaviorLensError, OSError, ValueError):
        return None


def training_warning(ws: Workspace, run: str) -> None:
    """Say so when the run is barely trained (with both figures) or its dataset was replaced
    since it was trained, on every page that shows one."""
    with friendly_errors(f"Checking run {run}"):
        trained_on = _dataset_of(ws, run)
        if trained_on in ws.dataset_names():  # a run of a deleted dataset has nothing to compare
            stamps = (state.run_stamp(ws, run), state.dataset_stamp(ws, trained_on))
            outdated = state.outdated_label(str(ws.root), run, stamps)
            if outdated:
                st.warning(md(outdated), icon=":material/history:")
        label = state.training_label(str(ws.root), run, state.run_stamp(ws, run))
        if label:
            st.warning(label, icon=":material/warning:")


def user_picker(sequences: Any, key: str, label: str = "User") -> int:
    """Pick a user by id (longest histories first: they make the richest views). Returns index."""
    lengths = sequences.lengths()
    order = np.argsort(-lengths, kind="stable")[:500]  # every rerun: no Python sort over users
    ids = [str(sequences.user_ids[u]) for u in order]
    widget = f"{key}_user"
    current = state.get(state.USER)
    st.session_state[widget] = current if current in ids else ids[0]
    chosen = st.selectbox(
        label,
        ids,
        key=widget,
        format_func=lambda uid: f"{uid} ({int(lengths[sequences.user_index(uid)])} events)",
        help="The 500 users with the longest histories.",
        on_change=lambda: state.put(state.USER, st.session_state[widget]),
    )
    state.put(state.USER, chosen)
    return sequences.user_index(chosen)


def require_dataset(ws: Workspace, key: str) -> str:
    """The picked dataset; with none in the workspace, say where to add one and stop the page."""
    dataset = dataset_picker(ws, key=key)
    if dataset is None:
        no_dataset_message()
        st.stop()
    return dataset


def require_run(ws: Workspace, key: str) -> str:
    """The picked run; with none in the workspace, say where to train one and stop the page."""
    run = run_picker(ws, key=key)
    if run is None:
        no_run_message()
        st.stop()
    return run


def no_dataset_message() -> None:
    st.info("No dataset in the workspace yet: upload a behaviour log on the **Data** page.")
    st.page_link("app_pages/data.py", label="Go to Data", icon=":material/upload_file:")


def no_run_message() -> None:
    st.info(
        "No trained run yet: train a model on the **Train** page (a quick demo takes a minute)."
    )
    st.page_link("app_pages/train.py", label="Go to Train", icon=":material/model_training:")


def metric_cards(cards: list[tuple], key: str) -> None:
    """A row of st.metric cards: (label, value, help) or (label, value, help, delta)."""
    columns = st.columns(len(cards))
    for column, card in zip(columns, cards, strict=True):
        label, value, help_text, delta = (*card, None)[:4]
        column.metric(
            label,
            value if value is not None else "—",
            delta=delta,
            help=help_text,
            border=True,
            delta_color="off" if delta is None else "normal",
        )


def timeline_table(ws: Workspace, dataset: str, user_id: str, key: str) -> None:
    """A user's events in time order (drill-down from a map point or an anomaly)."""
    frame = state.user_timeline(str(ws.root), dataset, state.dataset_stamp(ws, dataset), user_id)
    st.markdown(f"**Timeline of user {md(user_id)}** · {len(frame):,} events")
    st.dataframe(frame, hide_index=True, key=f"{key}_timeline", height=300)
