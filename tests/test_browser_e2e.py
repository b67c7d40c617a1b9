"""End to end in a real browser: upload → map → ingest → training (segments and anomalies follow
by themselves) → score a second upload → download the scores → attention → report.

Drives Debian's headless Chromium (never `playwright install`) against a real `streamlit run`
on 127.0.0.1 in a temp workspace. Skipped when /usr/bin/chromium is absent, unless CI=true.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.screenshots import launch_browser, running_app, wait_idle
from tests.browser_support import require_chromium

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.browser

require_chromium()

sync_api = pytest.importorskip("playwright.sync_api")


def small_log(tmp_path: Path, rows: int = 4000) -> Path:
    """The first rows of the bundled sample log: a few hundred users, trains in seconds."""
    lines = (ROOT / "sample_data" / "events.csv").read_text().splitlines()[: rows + 1]
    path = tmp_path / "shop_log.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def later_log(tmp_path: Path, first: int = 4001, rows: int = 2000) -> Path:
    """Later rows of the sample log (other users): a second period to score."""
    lines = (ROOT / "sample_data" / "events.csv").read_text().splitlines()
    path = tmp_path / "week2.csv"
    path.write_text("\n".join([lines[0], *lines[first : first + rows]]) + "\n")
    return path


def _combobox(page, label: str):
    """The input of a Streamlit select box; its `value` attribute is the shown option."""
    return page.get_by_role("combobox", name=label, exact=True)


def pick(page, label: str, option: str) -> None:
    """Choose an option of a Streamlit select box as a user would: open it, click the option."""
    _combobox(page, label).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def go(page, name: str) -> None:
    """Navigate with the sidebar (keeps the browser session, as a user would)."""
    for attempt in range(3):  # a click that lands while the page re-runs itself can be lost
        page.get_by_role("link", name=name).first.click()
        try:
            page.wait_for_selector(f"h1:has-text('{name}')", timeout=20_000 * (attempt + 1))
            break
        except sync_api.TimeoutError:
            if attempt == 2:
                raise
    wait_idle(page)


def test_upload_train_attention_report(tmp_path: Path) -> None:
    upload = small_log(tmp_path)
    with (
        running_app(tmp_path / "ws", tmp_path / "streamlit.log") as url,
        sync_api.sync_playwright() as pw,
    ):
        browser = launch_browser(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.wait_for_selector("h1:has-text('Behavior Lens')")
        # a fresh workspace already shows the demo: real numbers before any upload
        page.get_by_text("Model NDCG@10").wait_for()
        go(page, "Data")

        page.get_by_text("Add a dataset").click()
        page.locator("input[type=file]").set_input_files(str(upload))
        page.get_by_text("Column mapping").wait_for()
        wait_idle(page)
        # auto-detected defaults, shown in changeable select boxes
        assert _combobox(page, "User").get_attribute("value") == "user_id"
        assert _combobox(page, "Event").get_attribute("value") == "event_type"
        # a wrong time column is caught before anything is written: Ingest waits for a fix
        pick(page, "Time", "price")
        page.get_by_text("its values read as times in 1970").wait_for()
        sync_api.expect(page.get_by_role("button", name="Ingest")).to_be_disabled()  # waits
        pick(page, "Time", "timestamp")
        page.get_by_text("its values read as times in 1970").wait_for(state="detached")
        sync_api.expect(page.get_by_role("button", name="Ingest")).to_be_enabled()
        name = page.get_by_label("Dataset name")
        name.fill("e2e")
        name.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Ingest").click()
        page.get_by_text("Ingested").first.wait_for()

        go(page, "Train")
        run_name = page.get_by_label("Run name").first  # the pre-training tab comes first
        run_name.fill("e2e-run")
        run_name.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Start training").click()
        page.get_by_text("e2e-run").first.wait_for()
        page.get_by_text("— finished").wait_for(timeout=300_000)

        # training went on to evaluate, segment and score anomalies: nothing to press
        go(page, "Segments")
        pick(page, "Trained run", "e2e-run")
        page.get_by_text("Map of users").wait_for()
        assert page.get_by_text("No segments").count() == 0
        go(page, "Anomalies")
        page.get_by_text("false-alarm rate").first.wait_for()
        assert page.get_by_role("button", name="Compute anomaly scores").count() == 0

        # next week's log, scored with the same model
        go(page, "Score new data")
        page.get_by_text("Add the new period's log").click()
        page.locator("input[type=file]").first.set_input_files(str(later_log(tmp_path)))
        page.get_by_text("Column mapping").wait_for()
        wait_idle(page)
        week = page.get_by_label("Dataset name")
        week.fill("e2e-week2")
        week.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Ingest").click()
        page.get_by_text("Ingested").first.wait_for()
        wait_idle(page)
        if _combobox(page, "New period").get_attribute("value") != "e2e-week2":
            pick(page, "New period", "e2e-week2")
        page.get_by_role("button", name="Score this period").click()
        page.get_by_role("button", name="Download users (CSV)").wait_for(timeout=180_000)
        with page.expect_download() as info:
            page.get_by_role("button", name="Download users (CSV)").click()
        scores = Path(info.value.path()).read_text(encoding="utf-8")
        assert scores.startswith("user_id,") and "segment_name" in scores.splitlines()[0]

        go(page, "Attention")
        pick(page, "Trained run", "e2e-run")
        heatmap = page.locator(".js-plotly-plot").first
        heatmap.wait_for()
        assert page.locator(".js-plotly-plot .heatmaplayer, .js-plotly-plot .hm").count() >= 1

        go(page, "Reports")
        assert _combobox(page, "Dataset").get_attribute("value") == "e2e"
        assert _combobox(page, "Model run").get_attribute("value") == "e2e-run"
        page.get_by_role("button", name="Build report").click()
        download_button = page.get_by_role("button", name="Download HTML")
        download_button.wait_for(timeout=120_000)
        with page.expect_download() as info:
            download_button.click()
        report = Path(info.value.path()).read_text(encoding="utf-8")
        assert "<html" in report.lower() and "e2e" in report
        browser.close()
