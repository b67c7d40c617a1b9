"""Behavior Lens dashboard entry point: `streamlit run dashboard/app.py`.

Only navigation lives here; each page is a thin file in app_pages/ and every cache and
session-state key is in dashboard/state.py. With sign-in on (an [auth] section in
.streamlit/secrets.toml) a visitor who has not signed in gets the sign-in screen and nothing
else: no page runs, no workspace is opened.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the project root that holds core/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/data.py", title="Data", icon=":material/upload_file:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/attention.py", title="Attention", icon=":material/visibility:"),
    st.Page("app_pages/segments.py", title="Segments", icon=":material/hub:"),
    st.Page("app_pages/predict.py", title="Predict", icon=":material/trending_up:"),
    st.Page("app_pages/anomalies.py", title="Anomalies", icon=":material/warning:"),
    st.Page("app_pages/score.py", title="Score new data", icon=":material/update:"),
    st.Page("app_pages/reports.py", title="Reports", icon=":material/description:"),
]

from core.errors import BehaviorLensError  # noqa: E402  (needs the project root on sys.path)
from dashboard import state  # noqa: E402
from dashboard.components import account  # noqa: E402

TEAM_PAGE = st.Page("app_pages/team.py", title="Team", icon=":material/group:")

st.set_page_config(page_title="Behavior Lens", page_icon=":material/insights:", layout="wide")
signin = state.signin_enabled()
if not signin and not state.bound_to_localhost():
    account.exposed_screen()
    st.stop()
if signin and state.identity() is None:
    account.signin_screen()
    st.stop()
navigation = st.navigation([*PAGES, TEAM_PAGE] if signin else PAGES)
if signin:
    account.sidebar_account()
try:
    # A fresh workspace gets the sample dataset and the shipped demo run (< 1 s, once per server),
    # so every page has something real to show before anyone uploads or trains.
    state.demo(str(state.workspace().root))
except BehaviorLensError as error:
    st.sidebar.warning(f"The demo could not be installed: {error}")
st.sidebar.caption("Behavior Lens · see what a Transformer learned about your users")
navigation.run()
