"""bench/load_test.py works: two sessions in one Chromium upload, one starts a training, both
open Home; and the figures it reports (percentiles, the table's rows). The 10-session run
itself is the benchmark (bench/RESULTS.md, "Dashboard under load")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import load_report
from bench import load_test as bench
from bench.dashboard_scale import Visit
from dashboard.screenshots import CHROMIUM


def test_percentiles_are_nearest_rank() -> None:
    assert load_report.percentiles([1.0]) == (1.0, 1.0)
    assert load_report.percentiles([float(n) for n in range(1, 21)]) == (10.5, 19.0)


def _result(sessions: list[bench.Session]) -> bench.LoadResult:
    sampler = bench.Sampler(os.getpid(), workspace=None)  # type: ignore[arg-type]
    return bench.LoadResult(sessions, sampler, {}, 70.0, 0, 1.0, {})


def test_table_splits_browsers_while_others_train_from_trainers() -> None:
    one = bench.Session(0, trains_first=True)
    two = bench.Session(1, trains_first=False)
    one.seen = [bench.Seen(0, "Home", Visit(2.0, 1, 1), "trainer", 1)]
    two.seen = [
        bench.Seen(1, "Home", Visit(4.0, 1, 1), "browser", 1),
        bench.Seen(1, "Segments", Visit(None, 1, 1, ["not settled within 9 s"]), "browser", 0),
    ]
    rows = load_report.table(_result([one, two])).splitlines()
    assert rows[2] == "| Home | 2 | 3.0 | 4.0 | 0 |"
    assert rows[3] == "| Segments | 1 | – | – | 1 |"
    assert rows[5] == "| **browse-only sessions, while others train** | 1 | 4.0 | 4.0 | 0 |"
    assert _result([one, two]).failures() == ["session 1 Segments: not settled within 9 s"]


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")
def test_two_sessions_upload_train_and_browse(tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    args = bench.parse_args(
        ["--sessions", "2", "--trainers", "1", "--pages", "Home", "--train-wait", "0",
         "--stagger", "0", "--page-timeout", "60", "--workspace", str(tmp_path / "ws")]
    )  # fmt: skip
    result = bench.run_load(args)
    assert result.failures() == []
    assert [s.upload_s is not None for s in result.sessions] == [True, True]
    assert sorted(result.trainings) == ["load0-run", "load1-run"]  # both started theirs
    pages = [seen.page for s in result.sessions for seen in s.seen]
    assert pages.count("Home (first view)") == 2 and pages.count("Home") == 2
    assert (tmp_path / "ws" / "datasets" / "load1").is_dir()
    assert result.sampler.server_peak_mb > result.server_idle_mb > 10
