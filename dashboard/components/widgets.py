"""Reusable Streamlit widgets: pickers, friendly errors, headline cards.

Each function takes a `key` prefix for every widget it creates, so one page can use it twice and
two pages never collide. Selections are remembered per browser tab in session state (the keys
live in dashboard/state.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from core.errors import BehaviorLensError
from core.workspace import Workspace
from dashboard import backend, state


@contextmanager
def friendly_errors(what: str = "") -> Iterator[None]:
    """Show a user error (bad file, missing run, part not ready) as a message, not a traceback."""
    try:
        yield
    except backend.NotReady as error:
        st.info(str(error))
    except BehaviorLensError as error:
        st.error(f"{what}: {error}" if what else str(error))


def _remembered(options: list[str], key: str, fallback: str | None) -> int:
    current = state.get(key) or fallback
    return options.index(current) if current in options else 0


def dataset_picker(ws: Workspace, key: str, label: str = "Dataset") -> str | None:
    """Select box over the workspace's datasets; remembers the tab's choice. None when empty."""
    names = ws.dataset_names()
    if not names:
        return None
    demo = state.demo(str(ws.root))
    index = _remembered(names, state.DATASET, getattr(demo, "dataset", None))
    chosen = st.selectbox(label, names, index=index, key=f"{key}_dataset")
    state.put(state.DATASET, chosen)
    return chosen


def run_picker(ws: Workspace, key: str, label: str = "Trained run") -> str | None:
    """Select box over the finished runs in the workspace; None when there is none."""
    names = ws.run_names()
    if not names:
        return None
    demo = state.demo(str(ws.root))
    index = _remembered(names, state.RUN, getattr(demo, "run", None))
    chosen = st.selectbox(label, names, index=index, key=f"{key}_run")
    state.put(state.RUN, chosen)
    return chosen


def user_picker(sequences: Any, key: str, label: str = "User") -> int:
    """Pick a user by id (longest histories first: they make the richest views). Returns index."""
    lengths = sequences.lengths()
    order = sorted(range(sequences.num_users), key=lambda u: -int(lengths[u]))[:500]
    ids = [str(sequences.user_ids[u]) for u in order]
    index = _remembered(ids, state.USER, None)
    chosen = st.selectbox(
        label,
        ids,
        index=index,
        key=f"{key}_user",
        format_func=lambda uid: f"{uid} ({int(lengths[sequences.user_index(uid)])} events)",
        help="The 500 users with the longest histories.",
    )
    state.put(state.USER, chosen)
    return sequences.user_index(chosen)


def no_dataset_message() -> None:
    st.info("No dataset in the workspace yet: upload a behaviour log on the **Data** page.")
    st.page_link("app_pages/data.py", label="Go to Data", icon="📂")


def no_run_message() -> None:
    st.info(
        "No trained run yet: train a model on the **Train** page (a quick demo takes a minute)."
    )
    st.page_link("app_pages/train.py", label="Go to Train", icon="🏋️")


def metric_cards(cards: list[tuple[str, Any, str | None]], key: str) -> None:
    """A row of st.metric cards: (label, value, help)."""
    columns = st.columns(len(cards))
    for column, (label, value, help_text) in zip(columns, cards, strict=True):
        column.metric(label, value if value is not None else "—", help=help_text, border=True)
