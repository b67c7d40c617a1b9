"""What bench/train_speed.py times: our Trainer's steps and the reference SASRec's, with the
matrix-multiplication FLOPs each step does, on Amazon Beauty, the sample data or an ingested
dataset.

Kept apart from the timing loop so that what is run (settings, batch orders, FLOP counts) reads
on its own.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch

from bench.sasrec_reference import load_beauty_or_say_skipped, make_reference
from core.data.sequences import EventSequences
from core.training.bucketing import bucketed_batches
from core.training.config import TrainConfig

DIM, LAYERS, HEADS, MAX_LEN, BATCH = 50, 2, 1, 50, 128  # the SASRec reference configuration
# Our trainer's settings by name: "defaults" = TrainConfig's own (batch size, negatives, item
# updates), "before-15" = those before issue #15, the old path its events/s are measured against.
SETTINGS: dict[str, dict[str, object]] = {
    "defaults": {},
    "before-15": {"batch_size": BATCH, "negatives": 2048, "item_updates": "dense"},
}


def encoder_flops(tokens: float, attn_pairs: float, dim: int, layers: int, ffn: int) -> float:
    """Forward matmul FLOPs of pre-norm blocks: QKV + output projection, QK^T and AV, FFN."""
    per_layer = 2 * tokens * dim * (4 * dim) + 2 * 2 * attn_pairs * dim + 2 * 2 * tokens * dim * ffn
    return layers * per_layer


@dataclass
class Step:
    """What a runner did in a slice of steps."""

    sequences: int  # sequences trained on
    flops: float  # matmul FLOPs, forward + backward
    events: int = 0  # non-padding input positions (0: not counted)
    positions: int = 0  # (B, T) positions computed


class OursRunner:
    """Our Trainer's steps on the batches of one shuffled epoch, in order.

    `batches` "today" takes the trainer's own epoch order; "bucketed" builds it with
    `bucketed_batches(..., window)` (window None: one length-sorted window per epoch).
    """

    def __init__(
        self,
        sequences: EventSequences,
        device: torch.device,
        loss: str,
        threads: int,
        batches: str = "today",
        window: int | None = None,
        item_updates: str = "auto",
        settings: str = "defaults",
        overrides: dict[str, object] | None = None,
    ) -> None:
        from core.model import BehaviorTransformer, ModelConfig
        from core.training.trainer import Trainer

        torch.manual_seed(0)
        config = ModelConfig(
            num_items=len(sequences.item_vocab),
            num_events=len(sequences.event_vocab),
            max_len=MAX_LEN,
            dim=DIM,
            layers=LAYERS,
            heads=HEADS,
        )
        model = BehaviorTransformer(config).to(device)
        chosen = dict(SETTINGS[settings])
        if settings == "defaults":  # ablations change today's defaults, never the old path
            chosen.update(overrides or {})
        if item_updates != "auto":  # an explicit --item-updates wins over the named settings
            chosen["item_updates"] = item_updates
        train_config = TrainConfig(device=str(device), loss=loss, threads=threads, **chosen)
        self.trainer = Trainer(model, sequences, train_config)
        self.sampled = self.trainer.loss_choice.sampled
        kind = (
            f"sampled softmax, {train_config.negatives} negatives"
            if self.sampled
            else "full softmax"
        )
        kind += f", batch {train_config.batch_size}"
        self.bf16 = self.trainer.bf16_matmuls
        order = "today's batches" if batches == "today" else f"bucketed, window {window or 'epoch'}"
        updates = "item rows" if self.trainer.lazy_rows else "dense item table"
        self.name = (
            f"ours, {settings} (causal, {kind}{', bf16 loss matmuls' if self.bf16 else ''}; "
            f"{order}; {updates})"
        )
        trainer = self.trainer
        self.lengths = trainer.objective.window_lengths(trainer.flat.offsets, trainer.ends)
        self.batches = trainer.epoch_batches(0) if batches == "today" else self._bucketed(window)
        self.next = 0

    def _bucketed(self, window: int | None) -> list[np.ndarray]:
        """Epoch 0's user batches from bucketed_batches, seeded as the trainer's sampler is."""
        users, config = self.trainer.users, self.trainer.config
        rng = np.random.default_rng([config.seed, 0, 1])
        order = bucketed_batches(self.lengths[users], config.batch_size, rng, window)
        return [users[b] for b in order]

    def run(self, steps: int) -> Step:
        """Runs `steps` steps; returns what they trained on and their matmul FLOPs."""
        batches = [self.batches[(self.next + i) % len(self.batches)] for i in range(steps)]
        self.next += steps
        for users in batches:
            self.trainer.train_step(users)
        return Step(
            sum(map(len, batches)),
            sum(self._flops(users) for users in batches),
            sum(int(self.lengths[users].sum()) for users in batches),
            sum(len(users) * int(self.lengths[users].max()) for users in batches),
        )

    def _flops(self, users: np.ndarray) -> float:
        """One causal step: windows trimmed to the batch's longest, full softmax at targets."""
        cfg = self.trainer.model.config
        lengths = self.lengths[users]  # (B,) inputs; each has a target
        T = int(lengths.max())  # (B, T) after trimming
        tokens, targets = len(users) * T, int(lengths.sum())
        hidden = cfg.ffn_mult * cfg.dim
        forward = encoder_flops(tokens, len(users) * T * T, cfg.dim, cfg.layers, hidden)
        scored = self.trainer.config.negatives + 1 if self.sampled else cfg.num_items
        forward += 2 * targets * cfg.dim * scored  # output projection over the scored items
        return 3 * forward


class ReferenceRunner:
    """The SASRec reference's steps (its own sampler: random users, full padded windows)."""

    name = "SASRec reference"

    def __init__(self, sequences: EventSequences, device: torch.device) -> None:
        self.model, self.sampler, self.optimizer = make_reference(sequences)
        self.model.to(device)

    def run(self, steps: int) -> Step:
        from bench.sasrec_reference import train_steps

        train_steps(self.model, self.sampler, self.optimizer, steps)
        tokens = BATCH * MAX_LEN  # the reference always computes the full padded window
        forward = encoder_flops(tokens, BATCH * MAX_LEN * MAX_LEN, DIM, LAYERS, DIM)
        forward += 2 * 2 * tokens * DIM  # one positive and one negative dot product per position
        return Step(steps * BATCH, 3 * forward * steps)


def load_data(data: str) -> EventSequences | None:
    """Beauty, sample_data ingested into a throwaway workspace, or WORKSPACE:DATASET."""
    if data == "beauty":
        return load_beauty_or_say_skipped()
    import tempfile
    from pathlib import Path

    from core.data.ingest import ingest
    from core.data.store import load_sequences
    from core.workspace import Workspace

    if data != "sample":
        folder, _, name = data.rpartition(":")
        if not folder or not (Path(folder) / "datasets" / name).is_dir():
            print(f"skipped: no dataset {name!r} in workspace {folder!r}", file=sys.stderr)
            return None
        return load_sequences(Workspace(Path(folder)), name)

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp))
        ingest(root / "sample_data" / "events.csv", "sample", workspace)
        return load_sequences(workspace, "sample")
