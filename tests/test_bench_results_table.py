"""bench/results_table.py: a run's rows go first in its section's one table, nothing else moves;
and every bench's row formatting fits the header its section has in the real bench/RESULTS.md."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from bench import results_table as rt
from bench.results_table import ResultsTableError, insert_column, insert_rows

REAL = Path(__file__).resolve().parents[1] / "bench" / "RESULTS.md"

SMALL = """# Benchmark results

Intro.

## Speed

Notes stated once.

| reference | seq/s |
|---|---|
| published | 10 |

| date | machine | seq/s |
|---|---|---|
| 2026-11-28 | old box | 1 |

Reading after the table.

## Load

| | 10:00 UTC | notes |
|---|---|---|
| command | `old` | |
| Home | 1.0 / 0.1 | a note |
| Data | 2.0 / 0.2 |  |

## Last

tail
"""


def _outside(text: str, section: str) -> tuple[str, str]:
    """The text before and after the section's body."""
    start, end = rt.section_span(text, section)
    return text[:start], text[end:]


def test_rows_go_first_in_the_table_with_that_header_and_nothing_else_moves() -> None:
    new = insert_rows(SMALL, "Speed", ["date", "machine", "seq/s"], [["2026-12-02", "box", 2]])
    assert new.replace("| 2026-12-02 | box | 2 |\n", "", 1) == SMALL
    assert "|---|---|---|\n| 2026-12-02 | box | 2 |\n| 2026-11-28 | old box | 1 |\n" in new
    assert _outside(new, "Speed") == _outside(SMALL, "Speed")
    again = insert_rows(new, "## Speed", ["date", "machine", "seq/s"], [["2026-12-03", "b", 3]])
    assert again.index("| 2026-12-03 |") < again.index("| 2026-12-02 |")  # newest first


def test_a_missing_section_is_added_at_the_end_with_its_table() -> None:
    new = insert_rows(SMALL, "Fresh", ["date", "x"], [["d", "a|b"]], intro="Stated once.")
    assert new.startswith(SMALL.rstrip("\n") + "\n\n## Fresh\n")
    assert new.endswith("## Fresh\n\nStated once.\n\n| date | x |\n|---|---|\n| d | a\\|b |\n")
    assert insert_rows("", "Fresh", ["x"], [[1]]).startswith(rt.TITLE)


def test_a_different_header_or_row_length_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    with pytest.raises(ResultsTableError, match=r"'## Speed': no table with the header"):
        insert_rows(SMALL, "Speed", ["date", "machine", "users", "seq/s"], [[1, 2, 3, 4]])
    with pytest.raises(ResultsTableError, match="has 2 cells, the header 3"):
        insert_rows(SMALL, "Speed", ["date", "machine", "seq/s"], [[1, 2]])
    path = tmp_path / "RESULTS.md"
    path.write_text(SMALL, encoding="utf-8")
    with pytest.raises(
        ResultsTableError, match="date \\| machine \\| seq/s"
    ):  # names what is there
        rt.record_rows(path, "Speed", ["date", "seq/s"], [[1, 2]])
    assert path.read_text(encoding="utf-8") == SMALL


def test_a_run_column_goes_second_in_a_table_with_one_column_per_run() -> None:
    cells = {"command": "`new`", "Home": "0.5 / 0.1"}
    new = insert_column(SMALL, "Load", "", "11:00 UTC", cells)
    body = new[slice(*rt.section_span(new, "Load"))]
    assert "|  | 11:00 UTC | 10:00 UTC | notes |\n|---|---|---|---|\n" in body
    assert "| Home | 0.5 / 0.1 | 1.0 / 0.1 | a note |\n| Data | – | 2.0 / 0.2 |  |\n" in body
    assert _outside(new, "Load") == _outside(SMALL, "Load")
    with pytest.raises(ResultsTableError, match=r"no rows \['Train'\]"):
        insert_column(SMALL, "Load", "", "11:00 UTC", {"Train": "1 / 1"})
    fresh = insert_column(SMALL, "New", "page", "11:00 UTC", cells)
    assert fresh.endswith(
        "| page | 11:00 UTC |\n|---|---|\n| command | `new` |\n| Home | 0.5 / 0.1 |\n"
    )


# --- each bench's rows against its section in the real RESULTS.md --------------------------


def _lands_on_top(section: str, columns: list[str], rows: list[list[object]]) -> str:
    """The rows fit the real section's header and go right under it; the rest is unchanged."""
    text = REAL.read_text(encoding="utf-8")
    assert all(len(row) == len(columns) for row in rows)
    new = insert_rows(text, section, columns, rows)
    added = "".join(rt.markdown_row(row) for row in rows)
    assert new.replace(added, "", 1) == text
    assert rt.markdown_row(columns) + "|" + "---|" * len(columns) + "\n" + added in new
    return new


def test_record_results_keeps_train_speeds_call_and_puts_rows_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import sasrec_reference, train_speed

    section = "Training speed (beauty, SASRec reference config)"
    path = tmp_path / "RESULTS.md"
    path.write_text(REAL.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(sasrec_reference, "RESULTS", path)
    row = ["2026-12-02", "box", "`cmd`", "ours", "1", "1.00x", "1.0", "2.0", "2.0x"]
    sasrec_reference.record_results(section, train_speed.COLUMNS, [row])  # its call, as is
    new = path.read_text(encoding="utf-8")
    assert new.replace(rt.markdown_row(row), "", 1) == REAL.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("module", "section"),
    [
        ("inference", "Inference: top-10 for every user"),
        ("predict_all", "Predict every user (beauty, `predict --all`)"),
        ("item_topk", "Top-k with probabilities over every item (bench/item_topk.py)"),
    ],
)
def test_the_other_record_results_callers_match_their_sections(module: str, section: str) -> None:
    import importlib

    columns = importlib.import_module(f"bench.{module}").COLUMNS
    _lands_on_top(section, columns, [[f"c{i}" for i in range(len(columns))]])


def test_train_accuracy_writes_our_rows_and_a_baseline_only_when_it_changed() -> None:
    from bench import train_accuracy as bench

    stated = bench.stated_baselines(REAL.read_text(encoding="utf-8"))
    assert stated["markov"] == ["0.0424", "0.0287", "0.0262"]
    ours = {"hr@10": 0.05, "ndcg@10": 0.03, "mrr": 0.02, "users": 40226, "epochs": 5,
            "best_epoch": 4, "steps": 100, "seconds": 60.0, "stopped": "budget"}  # fmt: skip
    results = {
        "popular": {"hr@10": 0.0078, "ndcg@10": 0.0035, "mrr": 0.0035, "users": 40226},
        "markov": {"hr@10": 0.0500, "ndcg@10": 0.0287, "mrr": 0.0262, "users": 40226},
        "ours-causal": ours,
    }
    args = argparse.Namespace(max_minutes=15.0, objectives=["causal"], set=[])
    rows = bench._rows(results, args, stated)
    assert [row[3] for row in rows] == [
        "markov (baseline; the section states 0.0424 / 0.0287 / 0.0262)",
        "ours-causal",
    ]
    assert not any("published" in str(cell) for row in rows for cell in row)
    _lands_on_top(bench.SECTION, bench.COLUMNS, rows)


def test_scale_rows_fit_the_scale_table_and_state_a_known_log_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import scale

    steps = [scale.StepResult("ingest", "ok", 13.3, 680_000, 0, notes=["sessions=5"]),
             scale.StepResult("train", "failed", 2.0, None, 1, notes=["exit 1: a | b"])]  # fmt: skip
    assert scale.log_label(10_000_000) == "10M" and scale.log_label(300_000) == "300k"
    lead = ["2026-12-02 10:00", scale.log_label(10_000_000), "2 CPUs, load 1.0 → 2.0", "`cmd`"]
    rows = scale.result_rows(steps, 10_000_000, 8.0, lead)
    assert rows[1][-2:] == ["–", "exit 1: a | b"]
    _lands_on_top(scale.SECTION, scale.COLUMNS, rows)
    path = tmp_path / "RESULTS.md"
    path.write_text(REAL.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(scale, "RESULTS", path)
    scale.write_results(rows, "log: 10,000,000 events", ["24 GB RAM", "Python 0.0"])
    first = next(line for line in path.read_text(encoding="utf-8").splitlines() if "`cmd`" in line)
    assert first.startswith("| 2026-12-02 10:00 | 10M | 2 CPUs, load 1.0 → 2.0, Python 0.0 |")
    assert "log: 10,000,000 events" not in first  # the section states the 10M log already


def _load_result():
    from bench import load_test as bench
    from bench.dashboard_scale import Visit

    one, two = bench.Session(0, trains_first=True), bench.Session(1, trains_first=False)
    one.seen = [bench.Seen(0, "Home", Visit(2.0, 1, 1), "trainer", 1)]
    two.seen = [
        bench.Seen(1, "Home", Visit(4.0, 1, 1), "browser", 1),
        bench.Seen(1, "Segments", Visit(None, 1, 1, ["not settled within 9 s"]), "browser", 0),
    ]
    sampler = bench.Sampler(os.getpid(), workspace=None)  # type: ignore[arg-type]
    return bench.LoadResult([one, two], sampler, {}, 70.0, 0, 1.0, {})


def test_load_test_row_and_page_column_fit_their_tables() -> None:
    from bench import load_report as bench

    result = _load_result()
    row = bench.run_row(result, 1.0, "python -m bench.load_test --write", "2026-12-02 10:00")
    assert row[-1] == "session 1 Segments: not settled within 9 s"
    assert "\nfailures: session 1 Segments: not settled within 9 s\n" in bench.summary(result, 1.0)
    text = _lands_on_top(bench.SECTION, bench.COLUMNS, [row])
    cells = bench.page_cells(result)
    assert cells["Segments"] == "– / – (1 visit, 1 timeout)"
    assert cells["Home"] == "3.0 / 4.0"  # one visit per session: not said
    assert cells["**all pages**"] == "3.0 / 4.0 (3 visits, 1 timeout)"
    new = insert_column(text, bench.SECTION, bench.PAGES_CORNER, "2026-12-02 10:00 UTC", cells)
    assert "| page: p50 / p95 s | 2026-12-02 10:00 UTC | 21:44 UTC |" in new


def test_dashboard_scale_column_fits_its_table() -> None:
    from bench import dashboard_scale as bench
    from bench.dashboard_scale import Visit

    visits = {
        "Home": [Visit(9.24, 237.0, 500.0, ["a note"]), Visit(0.9, 990.0, 2200.0)],
        "Data › Top paths": [Visit(None, 300.0, 2300.0, ["not settled within 180 s"])],
    }
    cells = bench.column_cells(visits, 70.0, "2 CPUs, load 1.0 → 2.0", "python -m x --write")
    assert cells["Home"] == "9.2 / 0.9 (237 / 990)"
    assert cells["Data › Top paths"] == "**timeout** / – (300 / 300); not settled within 180 s"
    assert cells[bench.RSS_ROW] == "70; 300; 2,300"
    text = REAL.read_text(encoding="utf-8")
    new = insert_column(text, bench.SECTION, bench.CORNER, "2026-12-02 10:00 UTC", cells)
    assert "|  | 2026-12-02 10:00 UTC | 19:48 UTC |" in new
    assert "| Train | – | 4.7 / 0.4 (526 / 993) |" in new
    assert _outside(new, bench.SECTION) == _outside(text, bench.SECTION)


def _segments_rows():
    from bench import segments as bench

    measured = [{c: f"{c}!" for c in bench.COLUMNS} | {"names": ["a", "b"]}]
    ablation = {c: 1 for c in bench.ABLATION_KEYS} | {"weights": "default combination"}
    lead = ["2026-12-02 10:00", "box", "`python -m bench.segments`"]
    return bench.rows(measured, lead), bench.ablation_rows([ablation], "2026-12-02 10:00")


def test_segments_writes_both_tables_newest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import segments as bench

    rows, ablations = _segments_rows()
    assert rows[0][-1] == "a; b" and len(rows[0]) == len(bench.HEADERS)
    path = tmp_path / "RESULTS.md"
    path.write_text(SMALL, encoding="utf-8")
    monkeypatch.setattr(bench, "RESULTS", path)
    bench.record(rows, ablations)
    bench.record([[*rows[0][:-1], "newer"]], ablations)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(SMALL.rstrip("\n"))
    assert text.index("| newer |") < text.index("| a; b |") < text.index("| sample: blocks used")
    assert text.count("| default combination |") == 2


def test_segments_rows_fit_the_real_segments_table() -> None:
    from bench import segments as bench

    rows, _ = _segments_rows()
    _lands_on_top(bench.SECTION, bench.HEADERS, rows)


def test_recipe_row_fits_its_table() -> None:
    from bench import recipe as bench

    metrics = {"ndcg@10": 0.1, "hr@10": 0.2, "baselines": {
        "markov": {"ndcg@10": 0.05}, "popular": {"ndcg@10": 0.01}}}  # fmt: skip
    result = {"dataset": "sample", "minutes": 2.0, "full": metrics, "sampled": metrics,
              "summary": {"stopped": "budget", "epochs": 3, "best_epoch": 2, "seconds": 99}}  # fmt: skip
    row = bench.table_row(result, "box", "python -m bench.recipe --write")
    assert row[2] == "`python -m bench.recipe --write`"
    text = REAL.read_text(encoding="utf-8")
    if rt.section_span(text, bench.SECTION) is None:  # not run yet: the section is created
        new = insert_rows(text, bench.SECTION, bench.COLUMNS, [row], bench.INTRO)
        assert new.startswith(text.rstrip("\n")) and new.endswith(rt.markdown_row(row))
    else:
        _lands_on_top(bench.SECTION, bench.COLUMNS, [row])
