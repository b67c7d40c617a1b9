"""`predict --all` on Amazon Beauty: every user's top 10 in one file, vs the per-user path.

    .venv/bin/python -m bench.predict_all [--minutes 2] [--sample 300] [--no-record]

Ingests ../shared/data/beauty/beauty.txt into bench/_work/predict_all (git-ignored) and trains
`python -m core train --max-minutes M` once (both reused on later runs); skipped with one line
when the file is absent. Then, in one process with the run loaded: the time of
`export_predictions` for all 40,226 users (what `predict --all --out FILE.csv` does, file
written), and the time per user of the one-user path of `predict --user` on a sample of users
of the same run; the ratio is (per-user time x users) / --all time. Target: --all < 30 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.sasrec_reference import machine_note, record_results
from core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work" / "predict_all"
BEAUTY = ROOT.parent / "shared" / "data" / "beauty" / "beauty.txt"
RUN = "beauty-2min"
TOP_K = 10
SECTION = "Predict every user (beauty, `predict --all`)"
COLUMNS = ["date", "machine", "command", "run", "users", "rows", "--all s", "users/s",
           "per-user s/user (sample)", "ratio", "< 30 s"]  # fmt: skip


def prepare(workspace: Workspace, minutes: float) -> None:
    """Ingest beauty and train the run once, through the CLI an analyst would use."""
    core = [sys.executable, "-m", "core", "--workspace", str(workspace.root)]
    if "beauty" not in workspace.dataset_names():
        subprocess.run([*core, "ingest", "--name", "beauty", str(BEAUTY)], check=True)
    if RUN not in workspace.run_names():
        train = ["train", "--dataset", "beauty", "--run", RUN, "--max-minutes", str(minutes)]
        subprocess.run([*core, *train], check=True)


def per_user_seconds(loaded, sequences, catalog, users: np.ndarray) -> float:
    """Seconds per user of `predict --user` (after loading): one history, full scores, top k."""
    from core.cli.predict import ranked_tokens, top_items

    start = time.perf_counter()
    for user in users:
        one = np.array([user], dtype=np.int64)
        prediction = loaded.predict_next(sequences, one, sequences.offsets[one + 1])
        seen = set(sequences.items[sequences.user_slice(int(user))].tolist())
        top_items(prediction.item_scores[0], sequences.item_vocab, TOP_K, seen, catalog)
        ranked_tokens(prediction.event_probs[0], sequences.event_vocab)
    return (time.perf_counter() - start) / len(users)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="training budget of the run")
    parser.add_argument("--sample", type=int, default=300, help="users timed on the per-user path")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    if not BEAUTY.is_file():
        print(f"skipped: {BEAUTY} is absent", file=sys.stderr)
        return 0
    from core.analysis.all_predictions import export_predictions
    from core.data.items import load_item_catalog
    from core.data.store import load_sequences
    from core.inference.loading import load_run
    from core.training.threads import set_training_threads

    workspace = Workspace.at(WORK / "ws")
    prepare(workspace, args.minutes)
    threads = set_training_threads(None)  # what the CLI does
    loaded = load_run(workspace, RUN, "cpu")
    sequences = load_sequences(workspace, "beauty")
    catalog = load_item_catalog(workspace, "beauty")
    machine = machine_note()  # the load before the timed work
    summary = export_predictions(loaded, sequences, catalog, WORK / "all.csv", TOP_K)
    sample = np.random.default_rng(0).choice(sequences.num_users, args.sample, replace=False)
    each = per_user_seconds(loaded, sequences, catalog, sample)
    seconds = summary["seconds"]
    command = f"`python -m bench.predict_all --sample {args.sample}` ({threads} torch threads)"
    row = [
        time.strftime("%Y-%m-%d %H:%M"),
        machine,
        command,
        f"{RUN} ({loaded.meta.get('epoch')} epochs)",
        f"{sequences.num_users:,}",
        f"{summary['rows']:,}",
        f"{seconds:.1f}",
        f"{sequences.num_users / seconds:,.0f}",
        f"{each * 1000:.1f} ms",
        f"{each * sequences.num_users / seconds:.0f}x",
        "yes" if seconds < 30 else "no",
    ]
    print(" | ".join(map(str, row)))
    if not args.no_record:
        record_results(SECTION, COLUMNS, [row])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
