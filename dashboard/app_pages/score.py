"""Score new data: a trained run on next week's log — predictions, segments, anomalies, drift."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis import run_info
from core.analysis.score_period import DRIFT_FILE, USERS_FILE, score_new_data, scored_dir
from core.workspace import read_json
from dashboard import state
from dashboard.components import insights, upload, widgets

MAX_USERS_SHOWN = 1_000  # rows of the users table; the CSV holds every user

ws = state.workspace()
st.title("Score new data")
st.caption(
    "Run a trained model on a new period of the same log: every user's next items, their segment "
    "(from the trained run, not recomputed), anomalies measured against the training period, "
    "and whether the model still holds."
)

run = widgets.require_run(ws, key="score")
trained_on = str(run_info.run_meta(ws, run).get("dataset", ""))
candidates = [d for d in ws.dataset_names() if d != trained_on]
with st.expander("Add the new period's log", icon=":material/add:", expanded=not candidates):
    waiting = upload.add_dataset(ws, key="score_add", follow=False)
    candidates = [d for d in ws.dataset_names() if d != trained_on]
if waiting:  # a file uploaded but not ingested yet: scoring an older choice would mislead
    st.info("Ingest the uploaded log above to score it.")
    st.stop()
if not candidates:
    st.info(f"Upload the next period's log above: the run was trained on **{trained_on}**.")
    st.stop()
just_ingested = (state.get(state.UPLOAD) or {}).get("dataset")
if just_ingested in candidates and st.session_state.get("score_last_upload") != just_ingested:
    st.session_state["score_last_upload"] = just_ingested  # once: then the analyst's choice holds
    st.session_state[f"score_dataset_{run}"] = just_ingested  # the log just added is the period

dataset = st.selectbox(
    "New period", candidates, key=f"score_dataset_{run}", help="A dataset other than the run's own."
)
folder = scored_dir(ws, run, dataset)
if insights.compute_action(
    "Score this period" if not (folder / DRIFT_FILE).is_file() else "Score again",
    f"Scoring {dataset} with {run}",
    lambda p: score_new_data(ws, run, dataset, on_progress=p),
    f"score_go_{run}_{dataset}",
):
    st.rerun()
if not (folder / DRIFT_FILE).is_file():
    st.stop()

drift = read_json(folder / DRIFT_FILE)
verdict = str(drift.get("verdict", ""))
(st.success if verdict.startswith("The model") else st.warning)(verdict)
cards = [("Users scored", f"{drift['users']:,}", "Users in the new period."),
         ("Known users", f"{drift['known_users']:,}", "Users who were in the training data.")]  # fmt: skip
if "ndcg@10" in drift:
    cards.append(("NDCG@10 on new data", f"{drift['ndcg@10']:.3f}", "Each user's last new event."))
    markov = drift["baselines"].get("markov", {}).get("ndcg@10")
    if markov is not None:
        cards.append(("Markov baseline", f"{markov:.3f}", "Same users, same events."))
    if drift.get("training_ndcg@10") is not None:
        cards.append(("On training data", f"{drift['training_ndcg@10']:.3f}", "The run's score."))
widgets.metric_cards(cards, key=f"score_cards_{run}_{dataset}")
st.caption(
    f"Events on items the model never saw: {drift['unseen_item_share']:.1%} · on event types it "
    f"never saw: {drift['unseen_event_type_share']:.1%} · event-mix change: "
    f"{drift['event_mix']['distance']:.1%} of events moved between types."
)
mix = pd.DataFrame(drift["event_mix"]).drop(columns=["distance"], errors="ignore").fillna(0.0)
st.dataframe(
    mix.rename(columns={"before": "Training share", "after": "New share"}).map("{:.1%}".format),
    key=f"score_mix_{run}_{dataset}",
)

users_file = folder / USERS_FILE
users, total = state.scored_users(
    str(ws.root), run, dataset, users_file.stat().st_mtime, MAX_USERS_SHOWN
)
st.subheader("Users")
if total > len(users):
    st.caption(
        f"Showing the {len(users):,} highest anomaly scores of {total:,} users: the CSV below "
        "holds every user."
    )
st.dataframe(
    users,
    hide_index=True,
    key=f"score_users_{run}_{dataset}",
    column_config={  # as on the Anomalies page
        "anomaly_score": st.column_config.NumberColumn("anomaly score", format="%.1f"),
        "false_alarm_rate": st.column_config.NumberColumn(
            "false-alarm rate", format="percent", help="how often a normal user scores this high"
        ),
        "reason": st.column_config.TextColumn(width="large"),
    },
)
# The files are read when a button is pressed, not on every rerun (100+ MB at 200k users).
left, right = st.columns(2)
left.download_button(
    "Download users (CSV)",
    lambda: (folder / "users.csv").read_bytes(),
    file_name=f"{dataset}-users.csv",
    mime="text/csv",
    key=f"score_dl_users_{run}_{dataset}",
)
right.download_button(
    "Download predictions (CSV)",
    lambda: (folder / "predictions.csv").read_bytes(),
    file_name=f"{dataset}-predictions.csv",
    mime="text/csv",
    key=f"score_dl_pred_{run}_{dataset}",
)
