"""The bundled demo: the sample log as dataset "sample" and a small pre-trained run "demo".

A first visitor should see a trained model's view within seconds, without training anything, so
the demo run (weights, config, evaluation, segments, anomalies) ships in sample_data/demo_run/,
built by `python -m sample_data.build_demo`. Ingesting the sample log is deterministic, so the
shipped run's vocabulary matches the dataset ingested here. The sample's item table
(sample_data/items.csv) is ingested with it, so views show product names rather than bare ids.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from core.data.ingest import IngestOptions, ingest
from core.progress import ProgressCallback
from core.workspace import Workspace, atomic_directory

SAMPLE_DIR = Path(__file__).resolve().parent  # this folder: the demo lives beside its data
SAMPLE_LOG = SAMPLE_DIR / "events.csv"
SAMPLE_ITEMS = SAMPLE_DIR / "items.csv"  # names, brands, prices of its items
DEMO_RUN_SOURCE = SAMPLE_DIR / "demo_run"
DEMO_DATASET = "sample"
DEMO_RUN = "demo"
_install_lock = threading.Lock()  # two browser tabs starting at once install the demo once


@dataclass(frozen=True)
class DemoInfo:
    """What the demo installed; `run` is None when no pre-trained run is shipped."""

    dataset: str
    run: str | None


def ensure_demo(workspace: Workspace, on_progress: ProgressCallback | None = None) -> DemoInfo:
    """Install the sample dataset and the demo run into `workspace` unless already there."""
    with _install_lock:
        if DEMO_DATASET not in workspace.dataset_names():
            options = IngestOptions(items=str(SAMPLE_ITEMS))
            ingest(SAMPLE_LOG, DEMO_DATASET, workspace, options, on_progress)
        run = DEMO_RUN if install_demo_run(workspace) else None
    return DemoInfo(DEMO_DATASET, run)


def install_demo_run(workspace: Workspace, source: Path = DEMO_RUN_SOURCE) -> bool:
    """Copy the shipped demo run into the workspace (atomically); False when none is shipped."""
    if DEMO_RUN in workspace.run_names():
        return True
    if not (source / "config.json").is_file():
        return False
    with atomic_directory(workspace.run_dir(DEMO_RUN)) as staging:
        staging.chmod(0o755)
        for path in sorted(source.iterdir()):
            if path.is_file():
                shutil.copyfile(path, staging / path.name)
    return True
