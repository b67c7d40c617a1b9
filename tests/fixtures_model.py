"""A small model trained once per test session on sample_data, shared by the analysis tests.

Wrap `trained_sample` in a session fixture of the test module. The work is cached at module
level (not only by pytest's session scope), so several modules using it still train only once:
one epoch of a 1-block, 32-wide model (~20 s on a busy 2-core CPU). Analysis quality on
sample_data comes mostly from behaviour features and pace, so a short run is enough.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.ingest import ingest
from core.data.sequences import EventSequences
from core.data.store import load_sequences
from core.inference.loading import LoadedRun, load_run
from core.training.config import TrainConfig
from core.training.run import ModelOptions, train_on_sequences
from core.workspace import Workspace

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
RUN = "tiny"


@dataclass
class SampleRun:
    workspace: Workspace
    run: str
    loaded: LoadedRun
    sequences: EventSequences
    truth: pd.DataFrame  # ground_truth.csv indexed by user_id (text)


@functools.cache
def _train(root: Path) -> SampleRun:
    workspace = Workspace(root / "ws")
    ingest(SAMPLE_DIR / "events.csv", "sample", workspace)
    sequences = load_sequences(workspace, "sample")
    config = TrainConfig(epochs=1, eval_max_users=50, device="cpu", seed=0)
    options = ModelOptions(max_len=50, dim=32, layers=1, heads=1, dropout=0.1)
    train_on_sequences(sequences, "sample", workspace.run_dir(RUN), config, options)
    truth = pd.read_csv(SAMPLE_DIR / "ground_truth.csv", dtype=str).set_index("user_id")
    return SampleRun(workspace, RUN, load_run(workspace, RUN, "cpu"), sequences, truth)


def trained_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    """sample_data ingested as dataset 'sample' and a 1-epoch causal run 'tiny' on it.

    Test modules wrap this in their own session fixture; the training runs once per session.
    """
    return _train(tmp_path_factory.getbasetemp() / "sample_run")


def tiny_sequences(
    users: list[list[tuple[int, str, int]]], item_tokens: list[str] | None = None
) -> EventSequences:
    """EventSequences from [(seconds, event, item id), ...] per user; one session per user."""
    from core.data.vocab import Vocab

    events = sorted({e for user in users for _, e, _ in user})
    event_vocab = Vocab.build(events)
    tokens = item_tokens or [str(100 + i) for i in range(20)]
    lengths = [len(u) for u in users]
    rows = [row for user in users for row in user]
    return EventSequences(
        user_ids=np.array([f"u{i}" for i in range(len(users))]),
        offsets=np.r_[0, np.cumsum(lengths)].astype(np.int64),
        items=np.array([item for _, _, item in rows], dtype=np.int32),
        events=np.array([event_vocab.id_of(e) for _, e, _ in rows], dtype=np.int32),
        categories=np.full(len(rows), 2, dtype=np.int32),
        timestamps=np.array([s * 1000 for s, _, _ in rows], dtype=np.int64),
        sessions=np.repeat(np.arange(len(users)), lengths).astype(np.int64),
        item_vocab=Vocab.build(tokens),
        event_vocab=event_vocab,
        category_vocab=Vocab.build(["c"]),
    )
