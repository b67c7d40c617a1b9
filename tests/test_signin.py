"""Sign-in and private areas, end to end: a real OpenID Connect provider (oidc-provider-mock), a
real `streamlit run` whose secrets point to it, and two people in headless Chromium.

One provider and one dashboard serve every check (a few seconds each); the demo is off so a
fresh area is empty. Skipped when /usr/bin/chromium is absent, unless CI=true.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import areas
from dashboard.screenshots import _wait_healthy, free_port, launch_browser, wait_idle
from tests.browser_support import require_chromium

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.browser

require_chromium()

sync_api = pytest.importorskip("playwright.sync_api")
oidc_mock = pytest.importorskip("oidc_provider_mock")

ALICE, BOB = "alice@example.com", "bob@example.com"  # the `sub` each picks at the provider
SECRETS = """[auth]
redirect_uri = "{url}/oauth2callback"
cookie_secret = "test-cookie-secret-0123456789abcdef0123456789"
client_id = "behavior-lens"
client_secret = "test-client-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
"""


@dataclass(frozen=True)
class Team:
    """The running dashboard with sign-in on, and the installation folder it serves."""

    url: str
    root: Path


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """oidc-provider-mock on a thread, `streamlit run dashboard/app.py` with an [auth] secret."""
    tmp = tmp_path_factory.mktemp("signin")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with oidc_mock.run_server_in_thread(port=0) as provider:
        secrets = tmp / "secrets.toml"
        provider_url = f"http://localhost:{provider.server_port}"
        secrets.write_text(SECRETS.format(url=url, provider=provider_url))
        env = dict(os.environ, BEHAVIOR_LENS_WORKSPACE=str(tmp / "root"), BEHAVIOR_LENS_DEMO="0")
        command = [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--secrets.files", str(secrets),
        ]  # fmt: skip
        with open(tmp / "streamlit.log", "wb") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            _wait_healthy(url, process, 60.0)
            yield Team(url, tmp / "root")
        finally:
            process.terminate()
            process.wait(timeout=10)


def small_log(folder: Path, rows: int = 300) -> Path:
    lines = (ROOT / "sample_data" / "events.csv").read_text().splitlines()[: rows + 1]
    path = folder / "alice_log.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def sign_in(browser, url: str, sub: str):
    """A fresh browser profile (own cookies) signed in as `sub`; returns its page."""
    page = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name=sub]").fill(sub)  # the provider's form: who signs in
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text("Signed in as").wait_for()
    page.get_by_text(sub).first.wait_for()
    wait_idle(page)
    return page


def go(page, name: str) -> None:
    """Open a page from the sidebar, as a person would."""
    page.get_by_role("link", name=name).first.click()
    page.wait_for_selector(f"h1:has-text('{name}')")
    wait_idle(page)


def test_two_people_each_see_only_their_own_area_and_what_is_published(
    team: Team, tmp_path: Path
) -> None:
    alice_area = areas.user_workspace(team.root, ALICE)
    bob_area = areas.user_workspace(team.root, BOB)
    with sync_api.sync_playwright() as pw:
        browser = launch_browser(pw)
        # Not signed in: the sign-in screen only, on any address: no page, no data.
        visitor = browser.new_page()
        for path in ("/", "/data?dataset=alice-shop"):
            visitor.goto(team.url + path)
            visitor.get_by_role("button", name="Sign in").wait_for()
            wait_idle(visitor)
            assert visitor.get_by_role("link", name="Data").count() == 0
            assert visitor.get_by_text("Signed in as").count() == 0

        # Alice uploads a log: it lands in her own area, nowhere else.
        alice = sign_in(browser, team.url, ALICE)
        go(alice, "Data")
        alice.locator("input[type=file]").set_input_files(str(small_log(tmp_path)))
        alice.get_by_text("Column mapping").wait_for()
        name = alice.get_by_label("Dataset name")
        name.fill("alice-shop")
        name.press("Enter")
        wait_idle(alice)
        alice.get_by_role("button", name="Ingest").click()
        alice.get_by_text("Ingested").first.wait_for()
        assert alice_area.dataset_names() == ["alice-shop"]
        assert list((alice_area.root / "uploads").rglob("alice_log.csv"))

        # Bob sees nothing of it, even when asking for it by name in the address.
        bob = sign_in(browser, team.url, BOB)
        go(bob, "Data")
        bob.get_by_text("No dataset yet").wait_for()
        crafted = f"../users/{alice_area.root.name}/datasets/alice-shop"
        bob.goto(f"{team.url}/data?dataset=alice-shop&run=alice-shop&path={crafted}")
        bob.get_by_text("No dataset yet").wait_for()
        wait_idle(bob)
        assert bob.get_by_text("alice-shop").count() == 0
        go(bob, "Team")
        bob.get_by_text("Nothing published yet").wait_for()
        assert bob_area.dataset_names() == []

        # Alice publishes it; Bob now finds it on the Team page and copies it to his area.
        go(alice, "Team")
        alice.get_by_role("button", name="Publish to team").click()
        alice.get_by_text("Published: dataset alice").wait_for()
        bob.reload()
        bob.get_by_role("heading", name="Team", exact=True).wait_for()
        wait_idle(bob)
        cell = bob.locator("[role=gridcell]", has_text=ALICE)  # who published it, in the table
        cell.first.wait_for(state="attached")
        picked = bob.get_by_role("combobox", name="Published item").get_attribute("value")
        assert picked == "dataset alice-shop"
        bob.get_by_role("button", name="Copy to my area").click()
        bob.get_by_text("Copied: dataset alice").wait_for()
        assert bob_area.dataset_names() == ["alice-shop"]
        go(bob, "Data")
        assert bob.get_by_role("combobox", name="Dataset").get_attribute("value") == "alice-shop"

        # Signing out closes the area again.
        bob.get_by_role("button", name="Sign out").click()
        bob.get_by_role("button", name="End session").click()  # the provider's logout form
        bob.get_by_role("button", name="Sign in").wait_for()
        browser.close()
