"""The figures of bench/load_test.py and its section of bench/RESULTS.md: page settle times per
page and per kind of session, the run's row, and the per-page column.

Apart from the load test itself, which drives the browsers, so the tables can be checked on a
made-up result without starting anything (tests/test_bench_results_table.py).
"""

from __future__ import annotations

import math
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.results_table import (
    edit_results,
    insert_column,
    insert_rows,
    markdown_row,
    section_span,
)

if TYPE_CHECKING:
    from bench.load_test import LoadResult, Seen

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "## Dashboard under load (10 sessions)"


# --- figures ------------------------------------------------------------------------------


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p95) by the nearest-rank method (no interpolation between sessions)."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def _row(name: str, visits: list[Seen]) -> str:
    secs = [v.visit.seconds for v in visits if v.visit.seconds is not None]
    timeouts = len(visits) - len(secs)
    if not secs:
        return f"| {name} | {len(visits)} | – | – | {timeouts} |"
    p50, p95 = percentiles(secs)
    return f"| {name} | {len(visits)} | {p50:.1f} | {p95:.1f} | {timeouts} |"


def _groups(result: LoadResult) -> dict[str, list[Seen]]:
    """Visits per page, then the three bold rows: all pages, browsers while others train,
    sessions with their own training running."""
    seen = [v for s in result.sessions for v in s.seen]
    groups = {
        page: [v for v in seen if v.page == page] for page in dict.fromkeys(v.page for v in seen)
    }
    groups["**all pages**"] = seen
    groups["**browse-only sessions, while others train**"] = [
        v for v in seen if v.role == "browser" and v.trainings > 0
    ]
    groups["**sessions with their own training running**"] = [
        v for v in seen if v.role == "trainer"
    ]
    return groups


def table(result: LoadResult) -> str:
    lines = ["| page | visits | p50 s | p95 s | timeouts |", "|---|---|---|---|---|"]
    lines += [_row(name, visits) for name, visits in _groups(result).items()]
    return "\n".join(lines) + "\n"


def summary(result: LoadResult, load_start: float) -> str:
    """The run's figures (the RESULTS.md row, one per line) and the per-page table."""
    row = run_row(result, load_start, "", "")
    lines = [f"{name}: {value}" for name, value in zip(COLUMNS[1:], row[1:], strict=True)]
    lines[0] += " (load: at the start / mean / max during the run / at the end)"
    return (
        "\n".join(line for line in lines if not line.startswith("command:"))
        + "\n\n"
        + table(result)
    )


# --- RESULTS.md ---------------------------------------------------------------------------

COLUMNS = ["date (UTC)", "machine", "command", "s in all",
           "uploads p50 s (upload + mapping + ingest)", "trainings",
           "server RSS MB (start / peak)", "training RSS MB (peak each / all together)",
           "failures"]  # fmt: skip
PAGES_CORNER = "page: p50 / p95 s"  # the per-page table: one column per run, newest first


def run_row(result: LoadResult, load_start: float, command: str, stamp: str) -> list[str]:
    """The run's row of the section's first table."""
    s, loads = result.sampler, result.sampler.loads or [0.0]
    uploads = [x.upload_s for x in result.sessions if x.upload_s is not None]
    done = [st for st in result.trainings.values() if st.state == "finished"]
    took = list(result.training_s.values())
    running = sum(st.active for st in result.trainings.values())
    load = f"{load_start:.1f} / {statistics.fmean(loads):.1f} / {max(loads):.1f} / {loads[-1]:.1f}"
    trainings = (
        f"{len(result.trainings)} started, {len(done)} finished"
        + (f" in {min(took):.0f}–{max(took):.0f} s" if took else "")
        + f", {running} running at the end of the wait"
    )
    jobs_peak = max(s.job_peak_mb.values(), default=0.0)
    return [
        stamp,
        f"{os.cpu_count()} CPUs, load {load}",
        f"`{command}`",
        f"{result.seconds:.0f}",
        f"{percentiles(uploads)[0]:.1f}" if uploads else "–",
        trainings,
        f"{result.server_idle_mb:,.0f} / {s.server_peak_mb:,.0f}",
        f"{jobs_peak:,.0f} / {s.jobs_sum_peak_mb:,.0f}",
        "; ".join(result.failures()) or "none",
    ]


def page_cells(result: LoadResult) -> dict[str, str]:
    """The run's column of the per-page table: "p50 / p95", visits when not one per session
    (always on the bold rows), timeouts when any."""
    cells = {}
    for name, visits in _groups(result).items():
        secs = [v.visit.seconds for v in visits if v.visit.seconds is not None]
        said = []
        if name.startswith("**") or len(visits) != len(result.sessions):
            said.append(_count(len(visits), "visit"))
        if len(secs) < len(visits):
            said.append(_count(len(visits) - len(secs), "timeout"))
        value = "– / –" if not secs else "{:.1f} / {:.1f}".format(*percentiles(secs))
        cells[name] = value + (f" ({', '.join(said)})" if said else "")
    return cells


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def record(result: LoadResult, load_start: float, command: str) -> None:
    """The run's row first in the section's table and its column first in the per-page one,
    in one write (a refused edit writes nothing); a missing section gets both tables."""
    now = datetime.now(UTC)
    row = run_row(result, load_start, command, now.strftime("%Y-%m-%d %H:%M"))
    title, cells = now.strftime("%Y-%m-%d %H:%M UTC"), page_cells(result)

    def edit(text: str) -> str:
        if section_span(text, SECTION) is None:  # new, hence last in the file
            text = insert_rows(text, SECTION, COLUMNS, [row])
            pages = "".join(markdown_row(item) for item in cells.items())
            return f"{text}\n{markdown_row([PAGES_CORNER, title])}|---|---|\n{pages}"
        text = insert_rows(text, SECTION, COLUMNS, [row])
        return insert_column(text, SECTION, PAGES_CORNER, title, cells)

    edit_results(RESULTS, edit)
