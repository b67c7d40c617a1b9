"""Whether a run still describes its dataset: a dataset replaced after training (ingested again
under the same name, with other vocabularies) leaves the run's segments, anomalies and scores
about the old data, and every page and report showing the run must say so.

The run's config.json keeps the fingerprint of the vocabularies it was trained with
(`core.training.windows.vocab_hash`); the dataset's vocabulary files give today's, without
reading its events.
"""

from __future__ import annotations

from core.analysis.run_info import run_meta
from core.data.store import load_vocab
from core.training.windows import vocabs_hash
from core.workspace import Workspace


def dataset_fingerprint(workspace: Workspace, dataset: str) -> str:
    """`vocab_hash` of the dataset as it is now."""
    kinds = ("items", "events", "categories")
    items, events, categories = (load_vocab(workspace, dataset, kind) for kind in kinds)
    return vocabs_hash((items, events, categories))


def outdated_note(workspace: Workspace, run: str) -> str | None:
    """In words, when `run`'s dataset has been replaced since it was trained (else None)."""
    meta = run_meta(workspace, run)
    dataset, trained_on = meta.get("dataset"), meta.get("vocab_hash")
    if not dataset or not trained_on or dataset not in workspace.dataset_names():
        return None
    if dataset_fingerprint(workspace, dataset) == trained_on:
        return None
    return (
        f"Run {run} was trained on an earlier version of dataset {dataset}, which has been "
        "replaced since: its segments, anomalies and scores describe the old data, not the "
        "events shown beside them. Train a new run on this dataset."
    )
