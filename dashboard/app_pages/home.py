"""Home: what Behavior Lens does, and headline numbers of the demo (or chosen) dataset and run.

Everything here is read from files (manifest, metrics.json, segments, anomalies), so a first
visitor sees real numbers within seconds; nothing is trained or evaluated on this page.
"""

from __future__ import annotations

import streamlit as st

from core.analysis import run_info
from core.analysis.anomaly_flags import format_rate
from dashboard import analytics_cache, state
from dashboard.components import charts, widgets

ws = state.workspace()
root = str(ws.root)

st.title("Behavior Lens")
st.markdown(
    "Drop a raw behaviour log (clickstream, app events, purchases) and see what a Transformer "
    "learned about your users: **attention** over their event timelines, **segments** of similar "
    "intent, **next actions**, **anomalies**, and a **report** to share."
)

dataset = widgets.require_dataset(ws, key="home")
runs = run_info.runs_of(ws, dataset)
run = widgets.run_picker(ws, key="home", names=runs)
stamps = (state.dataset_stamp(ws, dataset), *(state.outputs_stamp(ws, run) if run else ()))
head = state.headline(root, dataset, run, stamps)


def _quality_card() -> tuple:
    help_text = (
        "Next-item NDCG@10 on each user's held-out last event (full ranking), against the best "
        "of the most-popular and Markov-chain baselines. From the run's metrics.json."
    )
    if head.model_ndcg is None:
        return ("Model NDCG@10", None, "No evaluation yet: evaluate the run on the Train page.")
    if head.baseline_ndcg is None:
        return ("Model NDCG@10", f"{head.model_ndcg:.3f}", help_text)
    # Short on purpose: the card truncates a longer delta; the help names the baseline in full.
    short = {"Markov chain": "Markov", "Most popular": "popular"}.get(head.baseline_name or "")
    delta = f"{head.model_ndcg - head.baseline_ndcg:+.3f} vs {short or 'baseline'}"
    help_text += f" Best baseline here: {head.baseline_name} ({head.baseline_ndcg:.3f})."
    return ("Model NDCG@10", f"{head.model_ndcg:.3f}", help_text, delta)


anomaly_help = (
    f"Users flagged at a {format_rate(head.flag_rate)} false-alarm rate (of {head.scored:,} "
    "scored): a normal user of this log scores as high at most that often."
    if head.scored
    else "No anomaly scores yet: compute them on the Anomalies page."
)
widgets.metric_cards(
    [
        ("Users", f"{head.users:,}", "Distinct users in the dataset."),
        ("Events", f"{head.events:,}", "Accepted events after ingest."),
        _quality_card(),
        (
            "Segments",
            None if head.segments is None else str(head.segments),
            "Groups of users with similar behaviour (Segments page).",
        ),
        ("Flagged users", None if head.flagged is None else str(head.flagged), anomaly_help),
    ],
    key="home",
)
if run is None:
    widgets.no_run_message()

left, right = st.columns(2)
with left, widgets.friendly_errors("Event volume"):
    stamp = state.dataset_stamp(ws, dataset)
    unit = state.time_support(root, dataset, stamp).unit
    volume = analytics_cache.event_volume(root, dataset, stamp, unit)
    st.plotly_chart(charts.volume_chart(volume, unit), key="home_volume")
with right:
    quality = state.quality(root, run, state.outputs_stamp(ws, run)) if run else None
    if quality is not None:
        st.plotly_chart(charts.quality_chart(quality), key="home_quality")

st.subheader("Where to go next")
st.markdown(
    "- **Data**: upload your own log, map its columns, explore funnels, paths and retention.\n"
    "- **Train**: pre-train or fine-tune a Transformer in the background and watch it learn.\n"
    "- **Attention / Predict**: see which past events drive the model's expectations.\n"
    "- **Segments / Anomalies**: groups of similar users, and users who behave unusually.\n"
    "- **Reports**: download a self-contained summary to share."
)
