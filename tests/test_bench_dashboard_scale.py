"""bench/dashboard_scale.py: memory read from /proc, the table's cells, and where the table lands
in RESULTS.md (newest first, in its own section). The browser run itself is the benchmark."""

from __future__ import annotations

import os

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
