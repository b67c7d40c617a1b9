"""Accuracy on Amazon Beauty (full protocol) against the published figures and the baselines.

    .venv/bin/python -m bench.train_accuracy [--max-minutes 10] [--objectives causal masked]
        [--set FIELD=VALUE ...]   # ablations, e.g. --set dropout=0.1 --set loss=full

Trains one run per objective with the default settings (TrainConfig / ModelOptions defaults),
time-boxed by --max-minutes each, then evaluates the best checkpoint on the test split with the
full protocol (every unseen item ranked), beside most-popular and Markov baselines on the same
users. Published figures (Klenitskiy & Vasilev, RecSys 2023, same data and protocol) are printed
beside them. Runs go to bench/_work/ (ignored by git).

RESULTS.md states the published figures and the baselines once, in the section's reference
table; each run adds its own rows first in the runs table, and a baseline row only when its
figures differ from the stated ones (the reference table itself is never rewritten).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import fields
from pathlib import Path

from bench.results_table import ResultsTableError, read_table
from bench.sasrec_reference import (
    RESULTS,
    load_beauty_or_say_skipped,
    machine_note,
    record_results,
)
from core.data.sequences import EventSequences
from core.evaluation.leave_one_out import evaluate
from core.evaluation.report import evaluate_baselines, format_table

WORK = Path(__file__).resolve().parent / "_work"
SECTION = "Accuracy (beauty, full protocol, test split)"
PUBLISHED = {  # beauty, full protocol (../shared/data/README.md); printed, stated once in RESULTS
    "SASRec (published)": {"hr@10": 0.0246, "ndcg@10": 0.0126},
    "BERT4Rec (published)": {"hr@10": 0.0338, "ndcg@10": 0.0187},
    "SASRec+ CE (published)": {"hr@10": 0.0533, "ndcg@10": 0.0327},
}


def train_and_test(
    sequences: EventSequences,
    objective: str,
    max_minutes: float,
    device: str,
    overrides: dict[str, object] | None = None,
) -> dict:
    """Train a default run with this objective, then test its best checkpoint (full protocol).

    `overrides` ({field: value} of TrainConfig or ModelOptions) are for ablations; the headline
    rows use none.
    """
    from core.inference.loading import load_run
    from core.progress import TqdmProgress
    from core.training.config import ModelOptions, TrainConfig
    from core.training.run import train_on_sequences
    from core.workspace import Workspace

    chosen = overrides or {}
    suffix = "".join(f"-{k}-{v}" for k, v in sorted(chosen.items()))  # ablations run side by side
    run = f"beauty-{objective}{suffix}"
    run_dir = Workspace(WORK).run_dir(run)
    shutil.rmtree(run_dir, ignore_errors=True)
    train_fields = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(
        objective=objective,
        max_minutes=max_minutes,
        device=device,
        **{k: v for k, v in chosen.items() if k in train_fields},
    )
    options = ModelOptions(**{k: v for k, v in chosen.items() if k not in train_fields})
    progress = TqdmProgress()
    summary = train_on_sequences(
        sequences, "beauty", run_dir, config, options, on_progress=progress
    )
    progress.close()
    loaded = load_run(Workspace(WORK), run, device=device)
    result = evaluate(loaded.scorer(), sequences, split="test", protocol="full")
    return {
        **result,
        "epochs": summary["epochs"],
        "best_epoch": summary["best_epoch"],
        "steps": summary.get("steps", "?"),
        "seconds": summary["seconds"],
        "stopped": summary["stopped"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-minutes", type=float, default=10.0, help="budget per objective")
    parser.add_argument(
        "--objectives",
        nargs="+",
        default=["causal", "masked"],
        choices=["causal", "masked"],
        help="which runs to train",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="ablation: override a TrainConfig or ModelOptions default (repeatable)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    sequences = load_beauty_or_say_skipped()
    if sequences is None:
        return 0
    results = {
        name: result
        for name, result in evaluate_baselines(sequences, split="test", protocol="full").items()
    }
    for objective in args.objectives:
        results[f"ours-{objective}"] = train_and_test(
            sequences, objective, args.max_minutes, args.device, parse_overrides(args.set)
        )
    print(format_table(results, [10]), file=sys.stderr)
    for name, r in PUBLISHED.items():
        print(f"{name}: HR@10 {r['hr@10']:.4f}, NDCG@10 {r['ndcg@10']:.4f}", file=sys.stderr)
    rows = _rows(results, args, stated_baselines())
    for row in rows:
        print(" | ".join(map(str, row)))
    if not args.no_record:
        record_results(SECTION, COLUMNS, rows)
    return 0


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """{"dropout": 0.1, "loss": "full"} from ["dropout=0.1", "loss=full"] (JSON values, else text)."""
    from core.training.config import ModelOptions, TrainConfig

    known = {f.name for cls in (TrainConfig, ModelOptions) for f in fields(cls)}
    overrides: dict[str, object] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name not in known or not text:
            raise SystemExit(
                f"--set {pair!r}: expected FIELD=VALUE with FIELD one of {sorted(known)}"
            )
        try:
            overrides[name] = json.loads(text)
        except json.JSONDecodeError:
            overrides[name] = text
    return overrides


COLUMNS = ["date", "machine", "command", "model", "HR@10", "NDCG@10", "MRR", "training"]
REFERENCE_COLUMNS = ["reference", "HR@10", "NDCG@10", "MRR", "source"]


def stated_baselines(text: str | None = None) -> dict[str, list[str]]:
    """{"markov": [HR@10, NDCG@10, MRR]} as the section's reference table states them ({} when
    RESULTS.md has no such table: every baseline is then recorded)."""
    if text is None:
        text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    try:
        rows = read_table(text, SECTION, REFERENCE_COLUMNS)
    except ResultsTableError:
        return {}
    return {row[0].split()[0]: row[1:4] for row in rows if row[4].startswith("baseline")}


def _rows(
    results: dict[str, dict], args: argparse.Namespace, stated: dict[str, list[str]]
) -> list[list[object]]:
    """Our runs' rows; a baseline's only when it differs from the figures RESULTS.md states."""
    date, machine = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), machine_note()
    sets = "".join(f" --set {pair}" for pair in args.set)
    command = (
        f"`python -m bench.train_accuracy --max-minutes {args.max_minutes:g} "
        f"--objectives {' '.join(args.objectives)}{sets}`"
    )
    rows = []
    for name, r in results.items():
        metrics = [f"{r['hr@10']:.4f}", f"{r['ndcg@10']:.4f}", f"{r['mrr']:.4f}"]
        if name.startswith("ours-"):
            rows.append([date, machine, command, name, *metrics, _training_note(r)])
        elif stated.get(name) != metrics:
            was = " / ".join(stated[name]) if name in stated else "not stated"
            model = f"{name} (baseline; the section states {was})"
            rows.append([date, machine, command, model, *metrics, "-"])
    return rows


def _training_note(r: dict) -> str:
    """How far a time-boxed run got, so a low figure is read as under-trained, not as final."""
    if "epochs" not in r:
        return "-"
    return (
        f"{r['steps']} steps, {r['epochs']} epochs, best epoch {r['best_epoch']}, "
        f"{r['seconds']:.0f} s, {r['stopped']}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
