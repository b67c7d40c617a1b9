"""Calibrated anomaly flags: a clean log flags about the chosen share, planted bots get a tiny
false-alarm rate, the rate moves the count monotonically, and old files still get flags."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures_model import tiny_sequences

from core.analysis import run_info
from core.analysis.anomalies import ANOMALIES_FILE, score_anomalies
from core.analysis.anomaly_flags import (
    RATE_CHOICES,
    FlagConfig,
    false_alarm_rates,
    smallest_rate,
    summarize,
    with_flags,
)
from core.cli import main
from core.data.ingest import ingest
from core.data.store import load_sequences
from core.inference.loading import LoadedRun, load_run
from core.reports.sections import anomalies_section
from core.training.config import TrainConfig
from core.training.run import ModelOptions, train_on_sequences
from core.workspace import Workspace

HEADER = "user_id,timestamp,event_type,item_id,category"
CLEAN_USERS = 400  # users drawn from one process: any flag on them is a false alarm
START = np.datetime64("2024-03-01T00:00:00", "s")


def _session(rng: np.random.Generator, user: int, start: np.datetime64) -> list[str]:
    """One human-paced session: lognormal gaps, Zipf-ish items, view > cart > purchase."""
    n = int(rng.integers(3, 16))
    gaps = np.rint(rng.lognormal(np.log(35.0), 0.8, n)).astype(int)
    items = np.minimum(rng.zipf(1.6, n), 150) + 1000
    kinds = rng.choice(["view", "cart", "purchase"], n, p=[0.8, 0.15, 0.05])
    times = start + np.cumsum(gaps).astype("timedelta64[s]")
    return [f"u{user},{t}Z,{k},{i},c{i % 7}" for t, k, i in zip(times, kinds, items, strict=True)]


def clean_rows(users: int = CLEAN_USERS, seed: int = 0) -> list[str]:
    """`users` users, each 1-3 sessions on different days, all from the same process."""
    rng = np.random.default_rng(seed)
    rows: list[str] = []
    for user in range(users):
        for day in rng.choice(28, int(rng.integers(1, 4)), replace=False):
            start = START + np.timedelta64(int(day) * 86_400 + int(rng.integers(0, 80_000)), "s")
            rows += _session(rng, user, start)
    return rows


def bot_rows() -> list[str]:
    """A bot with 300 views one second apart and a crawler walking item ids in order."""
    bot = START + np.timedelta64(5 * 86_400, "s")
    crawl = START + np.timedelta64(9 * 86_400, "s")
    rows = [f"bot,{bot + np.timedelta64(s, 's')}Z,view,{1001 + s % 3},c1" for s in range(300)]
    rows += [
        f"crawler,{crawl + np.timedelta64(2 * s, 's')}Z,view,{1001 + s},c2" for s in range(120)
    ]
    return rows


def _ingest(folder: Path, name: str, rows: list[str]) -> Workspace:
    path = folder / f"{name}.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    workspace = Workspace(folder / "ws")
    ingest(path, name, workspace)
    return workspace


@dataclass
class CleanRun:
    workspace: Workspace
    loaded: LoadedRun


@functools.cache
def _clean_run(folder: Path) -> CleanRun:
    workspace = _ingest(folder, "clean", clean_rows())
    config = TrainConfig(epochs=1, eval_max_users=50, device="cpu", seed=0)
    options = ModelOptions(max_len=32, dim=16, layers=1, heads=1, dropout=0.1)
    sequences = load_sequences(workspace, "clean")
    train_on_sequences(sequences, "clean", workspace.run_dir("clean"), config, options)
    return CleanRun(workspace, load_run(workspace, "clean", "cpu"))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    return _clean_run(tmp_path_factory.mktemp("clean_log"))


@pytest.mark.parametrize("rate", [0.01, 0.05])
def test_clean_log_flags_about_the_chosen_share(clean: CleanRun, rate: float) -> None:
    sequences = load_sequences(clean.workspace, "clean")
    result = score_anomalies(clean.loaded, sequences, config=FlagConfig(rate))
    users = result.users
    share = float(users["flagged"].mean())
    print(f"clean log, {len(users)} users: {share:.2%} flagged at {rate:.0%}")
    assert len(users) == CLEAN_USERS
    assert int(users["flagged"].sum()) <= 3 * rate * len(users) + 3
    assert result.summary["false_alarm_rate"] == rate
    assert result.summary["flagged"] == int(users["flagged"].sum())
    assert ((users["false_alarm_rate"] <= rate) == users["flagged"]).all()


def test_planted_bots_get_the_smallest_false_alarm_rate(tmp_path: Path) -> None:
    workspace = _ingest(tmp_path, "planted", clean_rows(200, seed=1) + bot_rows())
    result = score_anomalies(None, load_sequences(workspace, "planted"))
    users = result.users.set_index("user_id")
    floor = smallest_rate(users["score"].to_numpy())
    assert floor < 0.01  # 200 ordinary users can show a rate below 1%
    for bot in ("bot", "crawler"):
        assert users.loc[bot, "flagged"]
        assert users.loc[bot, "false_alarm_rate"] == pytest.approx(floor)
    assert users.drop(index=["bot", "crawler"])["flagged"].sum() <= 3 * 0.01 * 200 + 3


def test_the_rate_moves_the_flagged_count_monotonically(clean: CleanRun) -> None:
    sequences = load_sequences(clean.workspace, "clean")
    users = score_anomalies(None, sequences).users
    counts = [summarize(users, rate).flagged for rate in RATE_CHOICES]
    assert counts == sorted(counts) and counts[-1] > counts[0]
    assert summarize(users, 0.1).flagged <= len(users)


def test_rates_are_conformal_and_trimmed() -> None:
    rng = np.random.default_rng(0)
    scores = np.r_[rng.exponential(1.0, 999), 40.0, 41.0, 42.0]  # three far outliers
    rates = false_alarm_rates(scores)
    floor = smallest_rate(scores)
    assert floor < 1 / 980  # the fence trims the far tail only
    assert rates[-3:] == pytest.approx(np.full(3, floor))  # none hides behind the others
    assert rates.max() <= 1.0 and (rates > 0).all()
    order = np.argsort(scores)
    assert (np.diff(rates[order]) <= 0).all()  # higher score, smaller rate
    assert float(np.mean(rates[:999] <= 0.05)) == pytest.approx(0.05, abs=0.02)
    assert smallest_rate(np.zeros(50)) == pytest.approx(1 / 51)
    with pytest.raises(ValueError, match="between 0 and 1"):
        FlagConfig(false_alarm_rate=1.5)


def test_files_without_rates_get_the_same_flags(tmp_path: Path) -> None:
    workspace = _ingest(tmp_path, "planted", clean_rows(120, seed=2) + bot_rows())
    users = score_anomalies(None, load_sequences(workspace, "planted")).users
    old = users.drop(columns=["false_alarm_rate", "flagged"])  # what the old code wrote
    again = with_flags(old, 0.01)
    assert (again["flagged"] == users["flagged"]).all()
    assert np.allclose(again["false_alarm_rate"], users["false_alarm_rate"])
    body = anomalies_section(old).body
    assert f"Flagged at a 1% false-alarm rate: {int(users['flagged'].sum()):,} of 122" in body


def test_no_strong_anomalies_is_said_when_none_is_flagged() -> None:
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(30)], "score": np.arange(30.0)})
    flags = summarize(users, 0.01)
    assert flags.flagged == 0 and flags.lowest_flagged_score is None
    assert flags.sentence().startswith("No strong anomalies at a 1% false-alarm rate")
    assert "smallest false-alarm rate this log can show is 3.2%" in flags.sentence()
    assert "No strong anomalies at a 1% false-alarm rate" in anomalies_section(users).body


def test_one_event_type_gives_no_event_mix_reasons() -> None:
    bot = [(i, "view", 3 + i % 2) for i in range(120)]
    people = [[(40 * s, "view", 3 + (u * 7 + s * 3) % 17) for s in range(6)] for u in range(40)]
    result = score_anomalies(None, tiny_sequences([bot, *people]))
    reasons = " ".join(result.users["reason"])
    assert "in a row" not in reasons and "(views)" not in reasons
    top = result.users.iloc[0]
    assert top["user_id"] == "u0" and "normal pace" in top["reason"]


def test_cli_takes_the_rate_and_reports_the_flagged_count(clean: CleanRun, capsys) -> None:
    root = str(clean.workspace.root)
    args = ["anomalies", "--run", "clean", "--workspace", root]
    assert main([*args, "--false-alarm-rate", "0.05"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    stored = pd.read_parquet(clean.workspace.run_dir("clean") / ANOMALIES_FILE)
    assert summary["false_alarm_rate"] == 0.05
    assert summary["flagged"] == int(stored["flagged"].sum())
    head = run_info.headline(clean.workspace, "clean", "clean")
    assert head.flagged == int((stored["false_alarm_rate"] <= head.flag_rate).sum())
    assert main([*args, "--false-alarm-rate", "2"]) == 2
    assert "--false-alarm-rate" in capsys.readouterr().err


def test_a_busy_session_at_ordinary_pace_is_not_called_1x_normal_pace() -> None:
    from core.analysis.anomalies import _phrase

    row = {"events": 31, "seconds": 960.0, "run_event": 0, "median_gap_s": 30.0}
    typical = {"median_gap_s": 30.0, "events_per_min": 0.6}
    phrase = _phrase("events_per_min", row, typical, ["view"])
    assert "normal pace" not in phrase
    assert phrase == "31 events (views) in 16 min, 1.9 a minute (typical 0.6)"
    fast = _phrase("median_gap_s", {**row, "median_gap_s": 3.0}, typical, ["view"])
    assert fast.endswith("10× normal pace")
