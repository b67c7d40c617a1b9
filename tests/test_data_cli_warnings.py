"""`python -m core ingest` names what it kept going past on stderr: rejected rows, missing time.

Regression: a log with a bad date exited 0 with only `"rejected_rows": 1` in the JSON, and a file
without a time column was silently ordered by line number.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAD_TIME = "missing or unparseable time (expected unix s/ms/us or ISO 8601, 1900..2300)"


def ingest(path: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core", "ingest", str(path), "--name", "w",
         "--workspace", str(tmp_path / "ws"), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def warnings(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("warning:")]


def test_one_rejected_row_is_named_on_stderr(write_log, tmp_path) -> None:
    path = write_log(
        "bad.csv",
        "user,item,event,when\nu1,i1,view,2024-01-01 10:00:00\nu1,i2,view,notadate\n"
        "u2,i1,view,2024-01-02 10:00:00\nu3,i3,buy,2024-01-03 10:00:00\n",
    )
    done = ingest(path, tmp_path, "--time", "when")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["rejected_rows"] == 1
    assert warnings(done) == [f"warning: {path}:3:when: {BAD_TIME}"]


def test_many_rejected_rows_show_five_then_a_count(write_log, tmp_path) -> None:
    good = "".join(f"u{i},i{i},view,2024-01-01 10:00:0{i}\n" for i in range(3))
    bad = "".join(f"u{i},i{i},view,never\n" for i in range(8))
    path = write_log("many.csv", "user,item,event,time\n" + good + bad)
    done = ingest(path, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = warnings(done)
    assert lines[:5] == [f"warning: {path}:{row}:time: {BAD_TIME}" for row in range(5, 10)]
    assert len(lines) == 6 and lines[5].startswith("warning: … and 3 more")


def test_missing_time_column_warns_about_file_order(write_log, tmp_path) -> None:
    path = write_log("pairs.txt", "1 2\n1 3\n2 2\n")
    done = ingest(path, tmp_path)
    assert done.returncode == 0, done.stderr
    [line] = warnings(done)
    assert line.startswith(f"warning: {path}: no time column was detected")
    assert "file order" in line and "--time COL" in line


def test_clean_log_with_time_prints_no_warning(write_log, tmp_path) -> None:
    path = write_log("ok.csv", "user,item,time\nu1,i1,1511544070\nu2,i2,1511544080\n")
    done = ingest(path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert warnings(done) == []


def test_ingest_warnings_name_rows_and_count_the_rest():
    from core.data.ingest import ingest_warnings

    examples = [{"row": r, "column": "when", "reason": "bad time"} for r in range(2, 9)]
    manifest = {"has_time": True, "stats": {"rejected_rows": 9, "rejected_examples": examples}}
    messages = ingest_warnings("log.csv", manifest)
    assert messages[0] == "log.csv:2:when: bad time"
    assert len(messages) == 6 and messages[-1].startswith("… and 4 more")
    assert ingest_warnings("x.txt", {"has_time": False, "stats": {}})[0].startswith(
        "x.txt: no time column"
    )
