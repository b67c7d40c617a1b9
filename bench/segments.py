"""Default segmentation on four logs: the bundled sample (planted intents) and three public logs.

    .venv/bin/python -m bench.segments [--minutes 3] [--datasets sample ml-100k taobao beauty]

For each log: ingest into bench/_work/segments (git-ignored), train a short run with the CLI
defaults (`python -m core train --max-minutes M`; the sample uses the shipped demo run), then
`segment_run` with the default SegmentConfig (block weights picked by the log's shape, k by
bootstrap stability + silhouette) and record: users, k, segment shares, stability, silhouette,
distinctness (mean pairwise Jaccard of the segments' top-20 real items: lower = more distinct),
time/pace words in names on a log without clock times, and the seconds `segment_run` took.
On the sample, the ARI against the planted intents (sample_data/ground_truth.csv) of the default
combination, of behaviour features alone, of the model's blocks alone and of each model block
alone, at a fixed k and at the k the search picks: "representation alone vs combination".
Public logs are read from ../shared/data and skipped with one line when absent.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.results_table import edit_results, insert_rows, markdown_row, section_span
from core.analysis.segment_space import BlockWeights
from core.analysis.segments import SegmentConfig, SegmentResult, segment_run, segment_users
from core.data.ingest import IngestOptions, ingest
from core.data.sequences import EventSequences
from core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work" / "segments"  # the benchmark's workspace (git-ignored)
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Segments"
GROUND_TRUTH = ROOT / "sample_data" / "ground_truth.csv"  # user_id, intent (planted)
TOP_ITEMS = 20  # items per segment compared by the distinctness measure
TIME_WORDS = (  # words a name must not use when the log has no clock times
    "rapid", "quick", "fast", "slow", "pace", "minute", "hour", "burst", "session",
    "night", "morning", "evening", "weekend", "daily",
)  # fmt: skip
ABLATIONS = {  # sample: which blocks of the segment space are used (None: the default preset)
    "default combination": None,
    "behaviour features alone": BlockWeights(predicted=0, state=0, preference=0),
    "model blocks alone": BlockWeights(behaviour=0),
    "predicted behaviour alone": BlockWeights(behaviour=0, predicted=1, state=0, preference=0),
    "encoder state alone": BlockWeights(behaviour=0, predicted=0, state=1, preference=0),
    "item preference alone": BlockWeights(behaviour=0, predicted=0, state=0, preference=1),
}


@dataclass(frozen=True)
class Log:
    """A public log: its file under ../shared/data and how to read it."""

    file: str
    options: IngestOptions = field(default_factory=IngestOptions)


LOGS = {
    "ml-100k": Log("ml-100k/ml-100k.inter"),
    "taobao": Log(
        "taobao/UserBehavior_head84474.csv",
        IngestOptions(
            has_header=False, columns=["user_id", "item_id", "category_id", "behavior", "timestamp"]
        ),
    ),
    "beauty": Log("beauty/beauty.txt"),
}
DATASETS = ["sample", *LOGS]


# --- preparing a run per log -------------------------------------------------------------


def prepare_sample(ws: Workspace, train: bool, minutes: float, reuse: bool) -> tuple[str, str]:
    """(run, how it was trained): the shipped demo run, or a fresh CLI-default run."""
    from sample_data.demo import DEMO_DATASET, ensure_demo

    info = ensure_demo(ws)
    if not train and info.run is not None:
        return info.run, "shipped demo run"
    return train_run(ws, DEMO_DATASET, minutes, reuse)


def prepare_log(ws: Workspace, name: str, minutes: float, reuse: bool) -> tuple[str, str] | None:
    """(run, how it was trained) for a public log; None (one line printed) when it is absent."""
    log = LOGS[name]
    path = SHARED / log.file
    if not path.is_file():
        print(f"skipped {name}: {path} not found")
        return None
    if not (reuse and name in ws.dataset_names()):
        ingest(path, name, ws, log.options)
    return train_run(ws, name, minutes, reuse)


def train_run(ws: Workspace, dataset: str, minutes: float, reuse: bool) -> tuple[str, str]:
    """Train `{dataset}-default` through the CLI (its defaults, a time budget); its summary note."""
    run = f"{dataset}-default"
    summary_path = WORK / f"train-{dataset}.json"
    if not (reuse and run in ws.run_names() and summary_path.is_file()):
        command = [sys.executable, "-m", "core", "--workspace", str(ws.root), "train"]
        command += ["--dataset", dataset, "--run", run, "--max-minutes", f"{minutes:g}"]
        if run in ws.run_names():
            import shutil

            shutil.rmtree(ws.run_dir(run))
        out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        summary_path.write_text(out.stdout.strip().splitlines()[-1], encoding="utf-8")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    config = json.loads((ws.run_dir(run) / "config.json").read_text(encoding="utf-8"))
    budget = config["train_config"].get("max_minutes")  # the run's own, also when reused
    note = (
        f"{budget:g}-min CLI run: {summary.get('epochs', '?')} epochs, "
        f"{summary.get('seconds', 0):.0f} s, {summary.get('stopped', '?')}"
    )
    return run, note


# --- measures ------------------------------------------------------------------------------


def top_items(sequences: EventSequences, labels: np.ndarray, top: int = TOP_ITEMS) -> dict:
    """{segment: set of its `top` most frequent real item ids} (the no-item token excluded)."""
    owner = np.repeat(np.arange(sequences.num_users), np.diff(sequences.offsets))
    items = np.asarray(sequences.items, dtype=np.int64)
    real = items >= sequences.item_vocab.first_real_id
    frame = pd.DataFrame({"segment": labels[owner[real]], "item": items[real]})
    counts = frame.groupby(["segment", "item"]).size().rename("n").reset_index()
    counts = counts.sort_values(["segment", "n", "item"], ascending=[True, False, True])
    return {int(s): set(g["item"].head(top)) for s, g in counts.groupby("segment")}


def distinctness(sequences: EventSequences, labels: np.ndarray) -> float:
    """Mean pairwise Jaccard overlap of the segments' top items (0: disjoint, 1: the same)."""
    tops = list(top_items(sequences, labels).values())
    pairs = [len(a & b) / len(a | b) for a, b in itertools.combinations(tops, 2) if a | b]
    return float(np.mean(pairs)) if pairs else float("nan")


def activity_r2(sequences: EventSequences, labels: np.ndarray) -> float:
    """Share of the variance of log(events per user) the segments explain (1: split by activity)."""
    activity = pd.Series(np.log(np.maximum(np.diff(sequences.offsets), 1)))
    between = activity.groupby(labels).transform("mean")
    total = float(((activity - activity.mean()) ** 2).sum())
    return float(((between - activity.mean()) ** 2).sum()) / total if total > 0 else 0.0


def time_words(names: list[str]) -> list[str]:
    """The time/pace words the names use (whole-word prefixes: 'session' matches 'long-session')."""
    found = {w for n in names for w in TIME_WORDS if re.search(rf"\b{w}", n.lower())}
    return sorted(found)


def planted_ari(result: SegmentResult, truth: pd.Series) -> float:
    """ARI of the segments against the planted intents, over the users in both."""
    from sklearn.metrics import adjusted_rand_score

    frame = result.assignments.set_index("user_id").join(truth, how="inner")
    return float(adjusted_rand_score(frame["intent"], frame["segment"]))


def measure(ws: Workspace, dataset: str, run: str, note: str) -> dict:
    """Default segmentation of a run's users, timed, with its measures."""
    from core.analysis.time_resolution import support_from_ms
    from core.data.store import load_manifest, load_sequences

    start = time.perf_counter()
    result = segment_run(ws, run)
    seconds = time.perf_counter() - start
    sequences = load_sequences(ws, dataset)
    has_time = bool(load_manifest(ws, dataset).get("has_time", True))
    pace = support_from_ms(sequences.timestamps, has_time).pace
    labels = result.assignments["segment"].to_numpy()
    words = ", ".join(time_words(list(result.summary["names"].values()))) or "none"
    shares = result.profiles["size"] / result.profiles["size"].sum()
    s = result.summary
    return {
        "dataset": dataset,
        "users": sequences.num_users,
        "weights": ",".join(f"{k}={v:g}" for k, v in s["weights"].items()),
        "k": s["k"],
        "segments": s["segments"],
        "shares": f"{shares.min():.1%} / {shares.max():.1%}",
        "stability": s["stability"],
        "silhouette": s["silhouette"],
        "jaccard": round(distinctness(sequences, labels), 3),
        "activity": round(activity_r2(sequences, labels), 2),
        "clock times": "yes" if pace else "no",
        "time words": "n/a" if pace else words,
        "seconds": round(seconds, 1),
        "model": note,
        "names": list(s["names"].values()),
        "result": result,
    }  # fmt: skip


def sample_ablations(ws: Workspace, run: str, k: int) -> list[dict]:
    """ARI vs the planted intents per block choice, at fixed k and at the searched k."""
    from core.analysis.time_resolution import support_from_ms
    from core.data.items import load_item_catalog
    from core.data.store import load_manifest, load_sequences
    from core.inference.loading import load_run

    loaded = load_run(ws, run)
    sequences = load_sequences(ws, loaded.dataset)
    catalog = load_item_catalog(ws, loaded.dataset)
    has_time = bool(load_manifest(ws, loaded.dataset).get("has_time", True))
    support = support_from_ms(sequences.timestamps, has_time)
    truth = pd.read_csv(GROUND_TRUTH, dtype={"user_id": str}).set_index("user_id")["intent"]
    rows = []
    for what, weights in ABLATIONS.items():
        row = {"weights": what}
        for fixed in (k, None):
            config = SegmentConfig(k=fixed, weights=weights, projection="pca")
            result = segment_users(loaded, sequences, config, catalog=catalog, time=support)
            if fixed is not None:
                labels = result.assignments["segment"].to_numpy()
                row["k fixed"] = k
                row["ARI k fixed"] = round(planted_ari(result, truth), 3)
                row["activity"] = round(activity_r2(sequences, labels), 2)
            else:
                row["ARI k chosen"] = round(planted_ari(result, truth), 3)
                row |= {key: result.summary[key] for key in ("k", "stability", "silhouette")}
        print(row)
        rows.append(row)
    return rows


# --- RESULTS.md ----------------------------------------------------------------------------

COLUMNS = ["dataset", "users", "weights", "k", "segments", "shares", "stability", "silhouette",
           "jaccard", "activity", "clock times", "time words", "seconds", "model"]  # fmt: skip
HEADERS = ["date (UTC)", "machine", "command", "dataset", "users", "block weights used",
           "k (3-8)", "segments after merge", "smallest / largest share",
           "stability (bootstrap ARI)", "silhouette",
           "top-20 item Jaccard (lower = more distinct)",
           "activity R² (log events/user explained)", "clock times",
           "time words in names (log without clock times)", "segment_run s", "model",
           "segment names"]  # fmt: skip
ABLATION_KEYS = ["weights", "k fixed", "ARI k fixed", "activity", "ARI k chosen", "k",
                 "stability", "silhouette"]  # fmt: skip
ABLATION_HEADERS = ["date (UTC)", "sample: blocks used", "fixed k",
                    "ARI at the fixed k vs planted intents", "activity R² (fixed k)",
                    "ARI k chosen", "chosen k", "stability", "silhouette"]  # fmt: skip
INTRO = (
    "Newest first. Default SegmentConfig (k-means, k by bootstrap stability + silhouette in "
    "3-8, weights by the log's shape); the second table: the sample's blocks alone and combined "
    "against its planted intents."
)


def rows(measured: list[dict], lead: list[str]) -> list[list[object]]:
    """One row per log: `lead` (date, machine, command), the figures, the segment names."""
    return [lead + [m[c] for c in COLUMNS] + ["; ".join(m["names"])] for m in measured]


def ablation_rows(ablations: list[dict], stamp: str) -> list[list[object]]:
    return [[stamp] + [r[c] for c in ABLATION_KEYS] for r in ablations]


def record(results: list[list[object]], ablations: list[list[object]]) -> None:
    """Put the run's rows first in the section's two tables, in one write; a missing section
    (added last in the file) gets both."""

    def edit(text: str) -> str:
        new = section_span(text, SECTION) is None
        text = insert_rows(text, SECTION, HEADERS, results, INTRO)
        if not ablations:
            return text
        if new:
            table = markdown_row(ABLATION_HEADERS) + "|" + "---|" * len(ABLATION_HEADERS) + "\n"
            return text + "\n" + table + "".join(map(markdown_row, ablations))
        return insert_rows(text, SECTION, ABLATION_HEADERS, ablations)

    edit_results(RESULTS, edit)


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=DATASETS, choices=DATASETS, help="logs to benchmark"
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget per log")
    parser.add_argument("--k", type=int, default=6, help="fixed k of the sample's ablations")
    parser.add_argument(
        "--train-sample", action="store_true", help="train the sample too (default: demo run)"
    )
    parser.add_argument(
        "--reuse-runs",
        action="store_true",
        help="keep datasets and runs already in bench/_work/segments (no ingest, no training)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    from bench.sasrec_reference import machine_note

    load_start = machine_note()
    ws = Workspace(WORK)
    WORK.mkdir(parents=True, exist_ok=True)
    measured, ablations = [], []
    for name in args.datasets:
        if name == "sample":
            prepared = prepare_sample(ws, args.train_sample, args.minutes, args.reuse_runs)
        else:
            prepared = prepare_log(ws, name, args.minutes, args.reuse_runs)
        if prepared is None:
            continue
        measured.append(measure(ws, name, *prepared))
        print({k: v for k, v in measured[-1].items() if k != "result"})
        if name == "sample":
            ablations = sample_ablations(ws, prepared[0], args.k)
    machine = f"{load_start} → {machine_note().rsplit('load ', 1)[-1]}"
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    results = rows(measured, [stamp, machine, f"`{_command(argv)}`"])
    for row in results:
        print(" | ".join(map(str, row)))
    if not args.no_record and measured:
        record(results, ablation_rows(ablations, stamp))
    return 0


def _command(argv: list[str] | None) -> str:
    return " ".join(["python -m bench.segments", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
