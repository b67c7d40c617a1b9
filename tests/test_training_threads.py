"""Thread choice and the automatic item-loss choice."""

from __future__ import annotations

import os

import pytest
import torch

from core.training import threads
from core.training.config import TrainConfig


def test_idle_cores_subtracts_other_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.6, 0.0, 0.0))
    assert threads.idle_cores() == 5
    monkeypatch.setattr(os, "getloadavg", lambda: (11.0, 0.0, 0.0))
    assert threads.idle_cores() == 1  # an overloaded machine still gets one thread


def test_set_training_threads_applies_the_request() -> None:
    before = torch.get_num_threads()
    try:
        assert threads.set_training_threads(1) == 1
        assert torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="threads"):
            threads.set_training_threads(0)
    finally:
        torch.set_num_threads(before)


def test_auto_loss_is_sampled_sooner_on_cpu() -> None:
    config = TrainConfig()
    assert not config.use_sampled_loss(5_000, on_cpu=True)
    assert config.use_sampled_loss(54_545, on_cpu=True)  # Amazon Beauty on a CPU
    assert not config.use_sampled_loss(54_545, on_cpu=False)  # full softmax on a GPU
    assert not TrainConfig(loss="full").use_sampled_loss(10**6, on_cpu=True)
