"""Ingest benchmark: our DuckDB pipeline vs a straightforward pandas one, on a generated 5M-event CSV,
plus the real public logs in ../shared/data. Results are appended to bench/RESULTS.md ("Ingest").

    .venv/bin/python bench/ingest.py [--events 5000000] [--threads 2] [--repeat 1] [--skip-synthetic]

Each implementation runs in a fresh subprocess so its peak RSS (getrusage maxrss) is its own; the
two alternate (ours, pandas, ours, ...) so that both see the same load on a shared machine, and
each child also reports its CPU seconds (user + sys, all threads), which load disturbs less.
The Ingest section of RESULTS.md keeps one latest result (between markers), replaced on each run.
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
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
RESULTS = ROOT / "bench" / "RESULTS.md"
SHARED = ROOT.parent / "shared" / "data"
LATEST_START = "<!-- ingest:latest (bench/ingest.py rewrites this block) -->"
LATEST_END = "<!-- /ingest:latest -->"
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
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "impl": impl,
        "seconds": seconds,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "events": summary["events"],
    }
    print(json.dumps(result))


def measure(impl: str, path: Path, threads: int) -> dict:
    load = _load()
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
    result["load"] = load
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


def _load() -> str:
    with open("/proc/loadavg", encoding="utf-8") as handle:
        return handle.read().split()[0]


def synthetic_lines(runs: list[dict]) -> list[str]:
    """Table of every child run, then the ratios of each (ours, pandas) pair and their median."""
    pairs = list(zip(runs[0::2], runs[1::2], strict=True))
    speed = [o["events_per_s"] / p["events_per_s"] for o, p in pairs]
    memory = [o["peak_mb"] / p["peak_mb"] for o, p in pairs]
    return [
        "| implementation | events | seconds | events/s | CPU s | peak RSS MB | load |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['impl']} | {r['events']:,} | {r['seconds']:.1f} | {r['events_per_s']:,.0f} "
            f"| {r['cpu_s']:.1f} | {r['peak_mb']:,.0f} | {r['load']} |"
            for r in runs
        ),
        f"\nRatios ({len(pairs)} pair(s), median): throughput ours/pandas = **{median(speed):.2f}×** "
        f"(target ≥ 3×; all: {', '.join(f'{x:.2f}' for x in speed)}); peak memory ours/pandas "
        f"= **{median(memory):.2f}** (target ≤ 0.5; all: {', '.join(f'{x:.2f}' for x in memory)}).\n",
    ]


def real_lines(real: list[dict]) -> list[str]:
    return [
        "| real log | events | users | items | sessions | event types | rejected | start | end | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['dataset']} | {r['events']:,} | {r['users']:,} | {r['items']:,} | "
            f"{r['sessions']:,} | {json.dumps(r['event_types'])} | {r['rejected_rows']} | "
            f"{r['start']} | {r['end']} | {r['seconds']:.2f} |"
            for r in real
        ),
    ]


def append_results(command: str, synthetic: list[dict], real: list[dict]) -> None:
    """Replace the latest-result block of the Ingest section (text around it is kept)."""
    lines = [
        LATEST_START,
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `{command}`",
        f"Machine: {platform.processor() or platform.machine()}, 2-core CPU shared with other "
        "engineers' jobs (numbers are noisy; load = 1-min load average at the start of each "
        "child); each implementation in a fresh subprocess, alternating.\n",
        *(synthetic_lines(synthetic) if synthetic else []),
        *(real_lines(real) if real else []),
        LATEST_END,
    ]
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if "\n## Ingest\n" not in text:
        text = text.rstrip("\n") + "\n\n## Ingest\n"
    head, _, tail = text.partition("\n## Ingest\n")
    section, sep, rest = tail.partition("\n## ")
    if LATEST_START in section and LATEST_END in section:
        before, _, after = section.partition(LATEST_START)
        section = before.rstrip("\n") + "\n\n" + "\n".join(lines) + after.partition(LATEST_END)[2]
    else:
        section = section.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    new = head + "\n## Ingest\n" + section.rstrip("\n") + "\n"
    RESULTS.write_text(new + ("\n## " + rest if sep else ""), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000_000, help="rows of the synthetic CSV")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (machine has 2)")
    parser.add_argument("--repeat", type=int, default=1, help="(ours, pandas) pairs to run")
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
        synthetic = [
            measure(impl, path, args.threads)
            for _ in range(args.repeat)
            for impl in ("ours", "pandas")
        ]
        for row in synthetic:
            print(json.dumps(row))
    real = real_logs()
    if not args.no_record:
        append_results("python bench/ingest.py " + " ".join(sys.argv[1:]), synthetic, real)


if __name__ == "__main__":
    main()
