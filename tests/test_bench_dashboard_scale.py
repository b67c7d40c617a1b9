"""bench/dashboard_scale.py: memory read from /proc, the table's cells, and where the table lands
in RESULTS.md (newest first, in its own section). The browser run itself is the benchmark."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import dashboard_scale as bench
from bench.dashboard_scale import Visit


def test_memory_of_this_process_is_read_in_mib() -> None:
    rss, peak = bench.memory_mb(os.getpid())
    assert 10 < rss <= peak < 100_000


def test_table_shows_cold_warm_memory_and_timeouts() -> None:
    visits = {
        "Home": [Visit(9.24, 237.0, 500.0, ["a note"]), Visit(0.9, 990.0, 2200.0)],
        "Data › Top paths": [Visit(None, 300.0, 2200.0, ["not settled within 180 s"])],
    }
    rows = bench.table(visits).splitlines()
    assert rows[2] == "| Home | 9.2 | 0.9 | 237 / 990; 2,200 | a note |"
    assert rows[3].startswith("| Data › Top paths | **timeout** | – | 300 / 300; 2,200 |")


def test_record_puts_the_newest_run_first_in_its_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Segments\n\nold\n", encoding="utf-8")
    monkeypatch.setattr(bench, "RESULTS", results)
    bench.record("### first\n")
    bench.record("### second\n")
    text = results.read_text(encoding="utf-8")
    assert text.index(bench.SECTION) < text.index("### second") < text.index("### first")
    assert text.index("### first") < text.index("## Segments")
    assert text.count(bench.SECTION) == 1
