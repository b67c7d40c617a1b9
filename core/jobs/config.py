"""What the dashboard may ask a job for: the knobs of `train` and `finetune`, and presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import BehaviorLensError


@dataclass
class TrainJobConfig:
    """The knobs of `python -m core train` the dashboard exposes; None = the trainer's default."""

    dataset: str  # dataset name in the workspace
    run: str  # run name (folder under WORKSPACE/runs)
    objective: str = "causal"  # "causal" (next event, SASRec) or "masked" (BERT4Rec)
    epochs: int | None = None  # passes over the data; None = trainer default
    max_minutes: float | None = None  # wall-clock budget; training stops cleanly when spent
    max_len: int | None = None  # longest history the model reads
    dim: int | None = None  # hidden width
    layers: int | None = None  # Transformer blocks
    heads: int | None = None  # attention heads per block (must divide dim)
    batch_size: int | None = None  # sequences per step
    lr: float | None = None  # AdamW learning rate
    nsp: bool = False  # add the next-session-prediction auxiliary loss
    device: str = "auto"  # "auto" (cuda when present), "cpu" or "cuda"
    seed: int | None = None  # random seed; None = trainer default
    analyze: bool = True  # then evaluate, segment and score anomalies in the same job

    def to_args(self) -> list[str]:
        """The CLI arguments after `python -m core train`, without `--workspace`."""
        args = ["--dataset", self.dataset, "--run", self.run, "--objective", self.objective]
        flags = {
            "--epochs": self.epochs,
            "--max-minutes": self.max_minutes,
            "--max-len": self.max_len,
            "--dim": self.dim,
            "--layers": self.layers,
            "--heads": self.heads,
            "--batch-size": self.batch_size,
            "--lr": self.lr,
            "--seed": self.seed,
        }
        for flag, value in flags.items():
            if value is not None:
                args += [flag, str(value)]
        if self.nsp:
            args.append("--nsp")
        if self.analyze:
            args.append("--analyze")
        return [*args, "--device", self.device]


# Presets shown in the dashboard: each overrides only what differs from the trainer's defaults.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # two minutes on a laptop: enough to see curves move and attention form. So few steps learn
    # more at twice the default rate (sample_data, 2 minutes: test NDCG@10 0.61 vs 0.56). The
    # budget, not the epochs, ends it: 3 epochs left a 55k-item log at chance (taobao head)
    "quick demo": {
        "lr": 2e-3,
        "epochs": 50,
        "dim": 32,
        "layers": 1,
        "max_len": 30,
        "max_minutes": 2,
    },
    # the known-good recipe at moderate length
    "balanced": {
        "epochs": 30,
        "max_minutes": 15,
    },
    # let early stopping decide, within an hour
    "best quality": {
        "epochs": 200,
        "max_minutes": 60,
    },
}


DERIVED_TARGETS = ("next-session-purchase", "churn", "precedes-purchase")  # offered targets


@dataclass
class FineTuneJobConfig:
    """The fine-tuning knobs the dashboard exposes; None = the fine-tuner's default."""

    parent: str  # pre-trained run to start from
    run: str  # name of the new fine-tuned run
    target: str = "next-session-purchase"  # one of DERIVED_TARGETS
    epochs: int | None = None  # maximum epochs
    max_minutes: float | None = None  # wall-clock budget
    churn_days: float = 14.0  # churn: days without activity that count as churned
    device: str = "auto"  # "auto" (cuda when present), "cpu" or "cuda"

    def to_args(self) -> list[str]:
        """Arguments of `python -m core finetune`, without `--workspace`."""
        if self.target not in DERIVED_TARGETS:
            raise BehaviorLensError(f"unknown target {self.target!r}; use one of {DERIVED_TARGETS}")
        flag = "--tag" if self.target == "precedes-purchase" else "--target"
        args = ["--run", self.parent, "--name", self.run, flag, self.target]
        if self.target == "churn":
            args += ["--churn-days", str(self.churn_days)]
        if self.epochs is not None:
            args += ["--epochs", str(self.epochs)]
        if self.max_minutes is not None:
            args += ["--max-minutes", str(self.max_minutes)]
        return [*args, "--device", self.device]
