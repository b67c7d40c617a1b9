"""Dashboard at scale (issue #12): every page's settle time in a real browser, and server memory.

    .venv/bin/python -m bench.dashboard_scale [--workspace DIR] [--dataset NAME] [--run NAME]
        [--passes 2] [--page-timeout 180] [--write]

Starts a real `streamlit run dashboard/app.py` on a free local port against the workspace (the
demo is not installed: BEHAVIOR_LENS_DEMO=0, so the workspace is only read, apart from what the
pages themselves write, such as a run's cached validation baseline), opens it in Debian's headless
Chromium (never `playwright install`), picks the dataset and run on Home and then visits every
page through the sidebar, as an analyst would, once cold (fresh server, empty caches) and once
warm (the same tab again: cached aggregates).

A page has settled when its title is shown, Streamlit's "Running…" indicator and every spinner
are gone, each visible Plotly chart has drawn, and the page's own last element (`Page.marker`)
is on screen; the condition must hold for SETTLE_HOLD_S so a pause between two script steps
does not count, and the time is taken at its start. After each visit the server's RSS and
high-water mark are read from /proc/PID/status. `--write` puts the run's column first in the
"Dashboard at scale" table of bench/RESULTS.md (one column per run, newest first).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/dashboard_scale.py` as well as `-m`
    sys.path.insert(0, str(ROOT))

from bench.results_table import edit_results, insert_column  # noqa: E402
from core.workspace import read_json  # noqa: E402
from dashboard.screenshots import CHROMIUM, launch_browser, running_server  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Dashboard at scale (bench/dashboard_scale.py)"
DEFAULT_WS = ROOT / "bench" / "_work" / "scale-300000" / "ws"
SETTLE_HOLD_S = 1.0  # the settled condition must hold this long (script pauses do not count)
POLL_S = 0.1  # how often the browser is asked
MIB = 1024 * 1024


@dataclass(frozen=True)
class Page:
    """One sidebar entry (or a tab of the page before it): what to click, the page's h1, and
    text only its fully drawn content shows."""

    link: str  # sidebar link (dashboard/app.py PAGES title), or "Page › Tab"
    title: str  # the page's st.title
    marker: str  # text near the end of the page: the main content is on screen
    tab: str | None = None  # a tab of the page just visited: clicked instead of a link


PAGES = (
    Page("Home", "Behavior Lens", "Where to go next"),
    Page("Data", "Data", "Events per session"),
    Page("Data › Funnel", "Data", "Steps, in order", tab="Funnel"),
    Page("Data › Top paths", "Data", "Label by", tab="Top paths"),
    Page("Data › Retention", "Data", "Cohort period", tab="Retention"),
    Page("Train", "Train", "Quality vs baselines"),
    Page("Attention", "Attention", "Predicted next item"),
    Page("Segments", "Segments", "Rename segments"),
    Page("Predict", "Predict", "Every user's predictions"),
    Page("Anomalies", "Anomalies", "Recompute"),
    Page("Score new data", "Score new data", "Add the new period's log"),
    Page("Reports", "Reports", "Build report"),
)

# True once the page titled arguments[0] is idle, drawn and shows arguments[1].
_SETTLED_JS = """([title, marker]) => {
  const heads = [...document.querySelectorAll('h1')].map(h => h.textContent.trim());
  if (!heads.some(h => h.startsWith(title))) return false;
  if (document.querySelector("[data-testid='stStatusWidget']")) return false;
  if (document.querySelector("[data-testid='stSpinner']")) return false;
  const charts = [...document.querySelectorAll("[data-testid='stPlotlyChart']")]
    .filter(e => e.offsetParent !== null);
  if (!charts.every(e => e.querySelector('.main-svg'))) return false;
  const main = document.querySelector("[data-testid='stMain']") || document.body;
  return main.innerText.includes(marker);
}"""
# What the page says about itself: exceptions, errors, and any sample or top-N statement.
_NOTES_JS = """() => {
  const out = [];
  document.querySelectorAll("[data-testid='stException']").forEach(
    e => out.push('EXCEPTION: ' + e.innerText.split('\\n')[0]));
  document.querySelectorAll("[data-testid='stAlertContentError']").forEach(
    e => out.push('error: ' + e.innerText.split('\\n')[0]));
  const main = document.querySelector("[data-testid='stMain']") || document.body;
  const said = main.innerText.match(/[^.\\n]*\\b(random sample|[Ss]howing|top [\\d,]+ of)\\b[^.\\n]*/g);
  (said || []).forEach(s => out.push(s.trim()));
  return [...new Set(out)];
}"""


@dataclass
class Visit:
    """One page load: seconds to settle (None: not within the timeout) and memory after it."""

    seconds: float | None
    rss_mb: float
    peak_mb: float
    notes: list[str] = field(default_factory=list)


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from /proc/PID/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024 / MIB
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def wait_settled(page: Any, target: Page, started: float, timeout_s: float) -> float | None:
    """Seconds from `started` until `target` settled (held SETTLE_HOLD_S), None on timeout."""
    since = None
    while time.monotonic() - started < timeout_s:
        now = time.monotonic()
        if page.evaluate(_SETTLED_JS, [target.title, target.marker]):
            since = since or now
            if now - since >= SETTLE_HOLD_S:
                return since - started
        else:
            since = None
        time.sleep(POLL_S)
    return None


def visit(page: Any, target: Page, pid: int, timeout_s: float, url: str | None = None) -> Visit:
    """Open `target` (by URL for the first page, else its sidebar link) and measure it."""
    started = time.monotonic()
    if url is not None:
        page.goto(url)
    elif target.tab is not None:
        page.get_by_role("tab", name=target.tab, exact=True).first.click()
    else:
        page.get_by_role("link", name=target.link, exact=True).first.click()
    seconds = wait_settled(page, target, started, timeout_s)
    rss, peak = memory_mb(pid)
    notes = list(page.evaluate(_NOTES_JS))
    if seconds is None:
        notes.insert(0, f"not settled within {timeout_s:.0f} s")
    return Visit(seconds, rss, peak, notes)


def choose(page: Any, label: str, option: str, pid: int, timeout_s: float) -> Visit | None:
    """Pick `option` in the select box `label` on Home when it is not already shown."""
    box = page.get_by_role("combobox", name=label, exact=True)
    if box.count() == 0 or box.first.get_attribute("value") == option:
        return None
    started = time.monotonic()
    box.first.click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(300)  # the rerun starts: the settled check must not see the old page
    seconds = wait_settled(page, PAGES[0], started, timeout_s)
    rss, peak = memory_mb(pid)
    return Visit(seconds, rss, peak, [f"{label} switched to {option}"])


def measure(args: argparse.Namespace) -> tuple[dict[str, list[Visit]], float]:
    """Every page `args.passes` times in one tab; returns the visits and the server's RSS at
    start."""
    from playwright.sync_api import sync_playwright

    log = Path(args.log)
    env = {"BEHAVIOR_LENS_DEMO": "0"}  # dashboard.state.DEMO_ENV: no demo in the workspace
    wanted = {"Home", *(args.pages or [p.link.split(" › ")[0] for p in PAGES])}  # Home: picks
    pages = [p for p in PAGES if p.link.split(" › ")[0] in wanted]
    visits: dict[str, list[Visit]] = {p.link: [] for p in pages}
    with running_server(Path(args.workspace), log, 120.0, env) as server, sync_playwright() as pw:
        idle_rss = memory_mb(server.pid)[0]
        browser = launch_browser(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(args.page_timeout * 1000)
        for n in range(args.passes):
            for i, target in enumerate(pages):
                url = server.url if n == 0 and i == 0 else None
                found = visit(page, target, server.pid, args.page_timeout, url)
                if n == 0 and i == 0:
                    found = _select(page, found, args, server.pid)
                visits[target.link].append(found)
                _say(target, n, found)
        browser.close()
    return visits, idle_rss


def _select(page: Any, home: Visit, args: argparse.Namespace, pid: int) -> Visit:
    """Home with the wanted dataset and run: the first load plus any switch counts as cold."""
    for label, option in (("Dataset", args.dataset), ("Trained run", args.run)):
        switched = choose(page, label, option, pid, args.page_timeout)
        if switched is not None:
            total = (
                None
                if None in (home.seconds, switched.seconds)
                else home.seconds + switched.seconds
            )
            home = Visit(total, switched.rss_mb, switched.peak_mb, home.notes + switched.notes)
    return home


def _say(target: Page, n: int, found: Visit) -> None:
    took = "timeout" if found.seconds is None else f"{found.seconds:.1f} s"
    print(
        f"{'cold' if n == 0 else 'warm'} {target.link}: {took}, RSS {found.rss_mb:,.0f} MB "
        f"(peak {found.peak_mb:,.0f}) {'; '.join(found.notes)}",
        flush=True,
    )


# --- RESULTS.md ----------------------------------------------------------------------------


def workspace_shape(ws: Path, dataset: str, run: str) -> str:
    """Events, users, sessions of the dataset, and the row counts of the run's large tables."""
    import pyarrow.parquet as pq

    stats = read_json(ws / "datasets" / dataset / "manifest.json").get("stats", {})
    text = (
        f"Workspace `{ws}`: dataset `{dataset}` with {stats.get('events', 0):,} events, "
        f"{stats.get('users', 0):,} users, {stats.get('sessions', 0):,} sessions; run `{run}`"
    )
    tables = []
    for name in ("segment_assignments", "anomalies", "anomaly_sessions", "session_intents"):
        path = ws / "runs" / run / f"{name}.parquet"
        if path.is_file():
            tables.append(f"{name} {pq.ParquetFile(path).metadata.num_rows:,} rows")
    return text + (f" ({', '.join(tables)})." if tables else " (no analysis tables).")


def machine_line(load_start: float, load_end: float) -> str:
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return (
        f"Machine: {os.cpu_count()} CPUs, {mem_kib / MIB:.0f} GB RAM, load {load_start:.1f} at "
        f"the start, {load_end:.1f} at the end (shared with other engineers' jobs); headless "
        "Chromium, one tab."
    )


def machine_cell(load_start: float, load_end: float) -> str:
    """The machine row's cell, as the section's runs give it: CPUs and load (RAM is stated)."""
    return f"{os.cpu_count()} CPUs, load {load_start:.1f} → {load_end:.1f}"


def _secs(found: Visit | None) -> str:
    if found is None:
        return "–"
    return "**timeout**" if found.seconds is None else f"{found.seconds:.1f}"


def table(visits: dict[str, list[Visit]]) -> str:
    lines = [
        "| page | cold s | warm s | server RSS MB (after cold / warm; peak) | notes |",
        "|---|---|---|---|---|",
    ]
    for name, found in visits.items():
        cold, warm = (found + [None, None])[:2]
        last = warm or cold
        rss = f"{cold.rss_mb:,.0f} / {last.rss_mb:,.0f}; {last.peak_mb:,.0f}" if cold else "–"
        notes = "; ".join(
            dict.fromkeys((cold.notes if cold else []) + (warm.notes if warm else []))
        )
        lines.append(
            f"| {name} | {_secs(cold)} | {_secs(warm)} | {rss} | {notes.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


CORNER = ""  # first header cell of the section's table: one column per run, newest first
RSS_ROW = "server RSS MB: at start; after the warm pass; peak"
PROBLEMS = ("EXCEPTION", "error", "not settled")  # page notes a run's own cell keeps
INTRO = (
    "Newest first, one column per run, with headless Chromium, one tab. Each cell: cold s / "
    "warm s (server RSS MB after the cold / the warm visit)."
)


def column_cells(
    visits: dict[str, list[Visit]], idle_rss: float, machine: str, command: str
) -> dict[str, str]:
    """A run's column of the section's table, by row label; other page notes are printed only
    (the table keeps one notes column for all runs)."""
    cells = {"command": f"`{command}`", "machine": machine}
    last = None
    for name, found in visits.items():
        cold, warm = (found + [None, None])[:2]
        if cold is None:
            continue
        last = warm or cold
        problems = [n for n in dict.fromkeys(cold.notes + last.notes) if n.startswith(PROBLEMS)]
        cells[name] = (
            f"{_secs(cold)} / {_secs(warm)} ({cold.rss_mb:,.0f} / {last.rss_mb:,.0f})"
            + "".join(f"; {note}" for note in problems)
        )
    peak = max((v.peak_mb for found in visits.values() for v in found), default=None)
    after = "–" if last is None else f"{last.rss_mb:,.0f}"
    cells[RSS_ROW] = f"{idle_rss:,.0f}; {after}; " + ("–" if peak is None else f"{peak:,.0f}")
    return cells


def record(cells: dict[str, str], stamp: str) -> None:
    """Put the run's column first in the section's table (a new section goes at the end)."""
    edit_results(RESULTS, lambda text: insert_column(text, SECTION, CORNER, stamp, cells, INTRO))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", default=str(DEFAULT_WS), help="workspace to open")
    parser.add_argument("--dataset", default="scale", help="dataset picked on Home")
    parser.add_argument("--run", default="r", help="run picked on Home")
    parser.add_argument(
        "--pages",
        type=lambda text: [name.strip() for name in text.split(",")],
        default=None,
        help="only these sidebar pages, comma-separated (default: every page); Home is always "
        "visited first: the dataset and run are picked there",
    )
    parser.add_argument("--passes", type=int, default=2, help="visits per page (1st is cold)")
    parser.add_argument(
        "--page-timeout", type=float, default=180.0, help="seconds a page may take to settle"
    )
    parser.add_argument(
        "--log", default="/tmp/dashboard_scale.streamlit.log", help="the server's output"
    )
    parser.add_argument("--write", action="store_true", help="add the table to bench/RESULTS.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workspace = str(Path(args.workspace).resolve())
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    load_start = os.getloadavg()[0]
    visits, idle_rss = measure(args)
    shape = workspace_shape(Path(args.workspace), args.dataset, args.run)
    text = (
        f"{machine_line(load_start, os.getloadavg()[0])}\n{shape} Server RSS at start "
        f"{idle_rss:,.0f} MB.\n\n{table(visits)}"
    )
    print(text)
    if args.write:
        command = "python -m bench.dashboard_scale " + shlex.join(argv or sys.argv[1:])
        machine = machine_cell(load_start, os.getloadavg()[0])
        cells = column_cells(visits, idle_rss, machine, command.strip())
        record(cells, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
