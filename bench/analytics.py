"""Behaviour analytics and report speed on the real Taobao head log (shared/data/taobao).

    .venv/bin/python -m bench.analytics [--copies 1]

The log is converted once into an events.parquet of the contract schema (30-minute sessions);
`--copies N` repeats it with renamed users to see how the DuckDB queries scale. Baselines,
measured in the same run: the same answers computed in pandas (the volume by a groupby, the
funnel by a per-user Python loop, the way one writes it without SQL).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.sasrec_reference import machine_note, record_results
from core.analysis.behaviour import data_summary, event_volume, funnel, retention, top_paths
from core.workspace import Workspace, atomic_write_json

TAOBAO = Path(__file__).resolve().parents[2] / "shared/data/taobao/UserBehavior_head84474.csv"
SESSION_GAP_S = 30 * 60  # a new session after 30 minutes without events
STEPS = ["pv", "cart", "buy"]


def taobao_events(copies: int) -> pd.DataFrame:
    raw = pd.read_csv(TAOBAO, header=None, names=["user_id", "item", "category", "event", "t"])
    raw = raw.astype({"user_id": str, "item": str, "category": str})
    raw = pd.concat([raw.assign(user_id=raw["user_id"] + f"-{c}") for c in range(copies)])
    raw["src_row"] = range(1, len(raw) + 1)
    raw = raw.sort_values(["user_id", "t", "src_row"], kind="stable").reset_index(drop=True)
    raw["ts"] = pd.to_datetime(raw["t"], unit="s", utc=True).astype("datetime64[ms, UTC]")
    new_user = raw["user_id"] != raw["user_id"].shift()
    new_session = new_user | (raw["t"].diff() > SESSION_GAP_S)
    raw["session_idx"] = new_session.cumsum() - 1
    raw["user_idx"] = (new_user.cumsum() - 1).astype("int32")
    for column in ("item_idx", "event_idx", "category_idx"):
        raw[column] = pd.Series(3, index=raw.index, dtype="int32")
    return raw.drop(columns="t")


def pandas_funnel(frame: pd.DataFrame) -> list[int]:
    """Baseline: users reaching each step in order, one Python loop per user."""
    counts = [0] * len(STEPS)
    for _, events in frame.groupby("user_idx", sort=False)["event"]:
        k = 0
        for event in events:
            if k < len(STEPS) and event == STEPS[k]:
                counts[k] += 1
                k += 1
    return counts


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1, help="repeat the log N times")
    args = parser.parse_args(argv)
    if not TAOBAO.is_file():
        print(f"skipped: {TAOBAO} not found", file=sys.stderr)
        return 0
    from core.reports.build import build_report

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp))
        folder = ws.dataset_dir("taobao")
        folder.mkdir(parents=True)
        frame = taobao_events(args.copies)
        path = folder / "events.parquet"
        frame.to_parquet(path, index=False)
        atomic_write_json(folder / "manifest.json", {"name": "taobao", "has_time": True})
        rows = _measure(ws, path, build_report)
    note = f"{len(frame):,} events, {frame['user_idx'].nunique():,} users; {machine_note()}"
    command = f"python -m bench.analytics --copies {args.copies}"
    record_results(
        "Behaviour analytics (DuckDB) on Taobao head",
        [
            "date",
            "what",
            "seconds",
            "baseline (pandas) s",
            "baseline / ours",
            "data / machine",
            "command",
        ],
        [[time.strftime("%Y-%m-%d"), *row, note, command] for row in rows],
    )
    for row in rows:
        print(row)
    return 0


def _measure(ws: Workspace, path: Path, build_report) -> list[list[object]]:
    table, t_funnel = timed(funnel, path, STEPS, within="user")
    frame = pd.read_parquet(path, columns=["user_idx", "event", "ts"])
    base_counts, t_base_funnel = timed(pandas_funnel, frame)
    assert table["count"].tolist() == base_counts, (table, base_counts)
    _, t_volume = timed(event_volume, path, "day")
    _, t_base_volume = timed(
        lambda: (
            pd.read_parquet(path, columns=["ts", "event"])
            .groupby([pd.Grouper(key="ts", freq="D"), "event"])
            .size()
        )
    )
    _, t_ret = timed(retention, path, "week")
    _, t_paths = timed(top_paths, path, length=4)
    _, t_sum = timed(data_summary, path)
    from core.reports.request import ReportRequest

    html, t_report = timed(build_report, ws, ReportRequest("taobao"))
    return [
        ["funnel pv→cart→buy (users)", f"{t_funnel:.3f}", f"{t_base_funnel:.3f}",
         f"{t_base_funnel / t_funnel:.1f}"],
        ["volume per day", f"{t_volume:.3f}", f"{t_base_volume:.3f}",
         f"{t_base_volume / t_volume:.1f}"],
        ["retention by week", f"{t_ret:.3f}", "", ""],
        ["top paths (length 4)", f"{t_paths:.3f}", "", ""],
        ["data summary", f"{t_sum:.3f}", "", ""],
        [f"whole HTML report ({len(html) / 1024:.0f} KiB)", f"{t_report:.3f}", "", ""],
    ]  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
