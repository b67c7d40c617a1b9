"""Segments: users mapped in 2-D by segment, lasso/box selection, profiles side by side, rename
(saved in the run folder), drill down to a user's timeline."""

from __future__ import annotations

import streamlit as st

from core.analysis import run_info
from core.analysis.item_labels import label_segment_items
from core.analysis.naming import save_renames, small_segments_note
from core.analysis.result_tables import sample_notes
from core.analysis.segment_profile import revenue_note
from core.analysis.user_sample import MAP_ROWS
from dashboard import state
from dashboard.components import charts, insights, widgets

ws = state.workspace()
st.title("Segments")
st.caption("Groups of users whose behaviour (and the model's encoding of it) is alike.")

run = widgets.require_run(ws, key="seg")

if not insights.has_outputs(ws, run, state.SEGMENTS_FILE, state.ASSIGNMENTS_FILE):
    st.info(f"No segments for run **{run}** yet.")
    if insights.compute_action(
        "Compute segments",
        "Segmenting users",
        lambda p: insights.find_segments(ws, run, p),
        "seg_compute",
    ):
        st.rerun()
    st.stop()

dataset = run_info.run_meta(ws, run).get("dataset", "")
catalog = state.catalog_of(str(ws.root), dataset)
profiles = label_segment_items(run_info.named_segments(ws, run), catalog)
names = {int(s): n for s, n in zip(profiles["segment"], profiles["name"], strict=True)}
# The map draws at most MAP_ROWS users (a seeded sample, the same on every rerun, so a
# selection maps back to the same users); 200k points would take the browser many seconds.
shown = state.map_points(str(ws.root), run, state.outputs_stamp(ws, run), MAP_ROWS)
assignments = shown.points.assign(
    segment_name=[names.get(int(s), str(s)) for s in shown.points["segment"]]
)

small = small_segments_note(profiles)
if small:
    st.caption(small)
sampled = sample_notes(ws.existing_run_dir(run)).get("segments.json")
if sampled:
    st.info(f"Segments were {sampled}.")

st.subheader("Map of users")
st.caption(
    "Each point is a user, placed so that similar users sit close. Drag a lasso or a box to select."
    + (
        f" Showing {len(assignments):,} of {shown.users:,} users (a random sample, the same on "
        "every visit): a selection holds the shown users only."
        if len(assignments) < shown.users
        else ""
    )
)
event = st.plotly_chart(
    charts.segment_map(assignments),
    key=f"seg_map_{run}",  # a selection belongs to one run's map
    on_select="rerun",
    selection_mode=("lasso", "box"),
)
picked = charts.selected_rows(event, assignments)
left, right = st.columns([3, 2])
with left:
    st.markdown(
        f"**{len(picked):,} users selected**"
        if len(picked)
        else "**No selection yet**: lasso or box on the map"
    )
    st.dataframe(
        picked[["user_id", "segment", "segment_name"]].rename(
            columns={"user_id": "User", "segment": "Segment", "segment_name": "Segment name"}
        ),
        hide_index=True,
        key="seg_selected",
        height=250,
    )
with right:
    insights.drill_down(ws, dataset, [str(u) for u in picked["user_id"]], key="seg")

st.subheader("Profiles side by side")
chosen = st.multiselect(
    "Compare segments",
    list(names),
    default=list(names)[:4],
    format_func=lambda s: f"{s}: {names[s]}",
    key=f"seg_compare_{run}",
)
st.dataframe(charts.profile_table(profiles, chosen), key="seg_profiles")
if note := revenue_note(profiles, catalog):
    st.caption(note)
st.plotly_chart(charts.segment_mix_chart(profiles, chosen), key="seg_mix")

st.subheader("Session intents")
st.caption(
    "What each visit was for: the same user may research one day and buy the next, so sessions "
    "are grouped on their own, beside the user segments above."
)
intents = insights.session_intents(ws, run)
if intents is None:
    if insights.compute_action(
        "Find session intents",
        "Grouping sessions",
        lambda p: insights.find_intents(ws, run),
        f"seg_intents_{run}",
        primary=False,
    ):
        st.rerun()
else:
    st.dataframe(
        charts.intent_table(label_segment_items(intents, catalog)),
        hide_index=True,
        key=f"seg_intents_table_{run}",
    )

with st.expander("Rename segments"):
    st.caption("Names are saved in the run folder (segment_names.json) and used by reports.")
    with st.form(f"seg_rename_form_{run}"):
        edited = {
            s: st.text_input(
                f"Segment {s} (auto: {auto})", value=names[s], key=f"seg_name_{run}_{s}"
            )
            for s, auto in zip(
                profiles["segment"],
                profiles["auto_name"] if "auto_name" in profiles else profiles["name"],
                strict=True,
            )
        }
        if st.form_submit_button("Save names"):
            with widgets.friendly_errors("Rename"):
                save_renames(ws.existing_run_dir(run), {int(s): n for s, n in edited.items()})
                st.rerun()
