"""The behaviour Transformer: fast vs explicit attention, masking of padding, heads, gaps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.vocab import MASK, PAD
from core.model import BehaviorTransformer, EncoderInput, ModelConfig, gap_buckets
from core.model.heads import ClassificationHead


def tiny_config(mode: str = "causal", **overrides) -> ModelConfig:
    values = dict(
        num_items=20,
        num_events=5,
        num_categories=6,
        max_len=8,
        dim=16,
        layers=2,
        heads=2,
        dropout=0.0,
        mode=mode,
    )
    return ModelConfig(**{**values, **overrides})


def right_padded_batch(lengths: list[int], seed: int = 0) -> EncoderInput:
    """(B, T) random ids with PAD after each row's length."""
    g = torch.Generator().manual_seed(seed)
    B, T = len(lengths), max(lengths)
    valid = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]  # (B, T)

    def ids(high: int) -> torch.Tensor:
        return torch.where(valid, torch.randint(3, high, (B, T), generator=g), PAD)

    gaps = torch.where(valid, torch.randint(0, 32, (B, T), generator=g), 0)
    return EncoderInput(ids(20), ids(5), ids(6), gaps)


@pytest.mark.parametrize("mode", ["causal", "bidirectional"])
def test_fast_and_explicit_attention_give_the_same_output(mode: str) -> None:
    torch.manual_seed(0)
    model = BehaviorTransformer(tiny_config(mode)).eval()
    batch = right_padded_batch([8, 5, 1, 3])
    fast = model(batch)
    explicit = model(batch, output_attentions=True)
    assert fast.attentions is None
    assert len(explicit.attentions) == 2
    assert explicit.attentions[0].shape == (4, 2, 8, 8)  # (B, H, T, T)
    valid = batch.valid
    torch.testing.assert_close(fast.hidden[valid], explicit.hidden[valid], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["causal", "bidirectional"])
def test_attention_weights_are_distributions_that_ignore_padding(mode: str) -> None:
    model = BehaviorTransformer(tiny_config(mode)).eval()
    batch = right_padded_batch([6, 2])
    weights = model(batch, output_attentions=True).attentions[-1]  # (B, H, T, T)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 6))
    assert weights[1, :, :2, 2:].abs().max() == 0  # real events never attend to padding
    if mode == "causal":
        assert torch.triu(weights[0], diagonal=1).abs().max() == 0  # nor to the future


def test_causal_states_do_not_depend_on_later_events() -> None:
    model = BehaviorTransformer(tiny_config("causal")).eval()
    batch = right_padded_batch([6])
    changed = EncoderInput(batch.items.clone(), batch.events, batch.categories, batch.gaps)
    changed.items[0, 4] = 3 if int(batch.items[0, 4]) != 3 else 4
    a, b = model(batch).hidden, model(changed).hidden
    torch.testing.assert_close(a[0, :4], b[0, :4])
    assert not torch.allclose(a[0, 4], b[0, 4])


def test_padding_does_not_change_real_states() -> None:
    """Trimming a batch to its longest sequence must not change any real event's state."""
    model = BehaviorTransformer(tiny_config("bidirectional")).eval()
    short = right_padded_batch([3], seed=1)
    longer = EncoderInput(
        *(
            torch.cat([t, torch.zeros(1, 4, dtype=t.dtype)], 1)
            for t in (short.items, short.events, short.categories, short.gaps)
        )
    )
    torch.testing.assert_close(
        model(short).hidden[0, :3], model(longer).hidden[0, :3], atol=1e-5, rtol=1e-5
    )


def test_item_head_is_tied_and_never_ranks_reserved_ids() -> None:
    model = BehaviorTransformer(tiny_config())
    assert model.item_head.embedding.weight is model.embed.item.weight
    scores = model.item_head.predict(torch.randn(3, 16))  # (n, V)
    assert scores.shape == (3, 20)
    assert scores[:, :3].abs().max() == 0 and torch.allclose(scores.sum(1), torch.ones(3))


def test_classification_head_contract_for_fine_tuning() -> None:
    head = ClassificationHead(16, num_classes=4, reserved=1)
    hidden, labels = torch.randn(5, 16), torch.tensor([1, 2, 3, 1, 2])
    assert head(hidden).shape == (5, 4) and torch.isinf(head(hidden)[:, 0]).all()
    assert head.loss(hidden, labels).item() > 0
    torch.testing.assert_close(head.predict(hidden).sum(1), torch.ones(5))


def test_gap_buckets_are_log_scaled_and_zero_at_each_users_first_event() -> None:
    ts = np.array([0, 1_000, 61_000, 0, 3_600_000 * 24], dtype=np.int64)  # ms
    offsets = np.array([0, 3, 5])
    buckets = gap_buckets(ts, offsets, num_buckets=32)
    assert buckets.tolist()[0] == 0 and buckets[3] == 0
    assert buckets[1] == 2  # 1 s -> 1 + floor(log2(2))
    assert buckets[2] == 1 + int(np.floor(np.log2(61)))
    assert buckets[4] == 1 + int(np.floor(np.log2(1 + 86_400)))


def test_config_rejects_heads_that_do_not_divide_dim() -> None:
    with pytest.raises(ValueError, match="divisible"):
        tiny_config(dim=10, heads=3)


def test_mask_token_embeds_like_any_id() -> None:
    model = BehaviorTransformer(tiny_config("bidirectional")).eval()
    batch = right_padded_batch([4])
    batch.items[0, 3] = MASK
    assert torch.isfinite(model(batch).hidden).all()


def test_runs_saved_before_item_scaling_rebuild_as_they_were_trained() -> None:
    saved = tiny_config("causal").to_dict()
    del saved["scale_ids"]  # a config.json written before the key existed
    assert ModelConfig.from_dict(saved).scale_ids is False
    assert ModelConfig.from_dict(tiny_config("causal").to_dict()).scale_ids is True


def test_id_embeddings_are_scaled_by_sqrt_dim_at_the_input() -> None:
    torch.manual_seed(0)
    scaled = BehaviorTransformer(tiny_config("causal")).eval()
    unscaled = BehaviorTransformer(tiny_config("causal", scale_ids=False)).eval()
    unscaled.load_state_dict(scaled.state_dict())
    batch = right_padded_batch([5, 3])
    ids = batch.items, batch.events, batch.categories, batch.gaps
    difference = scaled.embed(*ids) - unscaled.embed(*ids)  # (B, T, D)
    e = scaled.embed
    ids_sum = e.item(batch.items) + e.event(batch.events) + e.category(batch.categories)
    torch.testing.assert_close(difference, ids_sum * (16**0.5 - 1))
    assert not torch.allclose(scaled(batch).hidden, unscaled(batch).hidden)
