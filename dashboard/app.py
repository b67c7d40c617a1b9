"""Behavior Lens dashboard entry point: `streamlit run dashboard/app.py`."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the project root that holds core/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

st.set_page_config(page_title="Behavior Lens", page_icon="🔎", layout="wide")
st.title("Behavior Lens")
st.write("See what a Transformer learned about your users. Pages arrive with the next issues.")
