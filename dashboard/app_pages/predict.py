"""Predict: the model's next actions for a user; what-if: append events and watch them change;
and a sampled continuation of the session."""

from __future__ import annotations

import streamlit as st

from core.analysis.all_predictions import predictions_csv
from core.analysis.item_labels import option_text
from core.analysis.timeline import session_steps
from core.analysis.view_notes import event_types_note
from core.data.vocab import NUM_RESERVED
from dashboard import state
from dashboard.components import charts, insights, model_views, widgets

# Window positions the what-if start leaves free, so a few appended events still fit in the
# model's max_len without pushing the start of the session out of view.
WHAT_IF_ROOM = 5

ws = state.workspace()
root = str(ws.root)
st.title("Predict")
st.caption("What the model expects a user to do next, with probabilities.")

context = model_views.pick_model(ws, key="pred")
if context is None:
    st.stop()

sequences = context.sequences
catalog = context.catalog
stamp = state.run_stamp(ws, context.run)
c1, c2 = st.columns([3, 1])
with c1:
    user_id = str(sequences.user_ids[widgets.user_picker(sequences, key="pred")])
top_k = c2.slider("How many", 3, 20, 8, key="pred_top_k")


event_types = list(sequences.event_vocab.tokens[NUM_RESERVED:])  # the log's own, no PAD/MASK/UNK
single_type = event_types_note(event_types)


def _show(result: object, key: str, note: str, stacked: bool = False) -> None:
    """Next-event and next-item bars: side by side, or one above the other (`stacked`).

    With one event type in the log, the next-event bar would be a certain 100%: a sentence
    says why instead."""
    st.caption(note)
    left, right = (st.container(), st.container()) if stacked else st.columns(2)
    if single_type:
        left.info(single_type)
    else:
        left.plotly_chart(
            charts.probability_bars(result.events, "event", "Next event type"),
            key=f"{key}_events",
        )
    right.plotly_chart(charts.item_probability_bars(result.items, "Next item"), key=f"{key}_items")


def _steps_text(steps: list[tuple[str, str]] | tuple) -> str:
    """Events with their items' labels, "view · Red running shoes → cart · …"."""
    return " → ".join(f"{e} · {catalog.label(i)}" for i, e in steps)


now = None
with widgets.friendly_errors("Prediction"):
    now = state.predictions(root, context.run, stamp, user_id, (), top_k)
    _show(now, "pred", f"After the whole history of user {user_id}.")

st.subheader("What if…")
st.caption(
    "Start from the user's last session, append hypothetical events, and compare the model's "
    "expectations before and after (typed sessions are read with 30 s between events)."
)
start_steps = context.loaded.model_config.max_len - WHAT_IF_ROOM
session_length = len(session_steps(sequences, user_id, max_steps=sequences.num_events))
base = tuple(session_steps(sequences, user_id, max_steps=start_steps))
what_if_key = f"{state.WHAT_IF}_{context.run}_{user_id}"
appended: list[tuple[str, str]] = state.get(what_if_key, [])
notes = [f"last 8 of {session_length} events"] if session_length > 8 else []
if session_length > len(base):
    notes.append(f"the what-if starts from its latest {len(base)}, what the model reads")
shown_note = f" ({'; '.join(notes)})" if notes else ""
st.markdown("**Last session:** " + _steps_text(base[-8:]) + shown_note)
suggested = [str(i) for i in now.items["item"]] if now is not None else []
c1, c2, c3 = st.columns([2, 2, 1])
event = c1.selectbox("Event", event_types, key=f"pred_wi_event_{context.run}")
item = c2.selectbox(
    "Item (top predictions, or type any item id)",
    suggested,
    key=f"pred_wi_item_{context.run}_{user_id}_{len(appended)}",  # typed items stay put
    accept_new_options=True,
    format_func=lambda i: option_text(i, catalog),
)
if c3.button("Append", key="pred_wi_add", disabled=not item):
    state.put(what_if_key, [*appended, (str(item), event)])
    st.rerun()
if appended:
    st.markdown("**Appended:** " + _steps_text(appended))
    if st.button("Clear what-if events", key="pred_wi_clear"):
        state.put(what_if_key, [])
        st.rerun()
    with widgets.friendly_errors("What-if"):
        before = state.predictions(root, context.run, stamp, user_id, base, top_k)
        after = state.predictions(root, context.run, stamp, user_id, base + tuple(appended), top_k)
        if after.unknown:
            st.warning(
                f"Not in the model's vocabulary (read as unknown): {', '.join(after.unknown)}"
            )
        before_column, after_column = st.columns(2, border=True)
        with before_column:
            st.markdown("**Before**")
            _show(before, "pred_before", "The last session alone.", stacked=True)
        with after_column:
            st.markdown("**After**")
            _show(after, "pred_after", "Plus the appended events.", stacked=True)

st.subheader("Likely continuation")
c1, c2, c3 = st.columns([1, 1, 2])
steps = c1.number_input("Events to generate", 1, 30, 8, key="pred_gen_steps")
seed = c2.number_input("Seed", 0, 10_000, 0, key="pred_gen_seed")
c3.caption("Sampled step by step from the model's item and event-type distributions.")
if st.button("Generate", key="pred_gen"):
    with widgets.friendly_errors("Generation"):
        generated = state.continuation(
            root, context.run, stamp, base + tuple(appended), int(steps), int(seed)
        )
        st.dataframe(generated, hide_index=True, key="pred_generated")

st.subheader("Every user's predictions")
st.caption(
    f"The {top_k} most likely next items of every user ({sequences.num_users:,} users), with "
    "their probabilities, whether the user already had each item, and the most likely next "
    "event type: one row per user and item, ready for a spreadsheet."
)
export = state.get(state.PRED_EXPORT) or {}
if insights.compute_action(
    "Prepare the file",
    f"Predicting for {sequences.num_users:,} users",
    lambda p: state.put(
        state.PRED_EXPORT,
        {
            "run": context.run,
            "top_k": top_k,
            "data": predictions_csv(context.loaded, sequences, catalog, top_k, on_progress=p),
        },
    ),
    key="pred_export",
    primary=False,
):
    export = state.get(state.PRED_EXPORT) or {}
if export.get("run") == context.run and export.get("top_k") == top_k:
    st.download_button(
        "Download predictions (CSV)",
        export["data"],
        file_name=f"predictions-{context.run}-top{top_k}.csv",
        mime="text/csv",
        key="pred_export_download",
    )
