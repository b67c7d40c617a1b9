"""Scale benchmark (issue #12): every CLI step on one generated log, timed and measured.

    .venv/bin/python -m bench.scale [--events 10000000] [--steps ingest,train,…]
        [--train-minutes 3] [--reuse] [--limit-gb 8] [--threads N] [--write]

The log comes from bench/scale_log.py (heavy-tailed users, sessions, popular items) and the steps
are the commands an analyst types: generate, `ingest`, `train`, `evaluate`, `segment`,
`anomalies`, `report`, `predict --all`, each in its own process under bench/_work/scale-<N>/.
Each step's peak RSS is its own process's high-water mark, read from `os.wait4`: the
RUSAGE_CHILDREN deltas cannot give it, since they keep the maximum over every child reaped so
far. events/s is the log's events over the step's wall seconds, so steps compare on one scale.
A failing step is recorded with its stderr's last lines and the steps that do not read its
output still run. The log is generated only when absent (it is deterministic per --events; delete
bench/_work/scale-<N>/log to time generation again). Without `--reuse` the other selected steps
redo their work (a fresh workspace for `ingest`, a fresh run for `train`); with it, a dataset or
run already there is kept. train's events/s follows --train-minutes, not its speed: its
throughput is the sequences_per_second it reports.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.results_table import edit_results, insert_rows, markdown_row, section_span

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Scale (bench/scale.py)"
DATASET, RUN = "scale", "r"
STEPS = ("generate", "ingest", "train", "evaluate", "segment", "anomalies", "report", "predict")
NEEDS = {"generate": None, "ingest": "generate", "train": "ingest"}  # the rest read the run
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")  # fmt: skip
NOTE_KEYS = {  # summary keys worth a note, per step (dotted: nested); any "sampl…" key is added
    "generate": ("max_user_events", "median_user_events"),
    "ingest": ("sessions", "item_less_events", "rejected_rows"),
    "train": ("epochs", "steps", "stopped", "val.ndcg@10", "val.users", "seconds")
    + ("sequences_per_second", "data_share", "data_seconds"),  # when the trainer reports them
    "evaluate": ("users", "skipped_users", "ndcg@10", "hr@10", "max_users"),
    "segment": ("method", "k", "silhouette", "stability", "projection"),
    "anomalies": ("users", "flagged", "false_alarm_rate", "model_surprise", "time_note"),
    "predict": ("users", "rows"),
}
GIB = 1024**3  # the "GB" of memory in the table; sizes on disk are decimal (kB, MB, GB)
TAIL_LINES = 3  # stderr lines kept for a failing step


@dataclass(frozen=True)
class Paths:
    """Where one scale's log, workspace, outputs and step logs live."""

    root: Path  # bench/_work/scale-<N>
    log: Path  # the generated Parquet parts
    ws: Path  # the workspace the CLI steps share
    logs: Path  # STEP.out / STEP.err of the last time each step ran
    report: Path
    predictions: Path

    @classmethod
    def under(cls, root: Path) -> Paths:
        names = ("log", "ws", "logs", "report.html", "predictions.csv")
        return cls(root, *(root / name for name in names))


@dataclass
class StepResult:
    """One row of the table: how a step went and what it cost."""

    name: str
    status: str  # ok, failed, skipped (not run), reused (output kept from an earlier run)
    seconds: float | None = None  # wall time of the subprocess
    peak_rss_kib: int | None = None  # the subprocess's ru_maxrss (KiB on Linux)
    exit_code: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # the step's last-line JSON
    notes: list[str] = field(default_factory=list)

    @property
    def peak_rss_gb(self) -> float | None:
        return None if self.peak_rss_kib is None else self.peak_rss_kib * 1024 / GIB


def step_command(step: str, paths: Paths, args: argparse.Namespace) -> list[str]:
    """The command line of a step, as an analyst would type it."""
    if step == "generate":
        return ["-m", "bench.scale_log", "--events", str(args.events), "--out", str(paths.log)]
    minutes = f"{args.train_minutes:g}"
    commands = {
        "ingest": ["ingest", str(paths.log), "--name", DATASET],
        "train": ["train", "--dataset", DATASET, "--run", RUN, "--max-minutes", minutes],
        "evaluate": ["evaluate", "--run", RUN],
        "segment": ["segment", "--run", RUN],
        "anomalies": ["anomalies", "--run", RUN],
        "report": ["report", "--run", RUN, "--out", str(paths.report)],
        "predict": ["predict", "--run", RUN, "--all", "--out", str(paths.predictions)],
    }
    return ["-m", "core", "--workspace", str(paths.ws), *commands[step]]


def output_present(step: str, paths: Paths) -> bool:
    """Whether the output later steps read is already there (generate, ingest, train)."""
    if step == "generate":
        return any(paths.log.glob("part-*.parquet"))
    if step == "ingest":
        return (paths.ws / "datasets" / DATASET / "manifest.json").is_file()
    if step == "train":
        return (paths.ws / "runs" / RUN / "config.json").is_file()
    return False


def clear_output(step: str, paths: Paths) -> None:
    """Remove what a redone step would collide with: `ingest` gets a fresh workspace, so its
    size on disk is the dataset alone, and `train` a fresh run (the CLI refuses to overwrite)."""
    if step == "ingest" and paths.ws.exists():
        shutil.rmtree(paths.ws)
    if step == "train" and (paths.ws / "runs" / RUN).exists():
        shutil.rmtree(paths.ws / "runs" / RUN)


def child_env(threads: int | None) -> dict[str, str]:
    """The children's environment: thread caps only when asked for, unbuffered output."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if threads is not None:
        env.update({name: str(threads) for name in THREAD_VARS})
    return env


def run_measured(command: list[str], env: dict[str, str], out: Path, err: Path) -> StepResult:
    """Run `python COMMAND` to completion; wall seconds, exit code and the child's own peak RSS."""
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env,
                                 stdout=stdout, stderr=stderr)  # fmt: skip
        _, status, usage = os.wait4(child.pid, 0)  # the rusage of this child (and its own)
        seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    ok = child.returncode == 0
    return StepResult(
        name=out.stem,
        status="ok" if ok else "failed",
        seconds=seconds,
        peak_rss_kib=usage.ru_maxrss,
        exit_code=child.returncode,
        summary=last_summary(out.read_text(errors="replace")),
    )


def last_summary(stdout: str) -> dict[str, Any]:
    """The last line that is a JSON object (the CLI's contract) or a Python dict (scale_log)."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            try:
                return ast.literal_eval(line)
            except (ValueError, SyntaxError):
                continue
    return {}


def stderr_lines(err: Path) -> list[str]:
    """stderr without tqdm's redrawn bars: lines split at carriage returns too."""
    text = err.read_text(errors="replace") if err.exists() else ""
    return [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]


def flatten(summary: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"val": {"ndcg@10": x}} -> {"val.ndcg@10": x}; lists are kept as values."""
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def step_notes(result: StepResult, paths: Paths) -> list[str]:
    """The counts a reader of the table needs: chosen keys, any sample the step says it used,
    warnings, output sizes; for a failure the exit code and stderr's last lines."""
    err = paths.logs / f"{result.name}.err"
    if result.status == "failed":
        code = result.exit_code or 0
        why = f"killed by signal {-code} (out of memory?)" if code < 0 else f"exit {code}"
        return [f"{why}: " + " / ".join(stderr_lines(err)[-TAIL_LINES:])]
    flat = flatten(result.summary)
    wanted = NOTE_KEYS.get(result.name, ())
    keys = [k for k in flat if k in wanted or k.rsplit(".", 1)[-1] in wanted or "sampl" in k]
    notes = [f"{key}={_short(flat[key])}" for key in keys if flat[key] is not None]
    warnings = [line for line in stderr_lines(err) if line.lower().startswith("warning")]
    notes += [_short(line.replace(f"{ROOT}/", ""), 160) for line in warnings]
    return notes + output_notes(result, paths)


def output_notes(result: StepResult, paths: Paths) -> list[str]:
    """Sizes of what a step wrote, and the report sections it had to leave out."""
    if result.name == "ingest":
        return [f"workspace {_size(disk_bytes(paths.ws))} on disk after ingest"]
    left_out = [part["section"] for part in result.summary.get("not_in_report", [])]
    output = {"report": paths.report, "predict": paths.predictions}.get(result.name)
    notes = [f"{output.name} {_size(output.stat().st_size)}"] if output and output.exists() else []
    return notes + ([f"left out: {', '.join(left_out)}"] if left_out else [])


def _size(n_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def _short(value: Any, width: int = 80) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = json.dumps(value, default=str) if isinstance(value, list) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def run_step(step: str, paths: Paths, args: argparse.Namespace, blocked: str | None) -> StepResult:
    """Run one step unless its input failed or --reuse keeps its output."""
    if blocked is not None:
        return StepResult(step, "skipped", notes=[f"skipped: {blocked} did not succeed"])
    if (args.reuse or step == "generate") and output_present(step, paths):
        return StepResult(step, "reused", notes=["kept from an earlier run (not measured)"])
    need = needs(step)
    if need is not None and not output_present(need, paths):
        return StepResult(step, "skipped", notes=[f"skipped: no {need} output in {paths.root}"])
    clear_output(step, paths)
    paths.logs.mkdir(parents=True, exist_ok=True)
    print(f"[scale] {step} …", file=sys.stderr, flush=True)
    out, err = paths.logs / f"{step}.out", paths.logs / f"{step}.err"
    result = run_measured(step_command(step, paths, args), child_env(args.threads), out, err)
    result.notes = step_notes(result, paths)
    return result


def run_all(paths: Paths, args: argparse.Namespace) -> list[StepResult]:
    """The selected steps in order; a failure blocks the steps that read its output."""
    results: list[StepResult] = []
    failed: set[str] = set()
    for step in args.steps:
        blocked = next((s for s in _chain(needs(step)) if s in failed), None)
        result = run_step(step, paths, args, blocked)
        if result.status in ("failed", "skipped"):
            failed.add(step)
        results.append(result)
        print(f"[scale] {step}: {result.status} {_fmt(result.seconds, 1)} s", file=sys.stderr)
    return results


def needs(step: str) -> str | None:
    """The step whose output `step` reads."""
    return NEEDS.get(step, "train")


def _chain(step: str | None) -> list[str]:
    """A step and everything it depends on, e.g. train -> [train, ingest, generate]."""
    chain = []
    while step is not None:
        chain.append(step)
        step = needs(step)
    return chain


def log_shape(results: list[StepResult], paths: Paths) -> dict[str, Any]:
    """Events, users, items (and sessions) of the ingested log; from the manifest when reused."""
    ingest = next((r for r in results if r.name == "ingest" and r.summary), None)
    if ingest is not None:
        return {k: ingest.summary.get(k) for k in ("events", "users", "items", "sessions")}
    manifest = paths.ws / "datasets" / DATASET / "manifest.json"
    if manifest.is_file():
        stats = json.loads(manifest.read_text())["stats"]
        return {k: stats.get(k) for k in ("events", "users", "items", "sessions")}
    return {"events": None, "users": None, "items": None, "sessions": None}


def log_facts(results: list[StepResult], paths: Paths, args: argparse.Namespace) -> str:
    """The log's shape, the workspace on disk and the budget: recorded once per log size."""
    shape = {k: v or 0 for k, v in log_shape(results, paths).items()}
    return (
        f"log: {shape['events']:,} events, {shape['users']:,} users, {shape['items']:,} items, "
        f"{shape['sessions']:,} sessions ({_size(disk_bytes(paths.log))} of Parquet); "
        f"workspace: dataset {_size(disk_bytes(paths.ws / 'datasets'))}, "
        f"{_size(disk_bytes(paths.ws))} with the run at the end; per-step memory budget "
        f"{args.limit_gb:g} GB"
    )


def log_label(events: int) -> str:
    """The log column: 10000000 -> "10M", 300000 -> "300k"."""
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if events >= size and events % size == 0:
            return f"{events // size}{unit}"
    return f"{events:,}"


def disk_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (0 when absent)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def machine_cell(load_start: float, load_end: float, threads: int | None) -> str:
    """CPUs, GPU, load and threads: what moves the numbers from run to run."""
    gpu = _gpu_name()
    parts = [f"{os.cpu_count()} CPUs", *([gpu] if gpu else [])]
    parts.append(f"load {load_start:.1f} → {load_end:.1f}")
    if threads is not None:
        parts.append(f"threads {threads} (OMP/MKL/OpenBLAS env)")
    return ", ".join(parts)


def box_facts() -> list[str]:
    """RAM and versions: stated once in the section, added to a row's machine when they differ."""
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return [
        f"{mem_kib * 1024 / GIB:.0f} GB RAM",
        f"Python {platform.python_version()}",
        f"torch {_version('torch')}",
    ]


def _gpu_name() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
    found = subprocess.run(query, capture_output=True, text=True, check=False)
    return found.stdout.strip().splitlines()[0] if found.returncode == 0 and found.stdout else None


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


COLUMNS = ["date (UTC)", "log", "machine", "command", "step", "seconds", "peak RSS GB",
           "events/s", "under budget", "notes"]  # fmt: skip
INTRO = (
    "Newest first. Each step is one CLI process; peak RSS is its own (`os.wait4`). train's "
    "events/s follows --train-minutes; its speed is sequences_per_second."
)


def step_cells(r: StepResult, events: int, limit_gb: float) -> list[str]:
    """step, seconds, peak RSS GB, events/s, under budget (a step over it says "NO"), notes."""
    rate = None if not r.seconds or r.status != "ok" else events / r.seconds
    gb = r.peak_rss_gb
    under = "–" if gb is None else ("yes" if gb <= limit_gb else f"**NO** (> {limit_gb:g})")
    notes = "; ".join(r.notes)
    return [r.name, _fmt(r.seconds, 1), _fmt(gb, 2), _fmt(rate, 0), under, notes]


def table(results: list[StepResult], events: int, limit_gb: float) -> str:
    """The steps as a markdown table, for the terminal."""
    rows = [step_cells(r, events, limit_gb) for r in results]
    return markdown_row(COLUMNS[4:]) + "|" + "---|" * 6 + "\n" + "".join(map(markdown_row, rows))


def result_rows(
    results: list[StepResult], events: int, limit_gb: float, lead: list[str]
) -> list[list[str]]:
    """One RESULTS.md row per step: `lead` (date, log, machine, command), then the step's."""
    return [lead + step_cells(r, events, limit_gb) for r in results]


def write_results(rows: list[list[str]], facts: str, box: list[str]) -> None:
    """Put the run's rows first in the Scale table. The log's `facts` go in the first row's
    notes and `box` facts (RAM, versions) in the machine cells, each only when the section
    does not already state it."""

    def edit(text: str) -> str:
        span = section_span(text, SECTION)
        stated = text[span[0] : span[1]] if span else ""
        new = [list(row) for row in rows]
        extra = [fact for fact in box if fact not in stated]
        for row in new:
            row[2] = ", ".join([row[2], *extra])
        if new and f"**{new[0][1]}:**" not in stated:
            new[0][-1] = "; ".join(filter(None, [facts, new[0][-1]]))
        return insert_rows(text, SECTION, COLUMNS, new, INTRO)

    edit_results(RESULTS, edit)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--events", type=int, default=10_000_000, help="events in the log (default 10,000,000)"
    )
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma list of steps to run (default: all: {','.join(STEPS)})",
    )
    parser.add_argument(
        "--train-minutes", type=float, default=3.0, help="train --max-minutes (default 3)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the dataset and run already in bench/_work/scale-N (the log is always kept)",
    )
    parser.add_argument(
        "--limit-gb",
        type=float,
        default=8.0,
        help="peak RSS budget per step; rows above it are marked (default 8)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="set OMP/MKL/OpenBLAS thread counts of the steps (default: unset); train and "
        "predict still pick torch's threads from the idle cores",
    )
    parser.add_argument("--write", action="store_true", help="add the results to bench/RESULTS.md")
    args = parser.parse_args(argv)
    args.steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in args.steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown steps {unknown}; choose among {', '.join(STEPS)}")
    args.steps = [s for s in STEPS if s in args.steps]  # dependency order
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    paths = Paths.under(WORK / f"scale-{args.events}")
    load_start = os.getloadavg()[0]
    results = run_all(paths, args)
    facts = log_facts(results, paths, args)
    machine = machine_cell(load_start, os.getloadavg()[0], args.threads)
    command = "python -m bench.scale " + " ".join(argv if argv is not None else sys.argv[1:])
    events = log_shape(results, paths)["events"] or args.events
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    lead = [stamp, log_label(args.events), machine, f"`{command.strip()}`"]
    print(f"{stamp} UTC, {machine}, {', '.join(box_facts())}\n{facts}\n")
    print(table(results, events, args.limit_gb))
    if args.write:
        write_results(result_rows(results, events, args.limit_gb, lead), facts, box_facts())
    return 0 if all(r.status in ("ok", "reused") for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
