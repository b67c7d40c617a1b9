"""Training hyper-parameters: one typed dataclass, saved beside the model config in config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Objective = Literal["causal", "masked"]
LossKind = Literal["auto", "full", "sampled"]

FULL_SOFTMAX_MAX_ITEMS = 200_000  # auto loss on a GPU: full softmax up to this many items
CPU_FULL_SOFTMAX_MAX_ITEMS = (
    10_000  # auto loss on a CPU: beyond this, sampled softmax wins per minute
)


@dataclass
class ModelOptions:
    """The model sizes a user may choose; vocabulary sizes come from the data.

    Defaults follow SASRec+ (Klenitskiy & Vasilev 2023: dim 64, 2 blocks, 1 head, max-len 50);
    `dropout` left as None is read off the dataset's history lengths (core.training.data_sizes:
    0.3 on sparse logs such as Amazon Beauty, where it was measured, 0.2 on dense ones).
    """

    max_len: int = 50  # longest history read, in events (longer did not help: data_sizes)
    dim: int = 64  # hidden width
    layers: int = 2  # Transformer blocks
    heads: int = 1  # attention heads
    dropout: float | None = (
        None  # dropout (embeddings, attention output, FFN); None = from the data
    )
    scale_ids: bool = True  # id embeddings x sqrt(dim); False only for ablations

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

    objective: Objective = "causal"  # "causal" (SASRec-style) or "masked" (BERT4Rec-style)
    nsp: bool = False  # add the next-segment-prediction auxiliary loss
    nsp_weight: float = 0.1  # weight of the NSP loss against the item loss
    event_weight: float = 0.1  # weight of the next event-type loss against the item loss
    mask_ratio: float = 0.2  # masked objective: share of events hidden
    last_only_prob: float = 0.1  # masked objective: share of sequences hiding only the last event
    loss: LossKind = "auto"  # item loss; auto = full softmax unless the catalogue is huge
    negatives: int = 2048  # sampled softmax: shared negatives per batch (logQ-corrected)
    epochs: int = 60  # upper bound; early stopping usually ends sooner
    max_minutes: float | None = None  # wall-clock budget; stops after the batch that crosses it
    batch_size: int = 128  # sequences per step
    lr: float = 1e-3  # peak AdamW learning rate
    weight_decay: float = 0.0  # AdamW decay on weight matrices (never on embeddings, norms, biases)
    warmup_steps: int = 100  # linear warm-up steps (a fixed count: works with --max-minutes)
    warmup_fraction: float = 0.02  # cap on warm-up as a share of the planned steps
    min_lr_ratio: float = 0.1  # cosine decays to this share of the peak
    grad_clip: float = 1.0  # max global gradient norm
    patience: int = 10  # early stopping: evals without a better val NDCG@10 (once lr < peak / 2)
    eval_every: int = 1  # evaluate (and checkpoint the best) every N epochs
    eval_max_users: int | None = 10_000  # validation users (seeded subset) per evaluation
    seed: int = 0  # seeds weights, data order (seed + epoch), masks and dropout
    device: str = "auto"  # "auto" (cuda when present), "cpu" or "cuda"
    amp: bool = True  # bfloat16: autocast on cuda; on a CPU with fast bf16, the item loss matmuls
    threads: int | None = None  # CPU threads for torch; None = the idle cores, re-measured

    def __post_init__(self) -> None:
        if self.objective not in ("causal", "masked"):
            raise ValueError(f"objective must be 'causal' or 'masked', got {self.objective!r}")
        if self.loss not in ("auto", "full", "sampled"):
            raise ValueError(f"loss must be 'auto', 'full' or 'sampled', got {self.loss!r}")
        for name in ("epochs", "batch_size", "negatives", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")

    def use_sampled_loss(self, num_items: int, on_cpu: bool = False) -> bool:
        """Full softmax for small catalogues; sampled beyond a device-dependent size.

        On a CPU the full softmax costs n x V per step. On Amazon Beauty (54k items) an epoch
        with 2048 logQ-corrected negatives runs ~3.5x faster than the full softmax (bf16
        matmuls on both) and validation NDCG@10 per epoch is within a few percent, so sampled
        wins per minute there (bench/RESULTS.md).
        """
        if self.loss == "auto":
            limit = CPU_FULL_SOFTMAX_MAX_ITEMS if on_cpu else FULL_SOFTMAX_MAX_ITEMS
            return num_items > limit
        return self.loss == "sampled"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in known})
