"""Dashboard under load (issue #13): many analysts at once on one server, some of them training.

    .venv/bin/python -m bench.load_test [--sessions 10] [--trainers 5] [--rows 4000]
        [--pages Home,Data,...] [--page-timeout 240] [--train-wait 900] [--write]

Starts one real `streamlit run dashboard/app.py` on a fresh temp workspace (the app installs the
demo dataset `sample` and run `demo` on first view) and one headless Chromium (never
`playwright install`) that every session reaches over the DevTools protocol, each session in its
own browser context (its own Streamlit session) driven from its own thread. Every session:
opens Home, uploads the first `--rows` rows of sample_data/events.csv on the Data page and
ingests them as `loadN`, picks the demo dataset and run, and opens every page. The first
`--trainers` sessions start a small training (quick-demo preset, 0.5-minute budget) right after
their upload and browse while it runs; the others browse first, while those trainings run, and
start theirs at the end. Each training is a separate process (core.jobs), followed by its
analyses (evaluate, segments, intents, anomalies); the bench waits for all of them.

A page's settle time is measured as in bench/dashboard_scale.py (same page list, markers and
settled condition). A sampler records the server's RSS, every training process's RSS and the
load average twice a second. Failures are exceptions or errors a page shows, a session step
that raised, a training that did not finish, and tracebacks in the server log.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/load_test.py` as well as `-m`
    sys.path.insert(0, str(ROOT))

from bench.dashboard_scale import PAGES, Page, Visit, choose, memory_mb, visit  # noqa: E402
from bench.load_report import record, summary  # noqa: E402
from core import jobs  # noqa: E402
from core.workspace import Workspace  # noqa: E402
from dashboard.screenshots import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    running_server,
    wait_idle,
)

SAMPLE_LOG = ROOT / "sample_data" / "events.csv"
DEMO = ("sample", "demo")  # sample_data.demo: the dataset and run every session browses
TRAIN_MINUTES = "0.5"  # time budget typed into the Train page: small trainings
SAMPLE_S = 0.5  # memory and load sampling period


@dataclass
class Seen:
    """One page visit of one session, and what else was going on."""

    session: int
    page: str
    visit: Visit
    role: str  # "trainer" (its own training started) or "browser" (no training of its own)
    trainings: int  # training processes alive when the visit ended


@dataclass
class Sampler:
    """Peak RSS of the server and of the training processes, and the load average."""

    server_pid: int
    workspace: Workspace
    server_peak_mb: float = 0.0
    job_peak_mb: dict[str, float] = field(default_factory=dict)  # per training process
    jobs_sum_peak_mb: float = 0.0  # all training processes together
    alive_jobs: int = 0
    loads: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        self.server_peak_mb = max(self.server_peak_mb, memory_mb(self.server_pid)[0])
        total, alive = 0.0, 0
        for status in jobs.list_jobs(self.workspace):
            if status.pid is None or not status.alive:
                continue
            try:
                rss = memory_mb(status.pid)[0]
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended between the listing and the read
            alive += 1
            total += rss
            self.job_peak_mb[status.run] = max(self.job_peak_mb.get(status.run, 0.0), rss)
        self.alive_jobs = alive
        self.jobs_sum_peak_mb = max(self.jobs_sum_peak_mb, total)
        self.loads.append(os.getloadavg()[0])

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            self.sample()


@contextmanager
def shared_chromium(profile: Path) -> Iterator[str]:
    """One headless Chromium with the DevTools endpoint on a free port; yields its URL."""
    port = free_port()
    command = [CHROMIUM, *CHROMIUM_ARGS, f"--remote-debugging-port={port}",
               f"--user-data-dir={profile}", "about:blank"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/json/version", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("Chromium's DevTools endpoint did not come up") from None
                time.sleep(0.3)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=20)


# --- one analyst --------------------------------------------------------------------------


@dataclass
class Session:
    """What one simulated analyst does and what happened to it."""

    index: int
    trains_first: bool
    seen: list[Seen] = field(default_factory=list)
    upload_s: float | None = None
    run: str | None = None  # its training, once started
    errors: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"load{self.index}"


def upload(page: Any, log: Path, name: str, timeout_s: float) -> float:
    """Data page: add the log as dataset `name` with the detected mapping; seconds taken."""
    started = time.monotonic()
    page.get_by_text("Add a dataset").first.click()
    page.locator("input[type=file]").first.set_input_files(str(log))
    page.get_by_text("Column mapping").wait_for()
    wait_idle(page, int(timeout_s * 1000))
    box = page.get_by_label("Dataset name")
    box.fill(name)
    box.press("Enter")
    wait_idle(page, int(timeout_s * 1000))
    page.get_by_role("button", name="Ingest").click()
    page.get_by_text(f"Ingested {name}").first.wait_for()
    return time.monotonic() - started


def start_training(page: Any, session: Session, timeout_s: float) -> None:
    """Train page on the session's own dataset: quick demo, short budget, Start."""
    page.get_by_role("link", name="Train", exact=True).first.click()
    page.get_by_label("Run name").first.wait_for()
    wait_idle(page, int(timeout_s * 1000))
    budget = page.get_by_label("Time budget (min)").first
    budget.fill(TRAIN_MINUTES)
    budget.press("Enter")
    wait_idle(page, int(timeout_s * 1000))
    run = f"{session.name}-run"
    box = page.get_by_label("Run name").first
    box.fill(run)
    box.press("Enter")
    wait_idle(page, int(timeout_s * 1000))
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(run).first.wait_for()
    session.run = run


def browse(page: Any, session: Session, pages: list[Page], ctx: LoadContext) -> None:
    """Home with the demo dataset and run picked, then every page through the sidebar."""
    role = "trainer" if session.run else "browser"
    for target in pages:
        found = visit(page, target, ctx.server_pid, ctx.page_timeout)
        if target.link == "Home":
            for label, option in zip(("Dataset", "Trained run"), DEMO, strict=True):
                picked = choose(page, label, option, ctx.server_pid, ctx.page_timeout)
                if picked is not None and None not in (found.seconds, picked.seconds):
                    found = Visit(found.seconds + picked.seconds, picked.rss_mb,
                                  picked.peak_mb, found.notes + picked.notes)  # fmt: skip
        session.seen.append(Seen(session.index, target.link, found, role, ctx.alive_jobs()))
        say(session, target.link, found.seconds)


def say(session: Session, what: str, seconds: float | None) -> None:
    """One progress line on stderr per step (the figures come at the end)."""
    took = "timeout" if seconds is None else f"{seconds:.1f} s"
    print(f"session {session.index}: {what} {took}", file=sys.stderr, flush=True)


@dataclass
class LoadContext:
    """What every session thread shares."""

    url: str
    cdp: str
    server_pid: int
    log: Path
    pages: list[Page]
    page_timeout: float
    sampler: Sampler

    def alive_jobs(self) -> int:
        return self.sampler.alive_jobs


def run_session(session: Session, ctx: LoadContext) -> None:
    """The whole visit of one analyst in its own browser context; errors are recorded."""
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as pw:
        step, page = "connect", None
        try:
            browser = pw.chromium.connect_over_cdp(ctx.cdp)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(ctx.page_timeout * 1000)
            page = context.new_page()
            step = "home"
            home = visit(page, PAGES[0], ctx.server_pid, ctx.page_timeout, url=ctx.url)
            first = Seen(session.index, "Home (first view)", home, "browser", ctx.alive_jobs())
            session.seen.append(first)
            step = "upload"
            page.get_by_role("link", name="Data", exact=True).first.click()
            session.upload_s = upload(page, ctx.log, session.name, ctx.page_timeout)
            say(session, "upload + ingest", session.upload_s)
            if session.trains_first:
                step = "start training"
                start_training(page, session, ctx.page_timeout)
            step = "browse"
            browse(page, session, ctx.pages, ctx)
            if not session.trains_first:
                step = "start training (after browsing)"
                visit(page, PAGES[0], ctx.server_pid, ctx.page_timeout)  # Home, settled
                choose(page, "Dataset", session.name, ctx.server_pid, ctx.page_timeout)
                start_training(page, session, ctx.page_timeout)
            context.close()
        except Error as error:  # recorded and reported: one session's failure is a finding
            first_line = str(error).splitlines()[0] if str(error) else ""
            session.errors.append(f"session {session.index} at {step}: {first_line}")
            if page is not None:  # what the analyst saw (kept with --keep)
                page.screenshot(path=str(ctx.log.parent / f"session{session.index}.png"))


# --- the whole run ------------------------------------------------------------------------


@dataclass
class LoadResult:
    sessions: list[Session]
    sampler: Sampler
    trainings: dict[str, jobs.JobStatus]  # final state of every training started
    server_idle_mb: float
    server_tracebacks: int
    seconds: float
    training_s: dict[str, float]  # launch to "finished" of each finished training

    def failures(self) -> list[str]:
        found = [e for s in self.sessions for e in s.errors]
        for s in self.sessions:
            for seen in s.seen:
                found += [f"session {s.index} {seen.page}: {note}" for note in seen.visit.notes
                          if note.startswith(("EXCEPTION", "error", "not settled"))]  # fmt: skip
        found += [f"training {run}: {st.state} {st.message}" for run, st in self.trainings.items()
                  if not st.active and st.state != "finished"]  # fmt: skip
        if self.server_tracebacks:
            found.append(f"{self.server_tracebacks} traceback(s) in the server log")
        return found


def sample_log(rows: int, folder: Path) -> Path:
    """The first `rows` rows of the sample log (a few hundred users: trains in a minute)."""
    lines = SAMPLE_LOG.read_text(encoding="utf-8").splitlines()[: rows + 1]
    path = folder / "shop_log.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_load(args: argparse.Namespace) -> LoadResult:
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="load-test-"))
    workspace = Workspace(Path(args.workspace) if args.workspace else scratch / "ws")
    wanted = {"Home", *(args.pages or [p.link.split(" › ")[0] for p in PAGES])}
    pages = [p for p in PAGES if p.link.split(" › ")[0] in wanted]
    sessions = [Session(i, trains_first=i < args.trainers) for i in range(args.sessions)]
    server_log = scratch / "streamlit.log"
    with (
        running_server(workspace.root, server_log, 120.0) as server,
        shared_chromium(scratch / "chromium") as cdp,
    ):
        sampler = Sampler(server.pid, workspace)
        idle = memory_mb(server.pid)[0]
        watcher = threading.Thread(target=sampler.run, daemon=True)
        watcher.start()
        ctx = LoadContext(server.url, cdp, server.pid, sample_log(args.rows, scratch), pages,
                          args.page_timeout, sampler)  # fmt: skip
        threads = [threading.Thread(target=run_session, args=(s, ctx)) for s in sessions]
        for thread in threads:
            thread.start()
            time.sleep(args.stagger)
        for thread in threads:
            thread.join()
        trainings = finish_trainings(workspace, sessions, args.train_wait)
        took = {run: st.updated - jobs.read_job(workspace, run)["started"]
                for run, st in trainings.items() if st.state == "finished" and st.updated}  # fmt: skip
        sampler.stop.set()
        watcher.join()
    tracebacks = server_log.read_text(errors="replace").count("Traceback")
    if args.keep:
        print(f"kept {scratch} (server log, workspace)", file=sys.stderr)
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return LoadResult(sessions, sampler, trainings, idle, tracebacks,
                      time.monotonic() - started, took)  # fmt: skip


def finish_trainings(
    workspace: Workspace, sessions: list[Session], wait_s: float
) -> dict[str, jobs.JobStatus]:
    """Wait up to `wait_s` for every started training; the status of each at that moment
    (still active ones are then stopped and waited for, so nothing outlives the bench)."""
    runs = [s.run for s in sessions if s.run]
    deadline = time.monotonic() + wait_s
    final = {}
    for run in runs:
        final[run] = jobs.wait(workspace, run, timeout=max(deadline - time.monotonic(), 0.1))
    for run, status in final.items():
        if status.active and jobs.cancel(workspace, run):
            stop_by = time.monotonic() + 60
            while jobs.job_status(workspace, run).alive and time.monotonic() < stop_by:
                time.sleep(0.2)  # the process itself gone: nothing writes after the bench
    return final


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent browser sessions")
    parser.add_argument(
        "--trainers", type=int, default=5,
        help="sessions that start their training right after uploading; the others browse "
        "while those train, then start theirs",
    )  # fmt: skip
    parser.add_argument("--rows", type=int, default=4000, help="rows of the sample log uploaded")
    parser.add_argument(
        "--pages",
        type=lambda text: [name.strip() for name in text.split(",")],
        default=None,
        help="only these sidebar pages, comma-separated (default: every page); Home is always "
        "visited: the demo dataset and run are picked there",
    )
    parser.add_argument("--page-timeout", type=float, default=240.0, help="seconds per page")
    parser.add_argument(
        "--train-wait", type=float, default=900.0,
        help="seconds to wait for the trainings after browsing; what still runs is cancelled",
    )  # fmt: skip
    parser.add_argument("--stagger", type=float, default=1.0, help="seconds between sessions")
    parser.add_argument("--workspace", default=None, help="workspace (default: a fresh temp one)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    parser.add_argument("--write", action="store_true", help="add the figures to RESULTS.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    load_start = os.getloadavg()[0]
    result = run_load(args)
    text = summary(result, load_start)
    print(text)
    if args.write:
        command = "python -m bench.load_test " + shlex.join(argv or sys.argv[1:])
        record(result, load_start, command.strip())
    return 1 if result.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main())
