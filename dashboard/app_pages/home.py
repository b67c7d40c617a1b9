"""Home: what Behavior Lens does, and headline numbers of the demo (or current) dataset and run."""

from __future__ import annotations

import streamlit as st

from dashboard import backend, state
from dashboard.components import charts, widgets

HOME_EVAL_USERS = 500  # users scored for the headline card: seconds, not minutes, on a laptop

ws = state.workspace()
root = str(ws.root)

st.title("Behavior Lens")
st.markdown(
    "Drop a raw behaviour log (clickstream, app events, purchases) and see what a Transformer "
    "learned about your users: **attention** over their event timelines, **segments** of similar "
    "intent, **next actions**, **anomalies**, and a **report** to share."
)

with widgets.friendly_errors("Demo"):
    state.demo(root)

dataset = widgets.dataset_picker(ws, key="home")
if dataset is None:
    widgets.no_dataset_message()
    st.stop()

stats = state.manifest(root, dataset, state.dataset_stamp(ws, dataset)).get("stats", {})
run = widgets.run_picker(ws, key="home")

quality = None
if run is not None:
    with widgets.friendly_errors("Model quality"):
        quality = state.run_result(
            root, run, state.run_stamp(ws, run), "quality", (("max_users", HOME_EVAL_USERS),)
        )


def _quality_card() -> tuple[str, str | None, str]:
    if quality is None or quality.empty:
        return ("Model NDCG@10", None, "Train a model to see how well it predicts the next item.")
    by_model = quality.set_index("model")["ndcg@10"]
    best_baseline = max(by_model.get("Most popular", 0.0), by_model.get("Markov chain", 0.0))
    ratio = by_model["Transformer"] / best_baseline if best_baseline > 0 else float("inf")
    return (
        "Model NDCG@10",
        f"{by_model['Transformer']:.3f} ({ratio:.1f}× baseline)",
        "Leave-one-out test split, full ranking, against the best of most-popular and Markov chain.",
    )


widgets.metric_cards(
    [
        ("Users", f"{stats.get('users', 0):,}", "Distinct users in the dataset."),
        ("Events", f"{stats.get('events', 0):,}", "Accepted events after ingest."),
        _quality_card(),
        ("Segments", None, "User segments arrive with the segmentation part (issue #4)."),
        ("Anomalies", None, "Anomaly scores arrive with the anomaly part (issue #4)."),
    ],
    key="home",
)

left, right = st.columns(2)
with left, widgets.friendly_errors("Event volume"):
    volume = state.analytic(
        root, dataset, state.dataset_stamp(ws, dataset), "volume", (("freq", "day"),)
    )
    st.plotly_chart(charts.volume_chart(volume), key="home_volume")
with right:
    if quality is not None and not quality.empty:
        st.plotly_chart(charts.quality_chart(quality), key="home_quality")
    elif run is None:
        widgets.no_run_message()

st.subheader("Where to go next")
st.markdown(
    "- **Data**: upload your own log, map its columns, explore funnels, paths and retention.\n"
    "- **Train**: pre-train a Transformer in the background and watch it learn.\n"
    "- **Attention / Predict**: see which past events drive the model's expectations.\n"
    "- **Reports**: download a self-contained summary to share."
)
if backend.part("core.demo") is None:
    st.caption(
        "The bundled demo dataset and model are installed by `core.demo` (not in this version yet)."
    )
