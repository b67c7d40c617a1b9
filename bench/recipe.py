"""Does the default recipe hold on logs it was never tuned on? One table, four datasets.

    .venv/bin/python -m bench.recipe [--max-minutes 12] [--datasets sample ml-100k taobao beauty]
        [--objective causal|masked]
        [--threads N] [--write]

The defaults were chosen on Amazon Beauty. This runs, for each dataset, exactly what an analyst
would: `ingest` (auto-detected mapping; flags only where the file has no header), `train` with
every default and a --max-minutes budget, then `evaluate` on the test split with the full and
the sampled-100 protocols beside the most-popular and Markov baselines (every user up to the
CLI's default sample). Public logs are read from ../shared/data and skipped with a message
when absent; nothing is copied into the project. Work goes to bench/_work/recipe/ (ignored).
With --write, rows are added to the "Recipe on data it was not tuned on" table of
bench/RESULTS.md (newest first).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.results_table import markdown_row, record_rows
from bench.sasrec_reference import machine_note

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / "bench" / "_work" / "recipe"
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "Recipe on data it was not tuned on (bench/recipe.py)"
COLUMNS = ["date (UTC)", "machine", "command", "dataset", "budget min", "stopped",
           "epochs (best)", "s", "test NDCG@10 full", "test HR@10 full", "Markov NDCG@10 full",
           "test NDCG@10 sampled-100", "Markov NDCG@10 sampled-100",
           "popular NDCG@10 sampled-100"]  # fmt: skip
INTRO = "Every default, one budget per dataset; test split, leave-one-out. Newest first."


@dataclass(frozen=True)
class Dataset:
    """A public log and the ingest flags its file needs (none when its header says it all)."""

    name: str
    path: Path
    ingest_flags: tuple[str, ...] = ()


DATASETS = {
    "sample": Dataset("sample", ROOT / "sample_data" / "events.csv"),
    "ml-100k": Dataset("ml-100k", SHARED / "ml-100k" / "ml-100k.inter"),
    "taobao": Dataset(
        "taobao",
        SHARED / "taobao" / "UserBehavior_head84474.csv",
        (
            "--no-header",
            "--columns",
            "user_id,item_id,category_id,behavior,timestamp",
            "--event",
            "behavior",
            "--category",
            "category_id",
        ),
    ),
    "beauty": Dataset("beauty", SHARED / "beauty" / "beauty.txt"),
}


def cli(workspace: Path, *args: str) -> dict:
    """Runs `python -m core …` as an analyst would; returns the JSON summary line."""
    command = [sys.executable, "-m", "core", "--workspace", str(workspace), *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_one(dataset: Dataset, minutes: float, threads: int | None, objective: str) -> dict:
    """Ingest, train with the defaults, evaluate both protocols; one result row."""
    workspace = WORK / dataset.name
    if not (workspace / "datasets" / dataset.name / "manifest.json").is_file():
        cli(workspace, "ingest", "--name", dataset.name, *dataset.ingest_flags, str(dataset.path))
    run = f"recipe-{time.strftime('%Y%m%d-%H%M%S')}"
    train = ["train", "--dataset", dataset.name, "--run", run, "--max-minutes", str(minutes)]
    if objective != "causal":  # the default objective is left to the default
        train += ["--objective", objective]
    if threads:
        train += ["--threads", str(threads)]
    summary = cli(workspace, *train)
    full = cli(workspace, "evaluate", "--run", run, "--protocol", "full", "--baselines")
    sampled = cli(workspace, "evaluate", "--run", run, "--protocol", "sampled-100", "--baselines")
    return {
        "dataset": dataset.name if objective == "causal" else f"{dataset.name} ({objective})",
        "minutes": minutes,
        "summary": summary,
        "full": full,
        "sampled": sampled,
    }


def table_row(result: dict, machine: str, command: str) -> list[str]:
    """The dataset's row of the section's table (COLUMNS)."""
    s, full, sampled = result["summary"], result["full"], result["sampled"]
    best = s.get("best_epoch")
    return [
        time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        machine,
        f"`{command}`",
        result["dataset"],
        f"{result['minutes']:g}",
        s.get("stopped", ""),
        f"{s.get('epochs')} ({best})",
        f"{s.get('seconds', 0):.0f}",
        f"{full['ndcg@10']:.4f}",
        f"{full['hr@10']:.4f}",
        f"{full['baselines']['markov']['ndcg@10']:.4f}",
        f"{sampled['ndcg@10']:.4f}",
        f"{sampled['baselines']['markov']['ndcg@10']:.4f}",
        f"{sampled['baselines']['popular']['ndcg@10']:.4f}",
    ]


def write_rows(rows: list[list[str]]) -> None:
    """Adds rows at the top of the section's table (newest first), creating it if needed."""
    record_rows(RESULTS, SECTION, COLUMNS, rows, INTRO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recipe", description=__doc__)
    parser.add_argument("--max-minutes", type=float, default=12.0, help="budget per dataset")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument(
        "--threads", type=int, default=None, help="train --threads (default: idle cores)"
    )
    parser.add_argument(
        "--objective",
        default="causal",
        choices=["causal", "masked"],
        help="pre-training objective (default: causal, the project's default)",
    )
    parser.add_argument("--write", action="store_true", help="add the rows to bench/RESULTS.md")
    args = parser.parse_args(argv)
    command = "python -m bench.recipe " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = []
    for name in args.datasets:
        dataset = DATASETS[name]
        if not dataset.path.is_file():
            print(f"skipped {name}: {dataset.path} is not here", file=sys.stderr)
            continue
        result = run_one(dataset, args.max_minutes, args.threads, args.objective)
        rows.append(table_row(result, machine_note(), command.strip()))
        print(markdown_row(rows[-1]), end="", flush=True)
    if args.write and rows:
        write_rows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
