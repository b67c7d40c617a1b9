"""Attention: which past events the model looks at, per layer and head, plus rollout."""

from __future__ import annotations

import streamlit as st

from dashboard import explain, state
from dashboard.components import charts, model_views, widgets

ws = state.workspace()
st.title("Attention")
st.caption(
    "Raw attention shows where each layer's heads look: it is **exploratory**, not an explanation. "
    "Rollout combines all layers (with the residual path) and is the more faithful view of what "
    "reaches the prediction."
)

context = model_views.pick_model(ws, key="att")
if context is None:
    st.stop()

left, right = st.columns(2)
with left:
    user = widgets.user_picker(context.sequences, key="att")
sessions = explain.user_sessions(context.sequences, user)
with right:
    session = st.selectbox(
        "Session (the view covers the history up to its end)",
        sessions,
        index=len(sessions) - 1,
        key="att_session",
        format_func=lambda s: f"session {s}",
    )

with widgets.friendly_errors("Attention"):
    view = explain.attention_view(context.loaded, context.sequences, user, session)
    raw_tab, rollout_tab = st.tabs(["Raw attention (per layer / head)", "Rollout"])
    with raw_tab:
        layers, heads = view.weights.shape[:2]
        c1, c2 = st.columns(2)
        layer = c1.selectbox(
            "Layer", range(layers), format_func=lambda i: f"layer {i + 1}", key="att_layer"
        )
        head = c2.selectbox(
            "Head",
            ["average", *range(heads)],
            key="att_head",
            format_func=lambda h: h if h == "average" else f"head {h + 1}",
        )
        weights = (
            view.weights[layer].mean(axis=0) if head == "average" else view.weights[layer, head]
        )
        title = f"Layer {layer + 1}, {'all heads' if head == 'average' else f'head {head + 1}'}"
        st.plotly_chart(
            charts.attention_heatmap(weights, view.labels, view.hover, title), key="att_heatmap"
        )
    with rollout_tab:
        st.plotly_chart(
            charts.importance_bars(
                view.rollout[-1],
                view.labels,
                "How much each event reaches the last position (the prediction)",
            ),
            key="att_rollout_bars",
        )
        st.plotly_chart(
            charts.attention_heatmap(view.rollout, view.labels, view.hover, "Attention rollout"),
            key="att_rollout_heatmap",
        )
    st.caption(
        "Integrated-Gradients attributions arrive with core's explanation module (issue #4)."
    )
