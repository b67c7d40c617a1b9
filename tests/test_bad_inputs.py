"""The bad-input contract: each file of tests/data/bad/ (EXPECTED.json says what it must give),
and four large ones generated once per session, is refused with one located message or ingested
with its bad rows counted, through the CLI (a subprocess under a 4 GB address-space cap and a
timeout: no traceback, no hang, no runaway memory) and through the dashboard's upload path.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from test_bad_inputs_support import Outcome, assert_consistent, run_cli, run_upload

from core.data.build import latest_per_user
from core.data.ingest import IngestOptions, ingest
from core.data.limits import IngestLimits, parse_size
from core.data.textscan import line_number, scan_text
from core.errors import InputError
from core.workspace import Workspace

BAD = Path(__file__).parent / "data" / "bad"
EXPECTED: dict[str, dict[str, Any]] = {
    name: spec
    for name, spec in json.loads((BAD / "EXPECTED.json").read_text()).items()
    if not name.startswith("_")
}
CLI_WORKERS = 3  # CLI runs in flight at once (each is mostly interpreter start-up)
GOOD_ROWS = 1000  # good rows on each side of the 10 MB field
MILLION = 1_000_000


@dataclass(frozen=True)
class Case:
    """A file, the CLI flags and environment to ingest it with, and what must come out."""

    file: str
    spec: dict[str, Any]
    flags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    limits: IngestLimits | None = None  # the same limits for the upload path


def _write_csv(path: Path, select: str) -> Path:
    """A large CSV written by DuckDB from `select` (fast; never committed)."""
    with duckdb.connect() as con:
        con.execute(f"COPY ({select}) TO '{path}' (HEADER, DELIMITER ',')")
    return path


def _gzip_bomb(path: Path, expanded: int = 2 << 30) -> Path:
    """A ~2 MB .csv.gz that expands to `expanded` bytes of one repeated line (gzip members
    concatenated: one compressed 64 MB block, written many times)."""
    line = b"u1,1700000000,view,i1\n"
    block = gzip.compress(line * ((64 << 20) // len(line)), compresslevel=9)
    with path.open("wb") as out:
        out.write(gzip.compress(b"user_id,timestamp,event_type,item_id\n"))
        for _ in range(expanded // (64 << 20)):
            out.write(block)
    return path


def _big_field(path: Path) -> Path:
    rows = [f"u{i % 40},{1_700_000_000 + i},view,i{i % 90}\n" for i in range(GOOD_ROWS)]
    with path.open("w") as out:
        out.write("user_id,timestamp,event_type,item_id\n")
        out.writelines(rows)
        out.write("u1,1700000000,view," + "x" * (10 << 20) + "\n")  # line GOOD_ROWS + 2
        out.writelines(rows)
    return path


LARGE: dict[str, Callable[[Path], Path]] = {
    "bomb.csv.gz": _gzip_bomb,
    "big_field.csv": _big_field,
    "one_user.csv": lambda p: _write_csv(p, (
        "SELECT 'bot' AS user_id, 1700000000 + i AS timestamp, "
        "CASE WHEN i % 2 = 0 THEN 'view' ELSE 'cart' END AS event_type, "
        f"'i' || (i % 500) AS item_id FROM range({MILLION}) t(i)")),
    "many_items.csv": lambda p: _write_csv(p, (
        "SELECT 'u' || (i % 1000) AS user_id, 1700000000 + i AS timestamp, "
        f"'i' || i AS item_id FROM range({MILLION}) t(i)")),
}  # fmt: skip
ROWS_CAP = 100_000
LARGE_CASES = [
    Case("bomb.csv.gz", {"refused": "gzip-compressed file; unpack it first", "at": ""}),
    Case("big_field.csv", {"events": 2 * GOOD_ROWS, "rejected_rows": 1,
                           "warnings": [f":{GOOD_ROWS + 2}: line size over maximum"]}),
    Case("one_user.csv", {"events": 100_000, "rejected_rows": 0, "trimmed_events": 900_000,
                          "warnings": ["1 user had more than 100,000 events; their latest "
                                       "100,000 were kept and 900,000 older events dropped"]}),
    Case("many_items.csv", {"events": MILLION, "rejected_rows": 0, "items": MILLION}),
    Case("many_items.csv", {"refused": "distinct item ids (limit: 400,000 items", "at": ""},
         flags=("--max-items", "400000"), limits=IngestLimits(max_items=400_000)),
    Case("one_user.csv", {"refused": f"holds more than {ROWS_CAP:,} rows", "at": ""},
         env=(("BEHAVIOR_LENS_MAX_ROWS", str(ROWS_CAP)),), limits=IngestLimits(max_rows=ROWS_CAP)),
    Case("one_user.csv", {"refused": "the file is", "at": ""},
         flags=("--max-file-bytes", "1M"), limits=IngestLimits(max_file_bytes=1 << 20)),
]  # fmt: skip
CORPUS_CASES = [Case(name, spec) for name, spec in EXPECTED.items()]
ALL_CASES = CORPUS_CASES + LARGE_CASES


def case_id(case: Case) -> str:
    return "-".join([case.file, *case.flags, *(k for k, _ in case.env)])


@pytest.fixture(scope="session")
def large_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("large_bad")
    for name, make in LARGE.items():
        make(folder / name)
    return folder


def _path(case: Case, large: Path) -> Path:
    return large / case.file if case.file in LARGE else BAD / case.file


@pytest.fixture(scope="session")
def cli_outcomes(
    large_files: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Outcome, Path]]:
    """Every case through the CLI once, a few processes at a time (start-up dominates)."""
    root = tmp_path_factory.mktemp("cli_ws")

    def one(index: int, case: Case) -> tuple[Outcome, Path]:
        workspace = root / f"ws{index}"
        outcome = run_cli(_path(case, large_files), workspace, *case.flags, env=dict(case.env))
        return outcome, workspace

    with ThreadPoolExecutor(CLI_WORKERS) as pool:
        results = list(pool.map(one, range(len(ALL_CASES)), ALL_CASES))
    return {case_id(case): result for case, result in zip(ALL_CASES, results, strict=True)}


def _location(spec: dict[str, Any]) -> str:
    return f":{spec['at']}" if spec.get("at") else ""


def check(outcome: Outcome, spec: dict[str, Any], file_shown: str, workspace: Workspace) -> None:
    """One expectation of EXPECTED.json (or LARGE_CASES) against one outcome."""
    assert "Traceback" not in outcome.stderr, outcome.stderr
    if "refused" in spec:
        assert outcome.code == 2, (outcome.code, outcome.summary)
        assert outcome.error.count("\n") == 0, outcome.error  # one line
        assert outcome.error.startswith(f"{file_shown}{_location(spec)}: "), outcome.error
        assert spec["refused"] in outcome.error
        assert workspace.dataset_names() == [], "a refused file must leave no dataset"
        return
    assert outcome.code == 0, outcome.error or outcome.stderr
    summary = outcome.summary or {}
    for key in ("events", "rejected_rows", "trimmed_events", "items"):
        if key in spec:
            assert summary.get(key, 0) == spec[key], (key, summary)
    for text in spec.get("warnings", []):
        assert any(text in w for w in outcome.warnings), (text, outcome.warnings)
    assert_consistent(workspace, summary)


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_cli(case: Case, cli_outcomes: dict[str, tuple[Outcome, Path]], large_files: Path) -> None:
    outcome, workspace = cli_outcomes[case_id(case)]
    check(outcome, case.spec, str(_path(case, large_files)), Workspace(workspace))


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_upload(case: Case, large_files: Path, tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    outcome = run_upload(_path(case, large_files), workspace, case.limits)
    spec = {**case.spec, "refused": case.spec.get("refused", "").split(" (")[0]}
    if not spec["refused"]:
        del spec["refused"]
    check(outcome, spec, case.file, workspace)


def test_corpus_files_are_small_and_all_listed() -> None:
    data = {p.name for p in BAD.iterdir()} - {"EXPECTED.json", "build_corpus.py"}
    assert data == set(EXPECTED)
    assert all((BAD / name).stat().st_size <= 8 << 10 for name in data)


def test_a_gzip_named_csv_is_refused_as_compressed(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(gzip.compress(b"user_id,timestamp,item_id\nu1,1700000000,i1\n"))
    with pytest.raises(InputError, match="gzip-compressed"):
        ingest(path, "d", Workspace(tmp_path / "ws"))


def test_a_nul_byte_past_the_sniffed_head_rejects_its_row(tmp_path: Path) -> None:
    good = "".join(f"u{i % 9},{1_700_000_000 + i},view,i{i % 5}\n" for i in range(20_000))
    path = tmp_path / "log.csv"  # > 256 KB before the NUL: the sniffer never sees it
    path.write_bytes(f"user_id,timestamp,event_type,item_id\n{good}".encode()
                     + b"u1,1700000000,vi\x00ew,i1\n" + good.encode())  # fmt: skip
    summary = ingest(path, "d", Workspace(tmp_path / "ws"))
    assert summary["events"] == 40_000 and summary["rejected_rows"] == 1
    assert "vi\x00ew" not in summary["event_types"]


def test_an_over_long_text_line_is_refused_with_its_row(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    with path.open("w") as out:
        out.write("user_id,timestamp,item_id\nu1,1700000000,i1\n")
        out.write("u2,1700000001," + "y" * (65 << 20) + "\nu3,1700000002,i3\n")
    with pytest.raises(InputError, match="a line of 65 MB") as error:
        ingest(path, "d", Workspace(tmp_path / "ws"))
    assert error.value.row == 3


@pytest.mark.parametrize(
    ("text", "value"), [("500000", 500_000), ("500_000", 500_000), ("2G", 2 << 30),
                        ("512MiB", 512 << 20), ("0", 0)],
)  # fmt: skip
def test_limit_sizes_parse(text: str, value: int) -> None:
    assert parse_size(text) == value


def test_limits_come_from_the_environment_and_flags_win() -> None:
    limits = IngestLimits.from_env(
        {"BEHAVIOR_LENS_MAX_ROWS": "1000", "BEHAVIOR_LENS_MAX_ITEMS": ""}
    )
    assert limits.max_rows == 1000 and limits.max_items == IngestLimits().max_items
    assert limits.overridden(max_rows=5, max_items=None).max_rows == 5
    with pytest.raises(InputError, match="BEHAVIOR_LENS_MAX_ROWS"):
        IngestLimits.from_env({"BEHAVIOR_LENS_MAX_ROWS": "lots"})


def test_ingest_options_read_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHAVIOR_LENS_MAX_EVENTS_PER_USER", "7")
    assert IngestOptions().limits.max_events_per_user == 7


@pytest.mark.parametrize("chunk", [1000, 4097, 1 << 20, 8 << 20])
def test_the_longest_line_is_found_whatever_the_block_size(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b"a,b\n" + b"x" * (3 << 20) + b"\nu,i\n" + b"y" * (2 << 20))
    scan = scan_text(path, chunk)
    assert (scan.longest_line, scan.longest_at) == (3 << 20, 4)
    assert line_number(path, scan.longest_at, chunk) == 2


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("u,i\nu1,café\n".encode(), "utf-8"),
        ("u,i\nu1,café\nu2,crème\n".encode("latin-1"), "latin-1"),
        (b"u,i\n" + "u1,café\n".encode() * 3 + "u2,crème\n".encode("latin-1"), "mixed"),
    ],
)
def test_utf8_latin1_and_mixed_files_are_told_apart(
    tmp_path: Path, content: bytes, encoding: str
) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(content)
    assert scan_text(path).encoding == scan_text(path, chunk=3).encoding == encoding


def test_latest_per_user_keeps_each_users_last_events() -> None:
    user_idx = np.array([0, 0, 0, 1, 1, 2], dtype=np.int32)  # sorted by (user, time)
    keep, users_cut = latest_per_user(user_idx, 2)
    assert keep is not None and keep.tolist() == [False, True, True, True, True, True]
    assert users_cut == 1
    assert latest_per_user(user_idx, 3) == (None, 0) and latest_per_user(user_idx, 0) == (None, 0)
