"""Explanations: rollout is a row-stochastic flow, IG is complete, attention is the model's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.analysis.explain import explain_events, explain_user
from core.analysis.integrated_gradients import integrated_gradients
from core.analysis.rollout import attention_rollout
from core.errors import BehaviorLensError, NotFoundError
from core.inference.loading import LoadedRun
from core.model import BehaviorTransformer, ModelConfig
from core.training.config import TrainConfig
from core.training.synthetic import synthetic_sequences
from core.training.windows import FlatInputs, gather, vocab_hash


@pytest.fixture(scope="module")
def sequences():
    return synthetic_sequences(num_users=12, num_items=25, num_event_types=3, max_len=14)


def loaded_run(sequences, mode: str = "causal") -> LoadedRun:
    """A randomly initialised run: the explanation maths must hold for any weights."""
    torch.manual_seed(0)
    config = ModelConfig(
        num_items=len(sequences.item_vocab),
        num_events=len(sequences.event_vocab),
        num_categories=len(sequences.category_vocab),
        max_len=10,
        dim=16,
        layers=2,
        heads=2,
        dropout=0.2,
        mode=mode,
    )
    model = BehaviorTransformer(config).eval()
    return LoadedRun(
        "r", Path("."), "d", model, config, TrainConfig(), {"vocab_hash": vocab_hash(sequences)}
    )


def test_rollout_rows_sum_to_one_and_follow_the_paper() -> None:
    rng = np.random.default_rng(0)
    layers = [rng.dirichlet(np.ones(6), size=(3, 6)) for _ in range(3)]  # 3 x (H, T, T)
    rollout = attention_rollout(layers)
    np.testing.assert_allclose(rollout.sum(axis=1), 1.0, atol=1e-12)
    expected = np.eye(6)
    for a in layers:
        mixed = 0.5 * a.mean(0) + 0.5 * np.eye(6)
        expected = (mixed / mixed.sum(1, keepdims=True)) @ expected
    np.testing.assert_allclose(rollout, expected)
    plain = attention_rollout(layers, residual=0.0)
    np.testing.assert_allclose(plain, layers[2].mean(0) @ layers[1].mean(0) @ layers[0].mean(0))


def test_rollout_rejects_non_square_attention() -> None:
    with pytest.raises(ValueError, match="T, T"):
        attention_rollout([np.ones((2, 3, 4))])


@pytest.mark.parametrize("mode", ["causal", "bidirectional"])
def test_explain_attention_is_the_models_own_and_rollout_is_stochastic(sequences, mode) -> None:
    loaded = loaded_run(sequences, mode)
    user = "u3"
    result = explain_user(loaded, sequences, user, steps=8)
    u = sequences.user_index(user)
    keep = loaded.model_config.max_len - (0 if mode == "causal" else 1)
    end = int(sequences.offsets[u + 1])
    start = max(int(sequences.offsets[u]), end - keep)
    batch = gather(
        FlatInputs.from_sequences(sequences, 32), np.array([start]), np.array([end - start])
    )
    if mode == "bidirectional":
        from core.analysis.explain import _append_mask

        batch = _append_mask(batch)
    with torch.no_grad():
        out = loaded.model(batch, output_attentions=True)
    expected = np.stack([a[0].numpy() for a in out.attentions])  # (L, H, T, T)
    np.testing.assert_allclose(result.attention, expected, atol=1e-6)
    np.testing.assert_allclose(result.rollout.sum(axis=1), 1.0, atol=1e-6)
    if mode == "causal":
        assert np.allclose(np.triu(result.rollout, 1), 0.0)  # no flow from the future
    assert [e.row for e in result.events if e.row is not None] == list(range(start, end))
    assert result.events[0].item == sequences.item_vocab.token_of(int(sequences.items[start]))


@pytest.mark.parametrize("mode", ["causal", "bidirectional"])
@pytest.mark.parametrize("user", ["u5", "u8"])
def test_integrated_gradients_completeness(sequences, mode: str, user: str) -> None:
    loaded = loaded_run(sequences, mode)
    with torch.no_grad():  # sharpen the random model so f(x) - f(b) is not tiny
        for block in loaded.model.blocks:
            block.attn.qkv.weight.mul_(20.0)
    result = explain_user(loaded, sequences, user, steps=64)
    a = result.attribution
    gap = a.score - a.baseline_score
    assert abs(gap) > 1e-3
    assert abs(a.per_event.sum() - gap) <= 0.02 * abs(gap) + 1e-5, (a.per_event.sum(), gap)
    assert a.delta == pytest.approx(a.per_event.sum() - gap)
    assert len(a.per_event) == len(result.events)


def test_integrated_gradients_score_is_the_models_logit(sequences) -> None:
    loaded = loaded_run(sequences)
    batch = gather(FlatInputs.from_sequences(sequences, 32), np.array([0]), np.array([6]))
    a = integrated_gradients(loaded.model, batch, position=5, target=7, steps=4)
    with torch.no_grad():
        logit = loaded.model.item_head(loaded.model(batch).hidden[:, 5])[0, 7]
    assert a.score == pytest.approx(float(logit), abs=1e-5)


def test_explain_target_defaults_to_top_item_and_can_be_chosen(sequences) -> None:
    loaded = loaded_run(sequences)
    default = explain_user(loaded, sequences, "u1", steps=4)
    assert default.target_item == default.top_items[0]["item"]
    chosen = explain_user(loaded, sequences, "u1", target="i7", steps=4)
    assert chosen.target_item == "i7"
    summary = chosen.summary(3)
    assert len(summary["top_events"]) == 3
    assert summary["rollout_last"] == pytest.approx(list(chosen.rollout[-1]), abs=1e-5)
    with pytest.raises(NotFoundError, match="nope"):
        explain_user(loaded, sequences, "u1", target="nope")
    with pytest.raises(NotFoundError, match="no user"):
        explain_user(loaded, sequences, "ghost")


def test_explain_a_typed_in_session(sequences) -> None:
    loaded = loaded_run(sequences)
    result = explain_events(
        loaded, sequences, ["i1", "i2", "i3"], events=["e0", "e1", "e0"], steps=16
    )
    assert [e.item for e in result.events] == ["i1", "i2", "i3"]
    assert result.events[1].event == "e1" and result.events[1].timestamp is None
    assert result.attention.shape == (2, 2, 3, 3)
    with pytest.raises(NotFoundError, match="zzz"):
        explain_events(loaded, sequences, ["i1", "zzz"])
    with pytest.raises(BehaviorLensError, match="event types"):
        explain_events(loaded, sequences, ["i1", "i2"], events=["e0"])
