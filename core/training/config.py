"""Training hyper-parameters: one typed dataclass, saved beside the model config in config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Objective = Literal["causal", "masked"]
LossKind = Literal["auto", "full", "sampled"]

FULL_SOFTMAX_MAX_ITEMS = 200_000  # auto loss: full softmax up to this many items, else sampled


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
    negatives: int = 1024  # sampled softmax: shared negatives per batch
    epochs: int = 60  # upper bound; early stopping usually ends sooner
    max_minutes: float | None = None  # wall-clock budget; stops after the batch that crosses it
    batch_size: int = 128  # sequences per step
    lr: float = 1e-3  # peak AdamW learning rate
    weight_decay: float = 0.0  # AdamW decay on weight matrices (never on embeddings, norms, biases)
    warmup_fraction: float = 0.02  # share of steps with linear warm-up
    min_lr_ratio: float = 0.1  # cosine decays to this share of the peak
    grad_clip: float = 1.0  # max global gradient norm
    patience: int = 5  # early stopping: evaluations without a better validation NDCG@10
    eval_every: int = 1  # evaluate (and checkpoint the best) every N epochs
    eval_max_users: int | None = 10_000  # validation users (seeded subset) per evaluation
    seed: int = 0  # seeds weights, data order (seed + epoch), masks and dropout
    device: str = "auto"  # "auto" (cuda when present), "cpu" or "cuda"
    amp: bool = True  # bfloat16 autocast on cuda; ignored on CPU

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

    def use_sampled_loss(self, num_items: int) -> bool:
        if self.loss == "auto":
            return num_items > FULL_SOFTMAX_MAX_ITEMS
        return self.loss == "sampled"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in known})
