"""`python -m core ingest` / `datasets` as a user runs them: JSON last line, one-line errors, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_ingest_prints_summary_then_datasets_lists_it(write_log, tmp_path) -> None:
    path = write_log("h.csv", "1,10,5,pv,1511544070\n1,11,5,buy,1511544090\n2,10,5,pv,1511544100\n")
    ws = str(tmp_path / "ws")
    done = cli("ingest", str(path), "--name", "h", "--workspace", ws, "--no-header",
               "--columns", "uid,item,cat,act,ts", "--session-gap", "15s")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["dataset"] == "h" and summary["events"] == 3 and summary["sessions"] == 3
    assert summary["event_types"] == {"pv": 2, "buy": 1}
    listed = cli("datasets", "--workspace", ws)
    assert listed.returncode == 0
    assert [d["name"] for d in json.loads(listed.stdout.strip().splitlines()[-1])] == ["h"]


def test_unusable_input_is_one_error_line_exit_2(write_log, tmp_path) -> None:
    path = write_log("bad.csv", "user,item,time\nu1,i1,someday\n")
    done = cli("ingest", str(path), "--name", "bad", "--workspace", str(tmp_path / "ws"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {path}:2:time: all 1 rows were rejected; first: missing or unparseable time "
        "(expected unix s/ms/us or ISO 8601, 1900..2300) (check the delimiter, header and column "
        "mapping: --user/--time/--item)"
    ]
    missing = cli("ingest", str(tmp_path / "nope.csv"), "--name", "n", "--workspace", str(tmp_path))
    assert missing.returncode == 2 and "file not found" in missing.stderr
    assert "Traceback" not in missing.stderr + done.stderr
