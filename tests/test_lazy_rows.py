"""LazyRowAdamW must move the item table exactly as dense AdamW does, reading only some rows."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from core.training.lazy_rows import LazyRowAdamW

ROWS, DIM = 40, 3


def _pair(seed: int = 0, fused: bool = False) -> tuple:
    """A (table, matrix) model twice: one under dense AdamW, one under LazyRowAdamW."""
    torch.manual_seed(seed)
    table, matrix = torch.randn(ROWS, DIM), torch.randn(DIM, DIM)
    dense_params = [nn.Parameter(table.clone()), nn.Parameter(matrix.clone())]
    lazy_params = [nn.Parameter(table.clone()), nn.Parameter(matrix.clone())]

    def groups(params: list[nn.Parameter]) -> list[dict]:
        return [
            {"params": [params[1]], "weight_decay": 0.1},
            {"params": [params[0]], "weight_decay": 0.0},
        ]

    kw = {"lr": 1e-2, "betas": (0.9, 0.98), "fused": fused}
    dense = torch.optim.AdamW(groups(dense_params), **kw)
    lazy = LazyRowAdamW(groups(lazy_params), table=lazy_params[0], **kw)
    return dense_params, dense, lazy_params, lazy


def _step(params, optimizer, rows, values, matrix_grad, lr, sparse: bool) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
    if sparse:
        params[0].grad = torch.sparse_coo_tensor(
            rows[None], values, (ROWS, DIM), check_invariants=False
        )
    else:
        params[0].grad = torch.zeros(ROWS, DIM).index_add_(0, rows, values)
    params[1].grad = matrix_grad.clone()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


@pytest.mark.parametrize("fused", [False, True])
def test_same_weights_and_moments_as_dense_adamw(fused: bool) -> None:
    dense_params, dense, lazy_params, lazy = _pair(fused=fused)
    gen = torch.Generator().manual_seed(1)
    hot = torch.arange(5)  # rows touched every step; the rest now and then, some never again
    for step in range(700):  # longer than the window (~290 steps): old momentum must not count
        lr = 1e-2 * (0.5 + 0.5 * torch.rand(1, generator=gen).item())
        rare = torch.randint(5, ROWS if step < 50 else ROWS // 2, (4,), generator=gen)
        rows = torch.cat([hot, rare, rare[:1]])  # a duplicate, as a sparse gradient has them
        values = torch.randn(len(rows), DIM, generator=gen) * 0.1
        matrix_grad = torch.randn(DIM, DIM, generator=gen)
        _step(dense_params, dense, rows, values, matrix_grad, lr, sparse=False)
        read = torch.unique(torch.randint(0, ROWS, (6,), generator=gen))
        lazy.catch_up(read)  # a forward pass reads these: they must be current now
        _step(lazy_params, lazy, rows, values, matrix_grad, lr, sparse=True)
        if step % 97 == 0:
            lazy.catch_up(read)
            torch.testing.assert_close(lazy_params[0][read], dense_params[0][read])
    lazy.sync()
    for ours, theirs in zip(lazy_params, dense_params, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(lazy.state[ours][key], dense.state[theirs][key])


def test_checkpoints_interchange_with_dense_adamw() -> None:
    dense_params, dense, lazy_params, lazy = _pair(seed=2)
    gen = torch.Generator().manual_seed(3)
    plan = [
        (torch.randint(0, ROWS, (5,), generator=gen), torch.randn(5, DIM, generator=gen))
        for _ in range(40)
    ]
    matrix_grad = torch.ones(DIM, DIM)
    for rows, values in plan[:20]:
        _step(lazy_params, lazy, rows, values, matrix_grad, 1e-2, sparse=True)
        _step(dense_params, dense, rows, values, matrix_grad, 1e-2, sparse=False)
    saved = lazy.state_dict()  # syncs first: a plain AdamW state
    reloaded_params = [nn.Parameter(p.detach().clone()) for p in lazy_params]
    plain = torch.optim.AdamW(
        [
            {"params": [reloaded_params[1]], "weight_decay": 0.1},
            {"params": [reloaded_params[0]], "weight_decay": 0.0},
        ],
        lr=1e-2,
        betas=(0.9, 0.98),
    )
    plain.load_state_dict(copy.deepcopy(saved))  # copies: loading shares the tensors
    lazy.load_state_dict(copy.deepcopy(dense.state_dict()))  # and the other way round
    for rows, values in plan[20:]:
        _step(reloaded_params, plain, rows, values, matrix_grad, 1e-2, sparse=False)
        _step(lazy_params, lazy, rows, values, matrix_grad, 1e-2, sparse=True)
        _step(dense_params, dense, rows, values, matrix_grad, 1e-2, sparse=False)
    lazy.sync()
    torch.testing.assert_close(lazy_params[0], dense_params[0])
    torch.testing.assert_close(reloaded_params[0], dense_params[0])


def test_refuses_weight_decay_on_the_table() -> None:
    table = nn.Parameter(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="weight decay"):
        LazyRowAdamW([{"params": [table], "weight_decay": 0.1}], table=table, lr=1e-3)


@pytest.mark.parametrize(("objective", "nsp"), [("causal", False), ("masked", True)])
def test_trainer_with_lazy_rows_trains_like_dense_updates(objective: str, nsp: bool) -> None:
    """Same batches, same negatives (no dropout draws in between): same weights after 2 epochs,
    sparse kernel, catch-ups before each read and the sync at the end included."""
    from core.model import BehaviorTransformer, ModelConfig
    from core.training.config import TrainConfig
    from core.training.synthetic import synthetic_sequences
    from core.training.trainer import Trainer

    seqs = synthetic_sequences(num_users=48, num_items=60, num_event_types=3)
    config = ModelConfig(
        num_items=len(seqs.item_vocab),
        num_events=len(seqs.event_vocab),
        max_len=12,
        dim=16,
        dropout=0.0,
    )
    models, optimizers = [], []
    for updates in ("rows", "dense"):
        torch.manual_seed(0)
        train = TrainConfig(
            objective=objective, nsp=nsp, loss="sampled", negatives=8, batch_size=8,
            item_updates=updates, epochs=2, lr=3e-3,
        )  # fmt: skip
        trainer = Trainer(BehaviorTransformer(config), seqs, train)
        trainer.fit()
        models.append(trainer.model.state_dict())
        optimizers.append(type(trainer.optimizer))
    assert optimizers == [LazyRowAdamW, torch.optim.AdamW]
    for name, value in models[0].items():
        torch.testing.assert_close(value, models[1][name], rtol=1e-4, atol=1e-5)


def test_clipping_counts_each_row_of_a_sparse_gradient_once() -> None:
    from core.training.trainer import clip_gradients

    model = nn.Embedding(5, 2)
    rows = torch.tensor([[1, 1, 3]])  # row 1 twice: (3, 4) + (0, 0) -> norm 5 with row 3's 0
    model.weight.grad = torch.sparse_coo_tensor(
        rows, torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, 0.0]]), (5, 2), check_invariants=False
    )
    clip_gradients(model, max_norm=1.0)
    dense = model.weight.grad.to_dense()
    torch.testing.assert_close(dense[1], torch.tensor([0.6, 0.8]), rtol=1e-4, atol=1e-6)
    assert float(dense.norm()) == pytest.approx(1.0, rel=1e-4)
