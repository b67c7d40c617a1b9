"""Team (sign-in on only): what colleagues published, and publishing from your own area.

Each person works in a private area. Publishing copies a dataset (or a run with its dataset)
into the team area; opening a published item copies it into your area, where every page works
on it as on your own, and nothing you do there changes the team's copy or its author's.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from core import areas
from core.errors import BehaviorLensError, for_analyst
from dashboard import state
from dashboard.components import widgets

ws = state.workspace()
team = state.team_workspace()


def _act(what: str, action: Callable[[], list[str]], done: str) -> None:
    """Run a publish/copy in the button's callback (before the page draws, so the lists below
    already show its result) and keep its outcome for the page to show."""
    try:
        note = ("success", f"{done}: {widgets.md(', '.join(action()))}.")
    except BehaviorLensError as error:
        note = ("error", f"{what}: {widgets.md(for_analyst(error))}")
    state.put(state.TEAM_NOTE, note)


def _copy(item: areas.Published) -> None:
    _act("Cannot copy", lambda: areas.copy_to_own(team, ws, item.kind, item.name), "Copied")
    if state.get(state.TEAM_NOTE, ("",))[0] == "success":
        state.put(state.DATASET, item.dataset or item.name)
        if item.kind == "run":
            state.put(state.RUN, item.name)


def _publish(kind: areas.Kind, name: str) -> None:
    who, by = state.identity() or "", state.display_name()
    _act("Cannot publish", lambda: areas.publish(ws, team, kind, name, who, by), "Published")


st.title("Team")
st.markdown(
    "Your datasets and runs are private. **Publish** one to let the team see it; a colleague "
    "**copies** it into their own area to explore it, so nobody can change anyone else's work."
)
note = state.get(state.TEAM_NOTE)
if note:
    (st.success if note[0] == "success" else st.error)(note[1])
    state.put(state.TEAM_NOTE, None)

st.subheader("Published by the team")
items: list[areas.Published] = []
with widgets.friendly_errors("Cannot read the team area"):
    items = areas.published(team)
if not items:
    st.info("Nothing published yet.")
else:
    table = pd.DataFrame(
        [(i.kind, i.name, i.dataset or "", i.by, i.at) for i in items],
        columns=["kind", "name", "dataset", "published by", "at (UTC)"],
    )
    st.dataframe(table, hide_index=True, key="team_table")
    labels = {f"{i.kind} {i.name}": i for i in items}
    chosen = labels[st.selectbox("Published item", list(labels), key="team_pick")]
    st.button(
        "Copy to my area",
        icon=":material/download:",
        key="team_copy",
        on_click=_copy,
        args=(chosen,),
    )

st.subheader("Publish from my area")
kind = st.radio("What", ["dataset", "run"], horizontal=True, key="team_kind")
names = ws.dataset_names() if kind == "dataset" else ws.run_names()
if not names:
    st.info(f"You have no {kind} to publish yet.")
    st.stop()
name = st.selectbox(f"Your {kind}", names, key="team_own")
if kind == "run":
    st.caption("A run is published with the dataset it was trained on.")
st.button(
    "Publish to team",
    type="primary",
    icon=":material/share:",
    key="team_publish",
    on_click=_publish,
    args=(kind, name),
)
