"""Behavior Lens core: data, model, training, analysis. Never imports Streamlit."""

__version__ = "0.1.0"
