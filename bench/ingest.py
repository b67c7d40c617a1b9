"""Ingest benchmark: our DuckDB pipeline vs a straightforward pandas one, on a generated 5M-event CSV,
plus the real public logs in ../shared/data. Results are appended to bench/RESULTS.md ("Ingest").

    .venv/bin/python bench/ingest.py [--events 5000000] [--threads 2] [--skip-synthetic]

Each implementation runs in a fresh subprocess so its peak RSS (getrusage maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
RESULTS = ROOT / "bench" / "RESULTS.md"
SHARED = ROOT.parent / "shared" / "data"
REAL_LOGS = {  # name -> (file, format the CLI is told: none, auto-detection is part of the test)
    "taobao": "taobao/UserBehavior_head84474.csv",
    "ml-100k": "ml-100k/ml-100k.inter",
    "beauty": "beauty/beauty.txt",
}
sys.path.insert(0, str(ROOT))


def generate(path: Path, events: int, seed: int = 0) -> None:
    """A clickstream CSV: user_id,timestamp (ISO),event_type,item_id,category; vectorised."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    users = rng.integers(0, max(events // 25, 1), events)
    items = rng.zipf(1.3, events) % 200_000
    seconds = 1_700_000_000 + rng.integers(0, 30 * 86400, events)
    kinds = np.array(["view", "view", "view", "click", "add_to_cart", "purchase"])
    table = pa.table(
        {
            "user_id": pa.array(users).cast(pa.string()),
            "timestamp": pc.strftime(
                pa.array(seconds * 1000, pa.timestamp("ms")), "%Y-%m-%d %H:%M:%S"
            ),
            "event_type": pa.array(kinds[rng.integers(0, len(kinds), events)]),
            "item_id": pc.binary_join_element_wise("i", pa.array(items).cast(pa.string()), ""),
            "category": pa.array(items % 500).cast(pa.string()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    options = pacsv.WriteOptions(quoting_style="none")
    pacsv.write_csv(table, path, write_options=options)


def run_ours(path: Path, threads: int) -> dict:
    from core.data.ingest import IngestOptions, ingest
    from core.workspace import Workspace

    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        return ingest(path, "bench", Workspace(Path(tmp)), IngestOptions(threads=threads))


def run_pandas(path: Path, threads: int) -> dict:
    """The obvious pandas way: read, parse times, stable sort, per-user lists, write Parquet."""
    import pandas as pd

    frame = pd.read_csv(path, dtype={"user_id": str, "item_id": str, "category": str})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    frame = frame.sort_values(["user_id", "timestamp"], kind="stable")
    frame["session"] = (
        frame.groupby("user_id")["timestamp"].diff() > pd.Timedelta(minutes=30)
    ).cumsum()
    sequences = frame.groupby("user_id", sort=False)["item_id"].agg(list)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        frame.to_parquet(Path(tmp) / "events.parquet", index=False)
    return {"events": len(frame), "users": len(sequences)}


def child(impl: str, path: Path, threads: int) -> None:
    start = time.perf_counter()
    summary = (run_ours if impl == "ours" else run_pandas)(path, threads)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"impl": impl, "seconds": seconds, "peak_mb": peak_mb, "events": summary["events"]}
        )
    )


def measure(impl: str, path: Path, threads: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        impl,
        "--path",
        str(path),
        "--threads",
        str(threads),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["events_per_s"] = result["events"] / result["seconds"]
    return result


def real_logs() -> list[dict]:
    if not SHARED.is_dir():
        print(f"skipping real logs: {SHARED} is absent")
        return []
    from core.data.ingest import ingest
    from core.workspace import Workspace

    rows = []
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        for name, rel in REAL_LOGS.items():
            start = time.perf_counter()
            summary = ingest(SHARED / rel, name, Workspace(Path(tmp)))
            rows.append({**summary, "seconds": time.perf_counter() - start})
            print(json.dumps(rows[-1]))
    return rows


def append_results(command: str, synthetic: list[dict], real: list[dict]) -> None:
    lines = [
        f"\n### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `{command}`",
        f"Machine: {platform.processor() or platform.machine()}, 2-core CPU shared with other "
        "engineers' jobs (numbers are noisy); each implementation in a fresh subprocess.\n",
    ]
    if synthetic:
        ours, pandas = synthetic
        lines += [
            "| implementation | events | seconds | events/s | peak RSS MB |",
            "|---|---|---|---|---|",
            *(
                f"| {r['impl']} | {r['events']:,} | {r['seconds']:.1f} | {r['events_per_s']:,.0f} "
                f"| {r['peak_mb']:,.0f} |"
                for r in synthetic
            ),
            f"\nRatios: throughput ours/pandas = **{ours['events_per_s'] / pandas['events_per_s']:.2f}×** "
            f"(target ≥ 3×); peak memory ours/pandas = **{ours['peak_mb'] / pandas['peak_mb']:.2f}** "
            "(target ≤ 0.5).\n",
        ]
    if real:
        lines += [
            "| real log | events | users | items | sessions | event types | rejected | start | end | s |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *(
                f"| {r['dataset']} | {r['events']:,} | {r['users']:,} | {r['items']:,} | "
                f"{r['sessions']:,} | {json.dumps(r['event_types'])} | {r['rejected_rows']} | "
                f"{r['start']} | {r['end']} | {r['seconds']:.2f} |"
                for r in real
            ),
        ]
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if "\n## Ingest\n" not in text:
        text = text.rstrip("\n") + "\n\n## Ingest\n"
    head, _, tail = text.partition("\n## Ingest\n")
    section, sep, rest = tail.partition("\n## ")
    new = head + "\n## Ingest\n" + section.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    RESULTS.write_text(new + (sep + rest if sep else ""), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000_000, help="rows of the synthetic CSV")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (machine has 2)")
    parser.add_argument("--skip-synthetic", action="store_true", help="only the real logs")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--child", choices=["ours", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args.child, args.path, args.threads)
        return
    synthetic = []
    if not args.skip_synthetic:
        path = WORK / f"events_{args.events}.csv"
        if not path.exists():
            generate(path, args.events)
        synthetic = [measure(impl, path, args.threads) for impl in ("ours", "pandas")]
        for row in synthetic:
            print(json.dumps(row))
    real = real_logs()
    if not args.no_record:
        append_results("python bench/ingest.py " + " ".join(sys.argv[1:]), synthetic, real)


if __name__ == "__main__":
    main()
