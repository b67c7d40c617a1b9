"""Regenerate docs/screenshots/*.png: `python -m dashboard.screenshots [--workspace DIR]`.

Starts a real `streamlit run dashboard/app.py` on a free local port against the workspace (by
default ./workspace; a fresh folder gets the demo dataset and run installed by the app itself), opens every page in headless Debian Chromium (/usr/bin/chromium; never
`playwright install`) and saves one full-page screenshot per page. The browser end-to-end test
uses the same `running_app` and `launch_browser` helpers.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PAGES = ["home", "data", "train", "attention", "segments", "predict", "anomalies", "reports"]
# Idle: no "Running…" widget (cache spinners are waited for by their text).
_IDLE_JS = "!document.querySelector(\"[data-testid='stStatusWidget']\")"
OUT_DIR = PROJECT_ROOT / "docs" / "screenshots"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    """A running `streamlit run`: where to browse it and which process to measure."""

    url: str  # http://127.0.0.1:PORT
    pid: int  # the streamlit server process (its RSS is the dashboard's memory)


@contextmanager
def running_server(
    workspace: Path, log: Path, timeout: float = 60.0, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """A `streamlit run` subprocess on 127.0.0.1 with `env` added; stopped afterwards."""
    port = free_port()
    full_env = dict(os.environ, BEHAVIOR_LENS_WORKSPACE=str(workspace), **(env or {}))
    command = [
        sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "dashboard" / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=full_env, stdout=handle, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, timeout)
        yield Server(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_app(workspace: Path, log: Path, timeout: float = 60.0) -> Iterator[str]:
    """A `streamlit run` subprocess on 127.0.0.1; yields its base URL, stops it afterwards."""
    with running_server(workspace, log, timeout) as server:
        yield server.url


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer at {url} within {timeout:.0f} s")


def launch_browser(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_idle(page: Any, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished the current script run (no 'Running…' indicator)."""
    page.wait_for_timeout(500)
    page.wait_for_function(_IDLE_JS, timeout=timeout_ms)
    busy = page.get_by_text(re.compile(r"^(Scoring|Loading|Computing|Preparing)"))
    busy.first.wait_for(state="detached", timeout=timeout_ms)


def capture(workspace: Path, out_dir: Path = OUT_DIR) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    with running_app(workspace, out_dir / ".streamlit.log") as url, sync_playwright() as pw:
        browser = launch_browser(pw)
        # Streamlit scrolls inside its own container, so a tall viewport is what shows a page whole.
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        for name in PAGES:
            page.goto(url if name == "home" else f"{url}/{name}")
            page.wait_for_selector("h1", timeout=60_000)
            wait_idle(page)
            page.wait_for_timeout(1500)  # let plotly finish drawing
            path = out_dir / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)
        browser.close()
    (out_dir / ".streamlit.log").unlink(missing_ok=True)
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard.screenshots", description=__doc__)
    parser.add_argument(
        "--workspace", default="workspace", help="workspace to show (default ./workspace)"
    )
    parser.add_argument("--out", default=str(OUT_DIR), help="folder for the PNG files")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    for path in capture(Path(args.workspace).resolve(), Path(args.out)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
