"""Training hyper-parameters: typed dataclasses, saved beside the model config in config.json.

Each field is the one place its default and help text live (`setting(default, doc)`): the
`train` and `finetune` commands make their flags from these fields (core.config_fields), the
dashboard's job configs and presets name them, and the model config takes its sizes from
`ModelOptions`. Torch-free, so the CLI builds its parser without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

from core.config_fields import setting

Objective = Literal["causal", "masked"]
LossKind = Literal["auto", "full", "sampled"]
ItemUpdates = Literal["auto", "rows", "dense"]
Device = Literal["auto", "cpu", "cuda"]


@dataclass
class ModelOptions:
    """The model sizes a user may choose; vocabulary sizes come from the data.

    Defaults follow SASRec+ (Klenitskiy & Vasilev 2023: dim 64, 2 blocks, 1 head, max-len 50);
    `dropout` left as None is read off the dataset's history lengths (core.training.data_sizes:
    0.3 on sparse logs such as Amazon Beauty, where it was measured, 0.2 on dense ones; 0.1
    under the masked objective, whose masking is already noise).
    """

    # longer windows did not help where measured (core.training.data_sizes)
    max_len: int = setting(50, "longest history read, in events")
    dim: int = setting(64, "hidden width")
    layers: int = setting(2, "Transformer blocks")
    heads: int = setting(1, "attention heads per block; must divide dim")
    dropout: float | None = setting(
        None, "dropout on embeddings, attention output and FFN; unset = read off the data"
    )
    scale_ids: bool = setting(True, "id embeddings x sqrt(dim); turn off only for ablations")

    def __post_init__(self) -> None:
        from core.model.config import ModelConfig  # lazy: keeps this module free of torch

        ModelConfig(
            num_items=4,
            max_len=self.max_len,
            dim=self.dim,
            layers=self.layers,
            heads=self.heads,
            dropout=self.dropout if self.dropout is not None else 0.0,
        )  # raises ValueError on bad sizes (dropout left to the data is checked once chosen)


@dataclass
class TrainConfig:
    """How to pre-train. Defaults are the recipe that beats SASRec+ on Amazon Beauty on a CPU."""

    objective: Objective = setting(
        "causal", "causal = next event (SASRec-style), masked = hidden events (BERT4Rec-style)"
    )
    nsp: bool = setting(False, "add the next-segment-prediction auxiliary loss")
    nsp_weight: float = setting(0.1, "weight of the NSP loss against the item loss")
    event_weight: float = setting(0.1, "weight of the next event-type loss against the item loss")
    mask_ratio: float | None = setting(
        None,
        "masked objective: share of events hidden; unset = about 5 per history, between 0.2 "
        "and 0.6, read off the data (core.training.data_sizes)",
    )
    last_only_prob: float = setting(
        0.1, "masked objective: share of sequences hiding only the last event"
    )
    loss: LossKind = setting(
        "auto",
        "item loss: full softmax, sampled softmax, or auto (full while a timed step costs at most "
        "1.5x the sampled one; core.training.loss_choice)",
    )
    negatives: int = setting(2048, "sampled softmax: shared negatives per batch (logQ-corrected)")
    item_updates: ItemUpdates = setting(
        "auto",
        "how AdamW updates the item table: rows = only the rows a step read, the others caught "
        "up when read (same weights; sampled softmax, one process), dense = every row every "
        "step, auto = rows on a CPU where they apply (core.training.lazy_rows)",
    )
    epochs: int | None = setting(
        None,
        "maximum epochs; unset: 60 without a time budget, none with one (the budget ends the "
        "run; core.training.budget)",
    )
    max_minutes: float | None = setting(
        None,
        "wall-clock budget in minutes: stops after the batch that crosses it (checkpoint kept)",
    )
    batch_size: int = setting(128, "sequences per step")
    lr: float = setting(1e-3, "peak AdamW learning rate")
    weight_decay: float = setting(
        0.0, "AdamW decay on weight matrices (never on embeddings, norms, biases)"
    )
    # a fixed count rather than a share, so it works with --max-minutes
    warmup_steps: int = setting(100, "linear warm-up steps")
    warmup_fraction: float = setting(0.02, "cap on warm-up as a share of the planned steps")
    min_lr_ratio: float = setting(0.1, "the cosine schedule decays to this share of the peak lr")
    grad_clip: float = setting(1.0, "max global gradient norm")
    patience: int = setting(
        10, "early stopping: evaluations without a better val NDCG@10 (once lr < peak / 2)"
    )
    eval_every: int = setting(1, "evaluate (and checkpoint the best) every N epochs")
    # None = every validation user (the train command spells it --eval-users 0)
    eval_max_users: int | None = setting(
        10_000, "validation users (a seeded subset) per evaluation"
    )
    seed: int = setting(0, "random seed: weights, data order (seed + epoch), masks and dropout")
    device: Device = setting("auto", "auto uses a CUDA GPU when present (with bf16 autocast)")
    amp: bool = setting(
        True, "bfloat16: autocast on cuda; on a CPU with fast bf16, the item-loss matmuls"
    )
    threads: int | None = setting(
        None, "CPU threads for torch; unset = the cores idle now, measured again every minute"
    )

    def __post_init__(self) -> None:
        for name, kind in (
            ("objective", Objective),
            ("loss", LossKind),
            ("item_updates", ItemUpdates),
        ):
            allowed = get_args(kind)  # the Literal is the one list of choices
            if getattr(self, name) not in allowed:
                choices = ", ".join(map(repr, allowed[:-1])) + f" or {allowed[-1]!r}"
                raise ValueError(f"{name} must be {choices}, got {getattr(self, name)!r}")
        if self.mask_ratio is not None and not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
        for name in ("epochs", "batch_size", "negatives", "eval_every"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in known})


@dataclass
class FineTuneConfig:
    """How to fine-tune; saved in the new run's config.json. Defaults suit a few thousand labels.

    It lives here, not beside the fine-tuner (core.training.finetune.fit), so that `finetune`
    builds its flags from these fields without importing torch.
    """

    epochs: int = setting(20, "maximum epochs; early stopping usually ends sooner")
    max_minutes: float | None = setting(
        None, "wall-clock budget in minutes: stops after the batch that crosses it (best kept)"
    )
    batch_size: int = setting(64, "windows per step")
    # constant: fine-tuning runs are short
    lr: float = setting(5e-4, "AdamW learning rate")
    weight_decay: float = setting(
        0.01, "AdamW decay on weight matrices (not embeddings, norms, biases)"
    )
    dropout: float | None = setting(None, "encoder dropout; unset = the parent run's rate")
    head_dropout: float = setting(0.1, "dropout before the classification head")
    freeze_embeddings: bool = setting(False, "keep the pre-trained input embeddings fixed")
    freeze_blocks: int = setting(0, "keep the first N Transformer blocks fixed")
    class_weights: bool = setting(True, "weight classes by inverse frequency (imbalanced labels)")
    patience: int = setting(3, "epochs without a better validation score before stopping")
    valid_fraction: float = setting(0.15, "share of users held out for early stopping")
    test_fraction: float = setting(0.2, "share of users held out for the reported metrics")
    grad_clip: float = setting(1.0, "max global gradient norm")
    seed: int = setting(0, "random seed: the split, the head's init, data order and dropout")
    device: Device = setting("auto", "auto uses a CUDA GPU when present")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(
                f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}"
            )
        if self.freeze_blocks < 0:
            raise ValueError(f"freeze_blocks must be >= 0, got {self.freeze_blocks}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
