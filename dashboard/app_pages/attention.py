"""Attention: which past events the model looks at (raw, per layer/head), how much of each event
reaches the prediction (rollout), and what the prediction depends on (Integrated Gradients)."""

from __future__ import annotations

import streamlit as st

from core.analysis.timeline import user_sessions
from dashboard import state
from dashboard.components import charts, model_views, widgets

ws = state.workspace()
st.title("Attention")
st.caption(
    "Three views of one prediction: the model's guess for the user's next item after the chosen "
    "session. **Raw attention is exploratory** (where a head looked, not why); **rollout** and "
    "**Integrated Gradients** are the more faithful explanations."
)

context = model_views.pick_model(ws, key="att")
if context is None:
    st.stop()

left, right = st.columns(2)
with left:
    user = widgets.user_picker(context.sequences, key="att")
user_id = str(context.sequences.user_ids[user])
sessions = user_sessions(context.sequences, user_id)
with right:
    session = st.selectbox(
        "Session (the view covers the history up to its end)",
        sessions,
        index=len(sessions) - 1,
        key=f"att_session_{context.run}_{user_id}",  # sessions of this user
        format_func=lambda s: f"session {s}",
    )

with widgets.friendly_errors("Explanation"):
    view = state.explanation(
        str(ws.root), context.run, state.run_stamp(ws, context.run), user_id, int(session)
    )
    labels, hover = charts.event_labels(view.events)
    st.markdown(
        f"Predicted next item: **{widgets.md(view.target_label or view.target_item)}** (item id "
        f"{widgets.md(view.target_item)}, probability {view.target_prob:.1%}), "
        f"read at position {view.position} of {len(view.events)} events."
    )
    raw_tab, rollout_tab, ig_tab = st.tabs(
        [
            "Raw attention · exploratory",
            "Rollout · attention flow",
            "Integrated Gradients · attribution",
        ]
    )
    with raw_tab:
        st.caption(
            "Row = the event attending, column = the event attended to, per layer and head. "
            "Exploratory: high weight means a head looked there, not that the prediction "
            "depends on it."
        )
        layers, heads = view.attention.shape[:2]
        c1, c2 = st.columns(2)
        layer = c1.selectbox(
            "Layer",
            range(layers),
            format_func=lambda i: f"layer {i + 1}",
            key=f"att_layer_{context.run}",
        )
        head = c2.selectbox(
            "Head",
            ["average", *range(heads)],
            key=f"att_head_{context.run}",  # layers and heads of this run
            format_func=lambda h: "all heads (average)" if h == "average" else f"head {h + 1}",
        )
        weights = (
            view.attention[layer].mean(axis=0) if head == "average" else view.attention[layer, head]
        )
        title = f"Layer {layer + 1}, {'all heads' if head == 'average' else f'head {head + 1}'}"
        st.plotly_chart(charts.attention_heatmap(weights, labels, hover, title), key="att_heatmap")
    with rollout_tab:
        st.caption(
            "Attention rollout (Abnar & Zuidema 2020): attention multiplied through all layers "
            "with the residual path. The bars read the prediction position's row: the share of "
            "its representation that flows from each event."
        )
        st.plotly_chart(
            charts.importance_bars(
                view.rollout[view.position], labels, hover, "Share reaching the prediction"
            ),
            key="att_rollout_bars",
        )
        st.plotly_chart(
            charts.attention_heatmap(view.rollout, labels, hover, "Rollout, every position"),
            key="att_rollout_heatmap",
        )
    with ig_tab:
        a = view.attribution
        st.caption(
            f"Integrated Gradients (Sundararajan et al. 2017) of the logit of item "
            f"{widgets.md(view.target_label or view.target_item)} to each input event, "
            f"{a.steps} steps from an all-padding "
            f"baseline. Positive bars push the prediction up, negative down; they add up to "
            f"the score change (completeness error {a.delta:+.4f})."
        )
        st.plotly_chart(
            charts.attribution_bars(a.per_event, labels, hover, "Attribution over the timeline"),
            key="att_ig_bars",
        )
        st.dataframe(view.top_events(5), hide_index=True, key="att_top_events")
