"""The shipped demo run must load against the sample dataset as ingested today.

If the model code or the ingest changes shape, this fails until `python -m sample_data.build_demo`
is run again, so the dashboard never ships a demo that cannot be opened.
"""

from __future__ import annotations

import json

import numpy as np

from core.data.store import load_sequences
from core.inference.loading import load_run
from core.workspace import Workspace
from sample_data.demo import DEMO_RUN_SOURCE, ensure_demo


def test_demo_installs_dataset_and_a_loadable_run(tmp_path):
    workspace = Workspace(tmp_path)
    info = ensure_demo(workspace)
    assert info.dataset in workspace.dataset_names()
    assert info.run == "demo" and "demo" in workspace.run_names()
    sequences = load_sequences(workspace, info.dataset)
    loaded = load_run(workspace, info.run, device="cpu")
    loaded.check_vocab(sequences)  # raises when the shipped run no longer fits the sample data
    scores = loaded.scorer().score_histories(
        sequences, users=np.array([0]), cutoffs=sequences.offsets[1:2]
    )
    assert scores.shape == (1, len(sequences.item_vocab))


def test_demo_run_ships_its_evaluation_segments_and_anomalies():
    metrics = json.loads((DEMO_RUN_SOURCE / "metrics.json").read_text())
    assert {"demo", "popular", "markov"} <= set(metrics)
    assert metrics["demo"]["protocol"] == "full"
    for name in ("segments.parquet", "segment_assignments.parquet", "anomalies.parquet"):
        assert (DEMO_RUN_SOURCE / name).is_file(), name


def test_second_install_keeps_the_existing_run(tmp_path):
    workspace = Workspace(tmp_path)
    ensure_demo(workspace)
    marker = workspace.run_dir("demo") / "note.txt"
    marker.write_text("analyst's own file")
    ensure_demo(workspace)
    assert marker.read_text() == "analyst's own file"
