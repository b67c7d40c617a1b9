"""Item losses and the learning-rate schedule: the fused CPU losses equal the plain definitions."""

from __future__ import annotations

import math

import pytest
import torch

from core.model import fused_ce
from core.model.dropout import Dropout
from core.model.fused_sampled import accidental_hits, fused_sampled_softmax_loss
from core.model.losses import (
    fused_full_softmax_loss,
    plain_full_softmax_loss,
    plain_sampled_softmax_loss,
)
from core.model.precision import cpu_bf16_matmul_is_faster
from core.training.config import TrainConfig
from core.training.optim import lr_at


def _leaves(n: int, V: int, D: int, bias: bool) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(n, D, generator=gen).requires_grad_()
    weight = torch.randn(V, D, generator=gen).requires_grad_()
    b = (torch.randn(V, generator=gen) * 0.1).requires_grad_() if bias else None
    targets = torch.randint(3, V, (n,), generator=gen)
    return hidden, weight, b, targets


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("chunk_rows", [4, 64])  # several chunks, and one chunk
def test_fused_loss_matches_plain_loss_and_gradients(
    bias: bool, chunk_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fused_ce, "MIN_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(fused_ce, "CHUNK_ELEMENTS", 1)
    hidden, weight, b, targets = _leaves(n=13, V=40, D=8, bias=bias)
    plain = plain_full_softmax_loss(hidden, weight, b, targets) * 2.5  # non-unit upstream grad
    plain.backward()
    expected = [t.grad.clone() for t in (hidden, weight, b) if t is not None]
    for t in (hidden, weight, b):
        if t is not None:
            t.grad = None
    fused = fused_full_softmax_loss(hidden, weight, b, targets) * 2.5
    fused.backward()
    assert fused.item() == pytest.approx(plain.item(), rel=1e-5)
    got = [t.grad for t in (hidden, weight, b) if t is not None]
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)
    assert weight.grad[:3].abs().max() == 0  # reserved ids never compete, so get no gradient


def test_fused_loss_survives_huge_logits() -> None:
    hidden, weight, _, targets = _leaves(n=5, V=20, D=4, bias=False)
    with torch.no_grad():
        weight.mul_(1e3)  # logits ~ 1e3: exp would overflow without the max shift
    loss = fused_full_softmax_loss(hidden, weight, None, targets)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(
        plain_full_softmax_loss(hidden, weight, None, targets).item()
    )


def test_warmup_is_in_steps_and_capped_by_planned_steps() -> None:
    config = TrainConfig(lr=1.0, warmup_steps=10, warmup_fraction=0.5, min_lr_ratio=0.1)
    assert lr_at(0, 1000, config) == pytest.approx(0.1)
    assert lr_at(9, 1000, config) == pytest.approx(1.0)
    assert lr_at(0, 8, config) == pytest.approx(0.25)  # 8 planned steps: warm-up capped at 4


def test_time_budget_drives_the_decay() -> None:
    config = TrainConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    by_steps = lr_at(20, 100_000, config)  # early in a long step plan: still near the peak
    assert by_steps > 0.99
    assert lr_at(20, 100_000, config, time_used=0.5) == pytest.approx(0.55)
    assert lr_at(20, 100_000, config, time_used=1.0) == pytest.approx(0.1)


def _grads(loss: torch.Tensor, leaves: list[torch.Tensor]) -> list[torch.Tensor]:
    loss.backward()
    grads = [t.grad.clone() for t in leaves]
    for t in leaves:
        t.grad = None
    return grads


@pytest.mark.parametrize("sparse_grad", [False, True])  # True: row-sparse table gradient
@pytest.mark.parametrize("bias", [False, True])
def test_fused_sampled_loss_matches_plain_loss_and_gradients(bias: bool, sparse_grad: bool) -> None:
    hidden, weight, b, targets = _leaves(n=17, V=30, D=8, bias=bias)
    leaves = [t for t in (hidden, weight, b) if t is not None]
    # duplicates among the negatives, and several of them equal to some targets (accidental hits)
    negatives = torch.cat([targets[:3], targets[:2], torch.tensor([3, 4, 5, 29, 29])])
    log_q = torch.log_softmax(torch.randn(30, generator=torch.Generator().manual_seed(1)), 0)
    correction = log_q[negatives] + math.log(len(negatives))
    plain = plain_sampled_softmax_loss(hidden, weight, b, targets, negatives, log_q) * 1.5
    fused = fused_sampled_softmax_loss(
        hidden, weight, b, targets, negatives, correction, sparse_grad=sparse_grad
    )
    fused = fused * 1.5
    assert fused.item() == pytest.approx(plain.item(), rel=1e-5)
    expected, got = _grads(plain, leaves), _grads(fused, leaves)
    assert got[1].is_sparse == sparse_grad
    for g, e in zip(got, expected, strict=True):
        g = g.to_dense() if g.is_sparse else g
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)


def test_accidental_hits_finds_every_equal_pair() -> None:
    targets = torch.tensor([5, 7, 5, 9])
    negatives = torch.tensor([7, 5, 3, 5, 8])
    rows, cols = accidental_hits(targets, negatives)
    found = sorted(zip(rows.tolist(), cols.tolist(), strict=True))
    expected = sorted((r, c) for r in range(4) for c in range(5) if targets[r] == negatives[c])
    assert found == expected == [(0, 1), (0, 3), (1, 0), (2, 1), (2, 3)]


@pytest.mark.parametrize("loss", ["full", "sampled"])
def test_bf16_matmuls_stay_close_to_float32(loss: str) -> None:
    hidden, weight, _, targets = _leaves(n=64, V=500, D=16, bias=False)
    with torch.no_grad():
        weight.mul_(0.3)  # logits of a few units, as in training
    leaves = [hidden, weight]
    negatives = torch.randint(3, 500, (200,), generator=torch.Generator().manual_seed(2))
    correction = torch.full((200,), math.log(200 / 497))

    def compute(dtype: torch.dtype) -> torch.Tensor:
        if loss == "full":
            return fused_full_softmax_loss(hidden, weight, None, targets, dtype)
        return fused_sampled_softmax_loss(
            hidden, weight, None, targets, negatives, correction, dtype
        )

    exact, low = compute(torch.float32), compute(torch.bfloat16)
    assert low.item() == pytest.approx(exact.item(), rel=5e-3)
    for g, e in zip(_grads(low, leaves), _grads(exact, leaves), strict=True):
        assert ((g - e).norm() / e.norm()).item() < 2e-2  # bf16 rounding, not a wrong gradient


@pytest.mark.parametrize(
    ("seconds", "forced", "expected"),
    [
        ({"float32": 2.0, "bfloat16": 1.0}, None, True),  # 2x faster: worth its rounding
        ({"float32": 1.2, "bfloat16": 1.0}, None, False),  # 1.2x: below SPEEDUP_NEEDED
        ({"float32": 1.0, "bfloat16": 3.0}, None, False),  # emulated bf16
        (None, None, False),  # no bf16 kernel at all
        ({"float32": 2.0, "bfloat16": 1.0}, "0", False),  # forced off: no timing
        ({"float32": 1.0, "bfloat16": 3.0}, "1", True),  # forced on
    ],
)
def test_bf16_is_used_only_where_it_is_measured_clearly_faster(
    monkeypatch: pytest.MonkeyPatch, seconds, forced, expected: bool
) -> None:
    from core.model import precision

    def timed(multiply) -> float:
        if seconds is None:
            raise RuntimeError("no bf16 kernel")
        return seconds[str(multiply().dtype).removeprefix("torch.")]

    monkeypatch.setattr(precision, "_best_seconds", timed)
    if forced is None:
        monkeypatch.delenv("BEHAVIOR_LENS_CPU_BF16", raising=False)
    else:
        monkeypatch.setenv("BEHAVIOR_LENS_CPU_BF16", forced)
    precision.cpu_bf16_matmul_is_faster.cache_clear()
    try:
        assert cpu_bf16_matmul_is_faster() is expected
    finally:
        precision.cpu_bf16_matmul_is_faster.cache_clear()


def test_cpu_dropout_keeps_the_expected_share_and_scale() -> None:
    torch.manual_seed(0)
    drop = Dropout(0.3).train()
    x = torch.ones(200, 500)
    y = drop(x)
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.01)
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    assert torch.equal(drop.eval()(x), x)
