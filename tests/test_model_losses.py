"""Item losses and the learning-rate schedule: the fused CPU loss equals the plain definition."""

from __future__ import annotations

import pytest
import torch

from core.model import fused_ce
from core.model.losses import fused_full_softmax_loss, plain_full_softmax_loss
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
