"""Thread choice and the automatic item-loss choice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from core.training import threads


def test_idle_cores_subtracts_what_runs_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "others_runnable", lambda: 2.6)
    assert threads.idle_cores() == 5
    monkeypatch.setattr(threads, "others_runnable", lambda: 11.0)
    assert threads.idle_cores() == 1  # an overloaded machine still gets one thread


def test_a_quiet_machine_gets_every_core_whatever_the_lagging_load_average(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Right after another job, the 1-minute average still says 2.0 on an idle 2-core box."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    monkeypatch.setattr(threads, "others_runnable", lambda: 0.1)
    assert threads.idle_cores() == 2
    monkeypatch.setattr(threads, "others_runnable", lambda: None)  # no /proc: the average
    assert threads.idle_cores() == 1


def test_run_queue_is_read_from_proc_minus_our_own_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("0.50 0.40 0.30 4/321 9999\n")
    monkeypatch.setattr(threads, "LOADAVG", loadavg)
    monkeypatch.setattr(threads, "QUEUE_SAMPLES", 3)
    monkeypatch.setattr(threads, "own_runnable", lambda: 1)
    assert threads.others_runnable() == 3.0
    loadavg.write_text("garbage")
    assert threads.others_runnable() is None
    assert threads.own_runnable() >= 1  # the real /proc: this very thread is running


@pytest.mark.parametrize(
    ("v2", "v1", "expected"),
    [("150000 100000", None, 2), ("max 100000", None, None), (None, "-1", None),
     (None, "300000", 3)],
)  # fmt: skip
def test_cgroup_quota_v2_and_v1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, v2: str | None, v1: str | None, expected
) -> None:
    (tmp_path / "cpu").mkdir()
    v2_file, v1_file = tmp_path / "cpu.max", tmp_path / "cpu" / "cpu.cfs_quota_us"
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    if v2 is not None:
        v2_file.write_text(v2 + "\n")
    if v1 is not None:
        v1_file.write_text(v1 + "\n")
    monkeypatch.setattr(threads, "CGROUP_QUOTAS", (v2_file, v1_file))
    assert threads.cgroup_quota() == expected


def test_recheck_follows_the_idle_cores_unless_the_user_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setattr(threads, "auto_threads", lambda: 2)
        recheck = threads.ThreadRecheck(requested=None, every_s=0.0)
        assert recheck.maybe_update() == 2 and torch.get_num_threads() == 2
        assert recheck.maybe_update() is None  # unchanged
        assert threads.ThreadRecheck(requested=1, every_s=0.0).maybe_update() is None
        assert threads.ThreadRecheck(requested=None, every_s=3600).maybe_update() is None
    finally:
        torch.set_num_threads(before)


def test_set_training_threads_applies_the_request() -> None:
    before = torch.get_num_threads()
    try:
        assert threads.set_training_threads(1) == 1
        assert torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="threads"):
            threads.set_training_threads(0)
    finally:
        torch.set_num_threads(before)
