"""Shared set-up of the model pages (Attention, Predict): pick a run, load it and its data.

Returns None after showing a polite message when something is missing, so a page can simply
`st.stop()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.workspace import Workspace
from dashboard import state
from dashboard.components import widgets


@dataclass
class ModelContext:
    """A loaded run, the sequences of the dataset it was trained on and the dataset's item
    catalogue (all cached, read-only)."""

    run: str
    loaded: Any  # core.inference.loading.LoadedRun
    sequences: Any  # core.data.sequences.EventSequences
    dataset: str
    catalog: Any  # core.data.items.ItemCatalog: item labels (ids when none) and prices


def pick_model(ws: Workspace, key: str) -> ModelContext | None:
    run = widgets.run_picker(ws, key=key)
    if run is None:
        widgets.no_run_message()
        return None
    root = str(ws.root)
    with widgets.friendly_errors(f"Run {run}"):
        loaded = state.loaded_run(root, run, state.run_stamp(ws, run))
        dataset = loaded.dataset
        sequences = state.sequences(root, dataset, state.dataset_stamp(ws, dataset))
        loaded.check_vocab(sequences)
        return ModelContext(run, loaded, sequences, dataset, state.catalog_of(root, dataset))
    return None
