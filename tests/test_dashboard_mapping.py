"""AppTest of the Data page's mapping step: checks shown in words, Ingest held back until fixed
or explicitly accepted. Runs the page's real component (`upload.map_and_ingest`) on a file
already on disk, since AppTest cannot drive a file uploader (the browser test does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data.store import load_manifest
from core.workspace import Workspace
from tests.test_data_real_logs import session_log


def _mapping_step() -> None:
    import os
    from pathlib import Path

    from core.workspace import Workspace
    from dashboard.components import upload

    upload.map_and_ingest(
        Workspace.at(os.environ["BL_TEST_WS"]), Path(os.environ["BL_TEST_LOG"]), "t"
    )


@pytest.fixture
def mapping_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("BL_TEST_WS", str(tmp_path / "ws"))
    monkeypatch.setenv("BL_TEST_LOG", str(session_log(tmp_path / "views.csv")))
    at = AppTest.from_function(_mapping_step, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _ingest_button(at: AppTest):
    return next(b for b in at.button if b.label == "Ingest")


def test_auto_detection_says_what_it_set_aside(mapping_app: AppTest) -> None:
    infos = " ".join(i.value for i in mapping_app.info).replace("\\", "")  # markdown escapes
    assert "'user_id' is not the user" in infos and "'timeframe' is not the time" in infos
    assert mapping_app.selectbox(key="t_user").value == "session_id"
    assert not mapping_app.error and not _ingest_button(mapping_app).disabled


def test_a_bad_user_column_disables_ingest_until_accepted(
    mapping_app: AppTest, tmp_path: Path
) -> None:
    at = mapping_app
    at.selectbox(key="t_user").set_value("user_id").run()
    errors = " ".join(e.value for e in at.error).replace("\\", "")
    assert "no real user id" in errors and "--" not in errors  # analyst words, no flags
    assert _ingest_button(at).disabled
    at.checkbox(key="t_accept_user").check().run()
    assert not _ingest_button(at).disabled
    _ingest_button(at).click().run()
    assert not at.exception, at.exception
    manifest = load_manifest(Workspace.at(tmp_path / "ws"), "views")
    assert manifest["mapping"]["user"] == "user_id" and manifest["accepted_issues"]


def test_fixing_the_mapping_clears_the_warning(mapping_app: AppTest) -> None:
    at = mapping_app
    at.selectbox(key="t_time").set_value("timeframe").run()
    assert any("times in 1970" in e.value for e in at.error) and _ingest_button(at).disabled
    at.selectbox(key="t_time").set_value("eventdate").run()
    assert not at.error and not _ingest_button(at).disabled


def test_none_for_a_detected_column_means_the_file_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Choosing "(none)" for the detected event type is a decision: ingest must not detect it
    again."""
    log = tmp_path / "shop.csv"
    log.write_text(
        "user,time,action,item\n"
        + "".join(
            f"u{i % 5},{1_700_000_000 + i},{('view', 'cart')[i % 2]},i{i}\n" for i in range(40)
        )
    )
    monkeypatch.setenv("BL_TEST_WS", str(tmp_path / "ws"))
    monkeypatch.setenv("BL_TEST_LOG", str(log))
    at = AppTest.from_function(_mapping_step, default_timeout=60)
    at.run()
    assert at.selectbox(key="t_event").value == "action"
    at.selectbox(key="t_event").set_value("(none)").run()
    _ingest_button(at).click().run()
    assert not at.exception, at.exception
    manifest = load_manifest(Workspace.at(tmp_path / "ws"), "shop")
    assert manifest["mapping"]["event"] is None
    assert manifest["mapping"]["item"] == "item"  # the other roles as detected


def test_a_time_column_detection_missed_can_be_picked_in_the_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Detection found no time (most of the sample is "-"): the form still shows, says what is
    missing, and ingests once the analyst picks the column (the "-" rows rejected)."""
    log = tmp_path / "odd.csv"
    rows = [f"u{i % 7},i{i},{1_700_000_000 + i if i % 3 == 0 else '-'}" for i in range(300)]
    log.write_text("user_id,item_id,col_c\n" + "\n".join(rows) + "\n")
    monkeypatch.setenv("BL_TEST_WS", str(tmp_path / "ws"))
    monkeypatch.setenv("BL_TEST_LOG", str(log))
    at = AppTest.from_function(_mapping_step, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert any("No time column was found" in e.value for e in at.error)
    assert at.selectbox(key="t_time").value == "(none)" and _ingest_button(at).disabled
    at.selectbox(key="t_category").set_value("(none)")  # taken for an id column by detection
    at.selectbox(key="t_time").set_value("col_c").run()
    assert not any("No time column was found" in e.value for e in at.error)
    if at.checkbox:  # the unparseable times are an issue to accept, in words
        at.checkbox[0].check().run()
    assert not _ingest_button(at).disabled
    _ingest_button(at).click().run()
    assert not at.exception, at.exception
    manifest = load_manifest(Workspace.at(tmp_path / "ws"), "odd")
    assert manifest["mapping"]["time"] == "col_c"
    assert manifest["stats"]["rejected_rows"] == 200 and manifest["stats"]["events"] == 100


def test_user_data_is_literal_in_markdown() -> None:
    from dashboard.components.widgets import md

    assert md("**50% off** [x](javascript:y)") == r"\*\*50% off\*\* \[x\]\(javascript:y\)"
