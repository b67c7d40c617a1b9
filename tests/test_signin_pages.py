"""Sign-in in the app itself (AppTest, no browser): the gate, the private area each page opens,
the demo per area, the Team page, and the localhost guard when sign-in is off.

AppTest seeds `st.user` from `at.user` and the secrets from `at.secrets`; the real provider and
browser round trip is tests/test_signin.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import areas
from core.errors import BehaviorLensError
from core.workspace import Workspace, validate_name
from dashboard import state
from sample_data import demo
from sample_data.demo import DemoInfo

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")  # AppTest.from_file needs an absolute path
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-0123456789abcdef0123456789",
    "client_id": "behavior-lens",
    "client_secret": "test-client-secret",
    "server_metadata_url": "http://localhost:9/.well-known/openid-configuration",
}


def app_as(user: dict, root: Path, monkeypatch: pytest.MonkeyPatch, demo: bool = False):
    """The real app with sign-in on, seen by `user` (st.user), over installation `root`."""
    monkeypatch.setenv(state.WORKSPACE_ENV, str(root))
    monkeypatch.setenv(state.DEMO_ENV, "1" if demo else "0")
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user = user
    return at


def signed_in(sub: str) -> dict:
    return {"is_logged_in": True, "sub": sub, "email": f"{sub}@example.com"}


def make_dataset(ws: Workspace, name: str) -> None:
    folder = ws.dataset_dir(name)
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"name": name}))


def texts(at: AppTest) -> str:
    kinds = ("title", "info", "markdown", "caption", "error", "success", "warning", "text")
    return "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))


def test_a_visitor_who_has_not_signed_in_sees_only_the_sign_in_button(tmp_path, monkeypatch):
    make_dataset(Workspace(tmp_path), "root-data")  # a single-user workspace's data
    make_dataset(areas.user_workspace(tmp_path, "alice"), "alice-data")
    at = app_as({"is_logged_in": False}, tmp_path, monkeypatch).run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe and not at.selectbox
    assert "root-data" not in texts(at) and "alice-data" not in texts(at)


def test_each_person_gets_the_demo_in_their_own_area(tmp_path, monkeypatch) -> None:
    installed: list[Path] = []  # sample_data.demo.ensure_demo is tested on its own (test_demo.py)

    def ensure_demo(ws: Workspace) -> DemoInfo:
        installed.append(ws.root)
        make_dataset(ws, "sample")
        return DemoInfo("sample", None)

    monkeypatch.setattr(demo, "ensure_demo", ensure_demo)
    at = app_as(signed_in("alice"), tmp_path, monkeypatch, demo=True).run()
    assert not at.exception, at.exception
    alice = areas.user_workspace(tmp_path, "alice")
    assert installed == [alice.root]
    assert Workspace(tmp_path).dataset_names() == []  # nothing in the installation's root
    assert "alice@example.com" in texts(at)  # who is signed in, in the sidebar
    assert any(b.label == "Sign out" for b in at.sidebar.button)


def test_pages_open_the_callers_area_only(tmp_path, monkeypatch) -> None:
    make_dataset(areas.user_workspace(tmp_path, "alice"), "alice-data")
    at = app_as(signed_in("bob"), tmp_path, monkeypatch).run()
    at.switch_page("app_pages/data.py").run()
    assert not at.exception, at.exception
    assert "No dataset yet" in texts(at) and "alice-data" not in texts(at)
    at = app_as(signed_in("alice"), tmp_path, monkeypatch).run()
    at.switch_page("app_pages/data.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="data_dataset").value == "alice-data"


def test_team_page_publishes_and_copies_between_two_people(tmp_path, monkeypatch) -> None:
    make_dataset(areas.user_workspace(tmp_path, "alice"), "shop")
    alice = app_as(signed_in("alice"), tmp_path, monkeypatch).run()
    alice.switch_page("app_pages/team.py").run()
    assert not alice.exception, alice.exception
    assert "Nothing published yet" in texts(alice)
    alice.button(key="team_publish").click().run()
    assert "Published: dataset shop" in texts(alice)
    assert [p.by for p in areas.published(areas.shared_workspace(tmp_path))] == [
        "alice@example.com"
    ]

    bob = app_as(signed_in("bob"), tmp_path, monkeypatch).run()
    bob.switch_page("app_pages/team.py").run()
    assert bob.selectbox(key="team_pick").value == "dataset shop"
    bob.button(key="team_copy").click().run()
    assert not bob.exception, bob.exception
    assert "Copied: dataset shop" in texts(bob)
    assert areas.user_workspace(tmp_path, "bob").dataset_names() == ["shop"]
    bob.button(key="team_copy").click().run()  # a second copy is refused, with the reason
    assert "already has" in texts(bob)


def test_without_sign_in_a_server_open_beyond_localhost_shows_no_data(tmp_path, monkeypatch):
    make_dataset(Workspace(tmp_path), "root-data")
    monkeypatch.setenv(state.WORKSPACE_ENV, str(tmp_path))
    monkeypatch.setenv(state.DEMO_ENV, "0")
    monkeypatch.setattr(state, "bound_to_localhost", lambda: False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    assert "only serves this machine" in texts(at)
    assert "root-data" not in texts(at) and not at.selectbox


@pytest.mark.parametrize(
    ("address", "local"),
    [("localhost", True), ("127.0.0.1", True), ("::1", True), ("", False), ("0.0.0.0", False)],
)
def test_bound_to_localhost(address: str, local: bool, monkeypatch) -> None:
    monkeypatch.setattr(state.st, "get_option", lambda name: address)
    assert state.bound_to_localhost() is local


@pytest.mark.parametrize(
    "filename", ["../../users/x/datasets/d/manifest.json", "/etc/passwd", "..", "a\\..\\b.csv"]
)
def test_an_uploaded_file_name_never_becomes_a_path(filename: str, tmp_path: Path) -> None:
    from dashboard.components.upload import dataset_name_for, save_upload

    folder = tmp_path / "uploads" / "tab"
    saved = save_upload(io.BytesIO(b"user_id,item_id\n1,2\n"), filename, folder)
    assert saved.parent == folder and saved.read_bytes().startswith(b"user_id")
    assert validate_name(dataset_name_for(filename)) and "/" not in dataset_name_for(filename)


@pytest.mark.parametrize(
    ("filename", "saved_as"),
    [("../x", "x"), ("../../x.csv", "x.csv"), ("..", "upload"), (".hidden.tsv", "hidden.tsv")],
)
def test_the_upload_name_check_keeps_only_a_safe_last_part(filename: str, saved_as: str) -> None:
    from core.workspace import safe_file_name, safe_name

    assert safe_file_name(filename) == saved_as
    assert validate_name(safe_name("../x")) == "x" and safe_name("../", "dataset") == "dataset"
    with pytest.raises(BehaviorLensError, match="invalid"):
        validate_name("../x")  # the check the saved names pass


def test_an_upload_is_written_atomically_and_leaves_no_temp_file(tmp_path: Path) -> None:
    from dashboard.components.upload import save_upload

    folder = tmp_path / "uploads" / "tab"
    saved = save_upload(io.BytesIO(b"a,b\n1,2\n"), "../log.csv", folder)
    assert saved == folder / "log.csv" and saved.read_bytes() == b"a,b\n1,2\n"
    assert [p.name for p in folder.iterdir()] == ["log.csv"]
