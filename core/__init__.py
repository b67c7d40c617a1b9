"""Behavior Lens core: data, model, training, analysis, jobs, CLI. Never imports Streamlit.

The packages, who may import whom and which part writes each workspace file: docs/architecture.md.
"""

__version__ = "0.1.0"
