"""Training speed on Amazon Beauty: our trainer vs a straightforward SASRec, and vs peak matmul.

Issue #3 targets: >= 2x the sequences/second of the reference (bench/sasrec_reference.py) with
the SASRec reference configuration (dim 50, 2 blocks, 1 head, max-len 50, batch 128), and an
achieved GFLOP/s within 3x of this machine's measured matmul throughput.

    .venv/bin/python -m bench.train_speed [--steps 60] [--warmup 5] [--device cpu|cuda]
        [--data beauty|sample] [--batches today bucketed] [--window N] [--clock wall|process]
        [--item-updates dense rows] [--settings before-15 defaults] [--set FIELD=VALUE ...]

Issue #15 (no compute on padding): `--batches today bucketed` times our trainer twice, on
today's batch order (the trainer's sampler) and on `core.training.bucketing.bucketed_batches`
with `--window` batches per length-sorted window (0 = the whole epoch), and reports the
non-padding events per second and the padding share of each. `--clock process` counts this
process's CPU seconds instead of wall time, for a machine other jobs keep busy.
`--item-updates dense rows` times the old dense AdamW step on the item table against lazy rows
(core.training.lazy_rows), everything else equal. `--settings before-15 defaults` times the
trainer with the settings it had before issue #15 (batch 128, 2,048 negatives, dense item
table) against today's defaults in one run; `--set negatives=512` changes today's side only (ablations).

Both sides run a fixed number of optimizer steps after warm-up, batch building included, in
alternating slices so that load from other work on a shared machine hits both alike. Our steps
are consecutive batches of a shuffled epoch, so their lengths mix like an epoch's.
FLOPs count matrix multiplications only (forward, and 2x forward for backward).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, fields

import torch

from bench.sasrec_reference import (
    machine_note,
    record_results,
)
from bench.speed_runners import SETTINGS, OursRunner, ReferenceRunner, load_data
from bench.train_accuracy import parse_overrides
from core.model.precision import cpu_bf16_matmul_is_faster
from core.training.config import TrainConfig
from core.training.threads import set_training_threads


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
    sequences = load_data(args.data)
    if sequences is None:
        return 0
    device = torch.device(args.device)
    clock = time.process_time if args.clock == "process" else time.perf_counter
    threads = set_training_threads(args.threads)  # one setting for both sides, kept throughout
    peak, peak_bf16 = peak_matmul_gflops(device, clock=clock), _peak_bf16(device, clock)
    window = args.window or None  # 0: the whole epoch is one window
    overrides = parse_overrides(args.set)
    model_fields = set(overrides) - {f.name for f in fields(TrainConfig)}
    if model_fields:
        raise SystemExit(f"--set: only TrainConfig fields here, not {sorted(model_fields)}")
    runners = [ReferenceRunner(sequences, device)]
    runners += [
        OursRunner(sequences, device, loss, threads, order, window, updates, settings, overrides)
        for settings in args.settings
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
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["defaults"],
        choices=list(SETTINGS),
        help="our trainer's batch size, negatives and item updates: TrainConfig's defaults, or "
        "those before issue #15; 'before-15 defaults' times the old path against today's",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="ablation: override a TrainConfig default on the 'defaults' side, e.g. --set "
        "negatives=512 (repeatable; 'before-15' stays as it was)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser


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
    if args.settings != ["defaults"]:
        command += f" --settings {' '.join(args.settings)}"
    command += "".join(f" --set {pair}" for pair in args.set)
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
