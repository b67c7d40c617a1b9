"""The report as PDF: headless Chromium prints the self-contained HTML report.

Why a browser rather than a Python HTML-to-PDF library: the report's charts are inline SVG and
its layout is CSS; Chromium renders both exactly as the analyst saw them in the dashboard, with
the print stylesheet of `core.reports.html` (A4, charts and table rows kept whole). The plain
`chromium` command line is used (no Playwright, which is only a test tool here), offline: the
HTML has no script and no link out, and every host name fails to resolve. (Turning scripts
off with --blink-settings stops Chromium from printing at all, so it is not done.)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from core.errors import BehaviorLensError
from core.workspace import atomic_write_bytes

CHROMIUM_ENV = "BEHAVIOR_LENS_CHROMIUM"  # path of the Chromium binary, when not a usual place
CHROMIUM_PATHS = (  # where Debian/Ubuntu packages and Google's builds put it, first found wins
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
)
PDF_TIMEOUT_S = 120.0  # a report of a few MB prints in a few seconds; a hung browser is killed
INSTALL_HINT = "PDF export needs Chromium: apt-get install -y chromium"
ANALYST_HINT = (
    "PDF export needs the Chromium browser on the server; "
    "ask whoever runs the dashboard to install it."
)
_FLAGS = (
    "--headless",
    "--no-sandbox",  # the container runs as root; the page has no script and fetches nothing
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-crash-reporter",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing can be fetched, even by mistake
    "--no-pdf-header-footer",  # the default footer would print the temp file's path
)


class PdfEngineMissing(BehaviorLensError):
    """No Chromium to print with. `str()` says what to install; `analyst_message` is for the UI."""

    analyst_message = ANALYST_HINT


def find_chromium(engine: str | Path | None = None) -> Path:
    """The Chromium binary: `engine`, else $BEHAVIOR_LENS_CHROMIUM, else a usual install path."""
    chosen = engine or os.environ.get(CHROMIUM_ENV)
    if chosen:
        path = Path(chosen)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise PdfEngineMissing(f"{INSTALL_HINT} (no Chromium program at {path})")
    for candidate in (*CHROMIUM_PATHS, shutil.which("chromium"), shutil.which("google-chrome")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise PdfEngineMissing(INSTALL_HINT)


def html_to_pdf(
    html: str, engine: str | Path | None = None, timeout_s: float = PDF_TIMEOUT_S
) -> bytes:
    """Print `html` (a self-contained page) to PDF bytes with headless Chromium."""
    chromium = find_chromium(engine)
    with tempfile.TemporaryDirectory(prefix="behavior-lens-pdf-") as tmp:
        folder = Path(tmp)
        page, out = folder / "report.html", folder / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            str(chromium),
            *_FLAGS,
            f"--user-data-dir={folder / 'profile'}",  # a private profile: parallel exports work
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        stderr = _run(command, timeout_s)
        if not out.is_file() or out.stat().st_size == 0:
            last = stderr.strip().splitlines()[-1:] or ["no output"]
            raise BehaviorLensError(f"PDF export: Chromium wrote no PDF ({last[0]})")
        return out.read_bytes()


def _run(command: list[str], timeout_s: float) -> str:
    """Run Chromium in its own process group, killed whole on timeout; its stderr."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise BehaviorLensError(
            f"PDF export: Chromium did not finish within {timeout_s:g} s"
        ) from None
    return stderr or ""


def write_pdf(html: str, out: str | Path, engine: str | Path | None = None) -> int:
    """Print `html` to the file `out`, written atomically; its size in bytes."""
    data = html_to_pdf(html, engine)
    atomic_write_bytes(Path(out), data)
    return len(data)
