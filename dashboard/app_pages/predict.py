"""Predict: the model's next actions for a user, and what-if: append events and watch them change."""

from __future__ import annotations

import streamlit as st

from dashboard import backend, state
from dashboard.components import charts, model_views, widgets

ws = state.workspace()
st.title("Predict")
st.caption("What the model expects a user to do next, with probabilities.")

context = model_views.pick_model(ws, key="pred")
if context is None:
    st.stop()

sequences = context.sequences
user = widgets.user_picker(sequences, key="pred")
top_k = st.slider("How many", 3, 20, 10, key="pred_top_k")

what_if_key = f"{state.WHAT_IF}_{context.run}_{user}"
appended: list[tuple[str, str]] = state.get(what_if_key, [])

now = None
with widgets.friendly_errors("Prediction"):
    now = backend.what_if(context.loaded, sequences, user, appended, top_k)
    left, right = st.columns(2)
    left.plotly_chart(
        charts.probability_bars(now.events, "event", "Next event type"), key="pred_events"
    )
    right.plotly_chart(charts.probability_bars(now.items, "item", "Next item"), key="pred_items")

st.subheader("What if…")
st.caption("Append hypothetical events to this user's history; the predictions above update.")
events = list(sequences.event_vocab.tokens[3:])
items = [str(i) for i in now.items["item"]] if now is not None else []
c1, c2, c3 = st.columns([2, 2, 1])
event = c1.selectbox("Event", events, key="pred_wi_event")
item = c2.selectbox(
    "Item (top predictions, or type any item id)",
    items,
    key=f"pred_wi_item_{len(appended)}",
    accept_new_options=True,
)
if c3.button("Append", key="pred_wi_add", disabled=not item):
    state.put(what_if_key, [*appended, (str(item), event)])
    st.rerun()
if appended:
    st.write("Appended: " + " → ".join(f"{e} · {i}" for i, e in appended))
    if st.button("Clear what-if events", key="pred_wi_clear"):
        state.put(what_if_key, [])
        st.rerun()
