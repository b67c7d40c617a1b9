"""bench/scale.py: per-child peak RSS, step dependencies and where results land in RESULTS.md."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import scale


def test_last_summary_reads_the_cli_json_and_the_generator_dict() -> None:
    assert scale.last_summary('progress\n{"run": "r", "val": {"ndcg@10": 0.1}}\n') == {
        "run": "r",
        "val": {"ndcg@10": 0.1},
    }
    assert scale.last_summary("{'events': 300, 'users': 6}\n") == {"events": 300, "users": 6}
    assert scale.last_summary("no summary\n") == {}


MEASURE = """
import json, sys
from pathlib import Path
from bench import scale
big = ["-c", "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); print('{}')"]
small = ["-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]
env, folder = scale.child_env(threads=None), Path(sys.argv[1])
first = scale.run_measured(big, env, folder / "big.out", folder / "big.err")
second = scale.run_measured(small, env, folder / "small.out", folder / "small.err")
print(json.dumps([[r.status, r.exit_code, r.peak_rss_gb] for r in (first, second)]))
"""


def test_run_measured_gives_the_childs_own_peak_and_exit_code(tmp_path: Path) -> None:
    """A child holding 300 MB reports about that much, a later small child does not inherit it.

    Measured from a fresh interpreter, as the benchmark runs: Linux counts in a child's peak
    the memory of the process it was spawned from (the pytest process is ~1 GB here)."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    )
    (status, _, big_gb), (small_status, code, small_gb) = json.loads(done.stdout.splitlines()[-1])
    assert status == "ok" and big_gb > 0.28
    assert small_status == "failed" and code == 3
    assert small_gb < 0.1


def test_a_failed_train_skips_the_steps_that_read_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake(command, env, out, err):  # train fails, everything else succeeds
        err.write_text("Traceback\nValueError: bad\n")
        status = "failed" if out.stem == "train" else "ok"
        return scale.StepResult(out.stem, status, 1.0, 1024, 1 if status == "failed" else 0)

    monkeypatch.setattr(scale, "run_measured", fake)
    monkeypatch.setattr(scale, "output_present", lambda step, paths: step != "train")
    steps = ["ingest", "train", "evaluate", "report"]
    args = argparse.Namespace(
        steps=steps, reuse=False, threads=None, events=1000, train_minutes=0.1
    )
    results = {r.name: r for r in scale.run_all(scale.Paths.under(tmp_path), args)}
    assert results["ingest"].status == "ok"
    assert results["train"].notes == ["exit 1: Traceback / ValueError: bad"]
    assert results["evaluate"].status == "skipped" and results["report"].status == "skipped"


def test_results_rows_go_first_in_the_scale_table_and_a_new_log_is_described(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Segments\n\nold\n")
    monkeypatch.setattr(scale, "RESULTS", results)
    step = scale.StepResult("ingest", "ok", 2.0, 1024, 0, notes=["sessions=5"])
    for when in ("first", "second"):
        lead = [when, scale.log_label(1000), "2 CPUs, load 1.0 → 1.0", "`cmd`"]
        scale.write_results(scale.result_rows([step], 1000, 8.0, lead), "log: 1,000 events", [])
    text = results.read_text()
    assert text.startswith("# Benchmark results\n\n## Segments\n\nold\n\n## Scale")
    assert text.count("\n|---") == 1  # one table, newest first
    assert text.index("| second | 1k |") < text.index("| first | 1k |")
    assert "| log: 1,000 events; sessions=5 |" in text  # no "**1k:**" stated in the section


def test_threads_are_set_for_children_only_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert scale.child_env(4)["OMP_NUM_THREADS"] == "4"
    assert "OMP_NUM_THREADS" not in scale.child_env(None)
    assert "OMP_NUM_THREADS" not in os.environ  # the benchmark's own process is left alone
