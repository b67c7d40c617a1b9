"""Training speed on Amazon Beauty: our trainer vs a straightforward SASRec, and vs peak matmul.

Issue #3 targets: >= 2x the sequences/second of the reference (bench/sasrec_reference.py) with
the SASRec reference configuration (dim 50, 2 blocks, 1 head, max-len 50, batch 128), and an
achieved GFLOP/s within 3x of this machine's measured matmul throughput.

    .venv/bin/python -m bench.train_speed [--steps 60] [--warmup 5] [--device cpu|cuda]
        [--data beauty|sample] [--batches today bucketed] [--window N] [--clock wall|process]
        [--item-updates dense rows]

Issue #15 (no compute on padding): `--batches today bucketed` times our trainer twice, on
today's batch order (the trainer's sampler) and on `core.training.bucketing.bucketed_batches`
with `--window` batches per length-sorted window (0 = the whole epoch), and reports the
non-padding events per second and the padding share of each. `--clock process` counts this
process's CPU seconds instead of wall time, for a machine other jobs keep busy.
`--item-updates dense rows` times the old dense AdamW step on the item table against lazy rows
(core.training.lazy_rows), everything else equal.

Both sides run a fixed number of optimizer steps after warm-up, batch building included, in
alternating slices so that load from other work on a shared machine hits both alike. Our steps
are consecutive batches of a shuffled epoch, so their lengths mix like an epoch's.
FLOPs count matrix multiplications only (forward, and 2x forward for backward).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from bench.sasrec_reference import (
    load_beauty_or_say_skipped,
    machine_note,
    make_reference,
    record_results,
)
from core.data.sequences import EventSequences
from core.model.precision import cpu_bf16_matmul_is_faster
from core.training.bucketing import bucketed_batches
from core.training.threads import set_training_threads

DIM, LAYERS, HEADS, MAX_LEN, BATCH = 50, 2, 1, 50, 128  # the SASRec reference configuration


@dataclass
class Measurement:
    """One timed side of the comparison."""

    name: str
    seconds: float  # wall (or CPU, --clock process) time of the timed steps
    sequences: int  # sequences processed in those steps
    flops: float  # matmul FLOPs of those steps (forward + backward)
    events: int = 0  # non-padding input positions of those steps (0: not counted)
    positions: int = 0  # (B, T) positions computed, padding included

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def padding(self) -> float:
        return 1.0 - self.events / self.positions if self.positions else 0.0

    @property
    def seq_per_s(self) -> float:
        return self.sequences / self.seconds

    @property
    def gflops(self) -> float:
        return self.flops / self.seconds / 1e9


def peak_matmul_gflops(
    device: torch.device,
    n: int = 2048,
    repeats: int = 10,
    dtype: torch.dtype = torch.float32,
    clock=time.perf_counter,
) -> float:
    """Throughput of a large matmul: the ceiling our training step is measured against."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    start = clock()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n**3 * repeats / (clock() - start) / 1e9


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
    ) -> None:
        from core.model import BehaviorTransformer, ModelConfig
        from core.training.config import TrainConfig
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
        train_config = TrainConfig(
            batch_size=BATCH,
            device=str(device),
            loss=loss,
            threads=threads,
            item_updates=item_updates,
        )
        self.trainer = Trainer(model, sequences, train_config)
        self.sampled = self.trainer.loss_choice.sampled
        kind = (
            f"sampled softmax, {train_config.negatives} negatives"
            if self.sampled
            else "full softmax"
        )
        self.bf16 = self.trainer.bf16_matmuls
        order = "today's batches" if batches == "today" else f"bucketed, window {window or 'epoch'}"
        updates = "item rows" if self.trainer.lazy_rows else "dense item table"
        self.name = (
            f"ours (causal, {kind}{', bf16 loss matmuls' if self.bf16 else ''}; {order}; {updates})"
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


def measure(
    runners: list, steps: int, warmup: int, rounds: int, device, clock=time.perf_counter
) -> list[Measurement]:
    """Warm up each runner, then alternate them in `rounds` slices, so load swings hit both."""
    totals = [Measurement(r.name, 0.0, 0, 0.0) for r in runners]
    for runner in runners:
        runner.run(warmup)
    per_round = [steps // rounds + (i < steps % rounds) for i in range(rounds)]
    for n in per_round:
        for runner, total in zip(runners, totals, strict=True):
            _sync(device)
            start = clock()
            step = runner.run(n)
            _sync(device)
            total.seconds += clock() - start
            total.sequences += step.sequences
            total.flops += step.flops
            total.events += step.events
            total.positions += step.positions
            rate = f"{total.sequences / total.seconds:.0f} seq/s"
            if total.positions:
                rate += f", {total.events_per_s:.0f} events/s, {total.padding:.1%} padding"
            print(f"{total.name}: {rate}", file=sys.stderr)
    return totals


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sequences = _load(args.data)
    if sequences is None:
        return 0
    device = torch.device(args.device)
    clock = time.process_time if args.clock == "process" else time.perf_counter
    threads = set_training_threads(args.threads)  # one setting for both sides, kept throughout
    peak, peak_bf16 = peak_matmul_gflops(device, clock=clock), _peak_bf16(device, clock)
    window = args.window or None  # 0: the whole epoch is one window
    runners = [ReferenceRunner(sequences, device)]
    runners += [
        OursRunner(sequences, device, loss, threads, order, window, updates)
        for loss in args.losses
        for order in args.batches
        for updates in args.item_updates
    ]
    measured = measure(runners, args.steps, args.warmup, args.rounds, device, clock)
    peak = max(peak, peak_matmul_gflops(device, clock=clock))  # the less disturbed one
    peak_bf16 = max(peak_bf16, _peak_bf16(device, clock))
    bf16 = [False] + [r.bf16 for r in runners[1:]]
    rows = [
        _row(m, measured[0], peak, peak_bf16 if low else None, args, device)
        for m, low in zip(measured, bf16, strict=True)
    ]
    for row in rows:
        print(" | ".join(map(str, row)))
    if not args.no_record:
        record_results("Training speed (beauty, SASRec reference config)", COLUMNS, rows)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument(
        "--losses",
        nargs="+",
        default=["full", "sampled"],
        choices=["auto", "full", "sampled"],
        help="item losses of our model to time (default: full and sampled; auto = the trainer's)",
    )
    parser.add_argument("--rounds", type=int, default=4, help="alternating slices per side")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads for both sides (default: idle cores)",
    )
    parser.add_argument(
        "--data",
        default="beauty",
        help="beauty (Amazon Beauty from ../shared/data), sample (sample_data/events.csv), or "
        "WORKSPACE:DATASET, a dataset already ingested there (e.g. the scale bench's log)",
    )
    parser.add_argument(
        "--batches",
        nargs="+",
        default=["today"],
        choices=["today", "bucketed"],
        help="our batch orders to time: the trainer's sampler, core.training.bucketing",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=0,
        help="bucketed: batches per length-sorted window (0 = the whole epoch)",
    )
    parser.add_argument(
        "--clock",
        default="wall",
        choices=["wall", "process"],
        help="wall time, or this process's CPU time (a machine other jobs keep busy)",
    )
    parser.add_argument(
        "--item-updates",
        nargs="+",
        default=["auto"],
        choices=["auto", "rows", "dense"],
        help="how AdamW updates the item table (TrainConfig.item_updates); 'dense rows' times "
        "the old path against lazy rows in one run",
    )
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser


def _load(data: str) -> EventSequences | None:
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


COLUMNS = [
    "date",
    "machine",
    "command",
    "model",
    "seq/s",
    "vs reference",
    "GFLOP/s",
    "peak matmul GFLOP/s",
    "peak / achieved",
]


def _peak_bf16(device: torch.device, clock=time.perf_counter) -> float:
    """The bf16 matmul ceiling, for runs whose loss matmuls use bf16 (0 when unsupported).

    0 too on a CPU without a fast bf16 kernel (the trainer keeps float32 there): emulated, one
    2048^3 bf16 matmul took over a minute on such a machine."""
    if device.type == "cpu" and not cpu_bf16_matmul_is_faster():
        return 0.0
    try:
        return peak_matmul_gflops(device, dtype=torch.bfloat16, clock=clock)
    except RuntimeError:
        return 0.0


def _row(
    m: Measurement,
    reference: Measurement,
    peak: float,
    peak_bf16: float | None,
    args,
    device,
) -> list[object]:
    """One table row; runs with bf16 loss matmuls also show the bf16 ceiling, for honesty."""
    peaks, ratios = f"{peak:.1f}", f"{peak / m.gflops:.1f}x"
    if peak_bf16:
        peaks += f" fp32 / {peak_bf16:.1f} bf16"
        ratios += f" fp32 / {peak_bf16 / m.gflops:.1f}x bf16"
    command = (
        f"python -m bench.train_speed --steps {args.steps} --rounds {args.rounds} "
        f"--losses {' '.join(args.losses)} --device {device.type}"
    )
    if args.data != "beauty" or args.batches != ["today"] or args.clock != "wall":
        command += f" --data {args.data} --batches {' '.join(args.batches)} --clock {args.clock}"
        command += f" --window {args.window}" if "bucketed" in args.batches else ""
    if args.item_updates != ["auto"]:
        command += f" --item-updates {' '.join(args.item_updates)}"
    name = m.name
    if m.positions:  # non-padding events/s: the figure issue #15 asks for
        name += f": {m.events_per_s:,.0f} events/s, {m.padding:.1%} padding"
    clock = ", CPU time" if args.clock == "process" else ""
    return [
        time.strftime("%Y-%m-%d"),
        machine_note() + clock,
        f"`{command}`",
        name,
        f"{m.seq_per_s:.0f}",
        f"{m.seq_per_s / reference.seq_per_s:.2f}x",
        f"{m.gflops:.1f}",
        peaks,
        ratios,
    ]


if __name__ == "__main__":
    raise SystemExit(main())
