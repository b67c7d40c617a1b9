"""The model's hyper-parameters: one typed dataclass, serialised into each run's config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from core.training.config import ModelOptions  # the sizes a user chooses, with their defaults

Mode = Literal["causal", "bidirectional"]
LEGACY = {"scale_ids": False}  # what runs saved before these keys existed were trained with


@dataclass
class ModelConfig:
    """Everything needed to rebuild a `BehaviorTransformer` (vocabulary sizes included).

    Defaults are the known-good recipe for sparse e-commerce logs (SASRec with cross-entropy,
    Klenitskiy & Vasilev 2023): small dim, 2 blocks, heavy dropout. The sizes a user may choose
    take their defaults from `ModelOptions`, the one place they are written.
    """

    num_items: int  # item vocabulary size, reserved ids (PAD, MASK, UNK) included
    num_events: int = 4  # event-type vocabulary size, reserved ids included
    num_categories: int = 0  # category vocabulary size; 0 disables the category embedding
    max_len: int = ModelOptions.max_len  # longest history the model reads; older events are dropped
    dim: int = ModelOptions.dim  # width of every hidden state
    layers: int = ModelOptions.layers  # number of Transformer blocks
    heads: int = ModelOptions.heads  # attention heads per block; must divide dim
    ffn_mult: int = 4  # feed-forward hidden width = ffn_mult * dim
    dropout: float = 0.3  # dropout on embeddings, attention output and FFN (not on (T, T) maps)
    attn_dropout: float = 0.0  # dropout on attention weights; 0 keeps the fast fused kernel
    gap_buckets: int = 32  # time-gap buckets: 0 = first/unknown, then log2-second buckets
    mode: Mode = "causal"  # "causal" (next-event) or "bidirectional" (masked events)
    item_bias: bool = False  # learn a per-item output bias beside the tied embedding
    scale_ids: bool = ModelOptions.scale_ids  # id embeddings x sqrt(dim) (Vaswani; SASRec)
    no_item: bool = False  # item id NUM_RESERVED is NO_ITEM (item-less events): read, never ranked

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if self.mode not in ("causal", "bidirectional"):
            raise ValueError(f"mode must be 'causal' or 'bidirectional', got {self.mode!r}")
        for name in ("num_items", "max_len", "dim", "layers", "heads", "gap_buckets"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.attn_dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}, {self.attn_dropout}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ModelConfig:
        """Rebuild from config.json, ignoring unknown keys so older runs stay loadable.

        Keys a run saved before they existed take their LEGACY value, not today's default, so
        an old checkpoint is rebuilt with the architecture it was trained with.
        """
        known = {f.name for f in fields(cls)}
        return cls(**{**LEGACY, **{k: v for k, v in payload.items() if k in known}})
