"""What the dashboard may ask a job for: the knobs of `train` and `finetune`, and presets.

The knobs are named after the fields of TrainConfig, ModelOptions and FineTuneConfig, whose
defaults they leave alone (None); `to_args` writes them as the commands' flags
(core.config_fields), and presets list only what differs from those defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config_fields import defaults, to_args
from core.errors import BehaviorLensError
from core.training.config import Device, FineTuneConfig, ModelOptions, Objective, TrainConfig
from core.training.targets import CHURN_DAYS


@dataclass
class TrainJobConfig:
    """The knobs of `python -m core train` the dashboard exposes; None = the trainer's default."""

    dataset: str  # dataset name in the workspace
    run: str  # run name (folder under WORKSPACE/runs)
    objective: Objective = TrainConfig.objective  # next event (SASRec) or masked (BERT4Rec)
    epochs: int | None = None  # passes over the data
    max_minutes: float | None = None  # wall-clock budget; training stops cleanly when spent
    max_len: int | None = None  # longest history the model reads
    dim: int | None = None  # hidden width
    layers: int | None = None  # Transformer blocks
    heads: int | None = None  # attention heads per block (must divide dim)
    batch_size: int | None = None  # sequences per step
    lr: float | None = None  # AdamW learning rate
    nsp: bool = TrainConfig.nsp  # add the next-segment-prediction auxiliary loss
    seed: int | None = None  # random seed
    analyze: bool = True  # then evaluate, segment and score anomalies in the same job
    device: Device = TrainConfig.device  # "auto" (cuda when present), "cpu" or "cuda"

    def to_args(self) -> list[str]:
        """The CLI arguments after `python -m core train`, without `--workspace`."""
        return to_args(self)


# Presets shown in the dashboard: each overrides only what differs from the trainer's defaults.
# Each is a time budget: with no epoch cap, the budget ends the run and the learning rate
# follows the clock (core.training.budget), so the time asked for is the time used.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # two minutes on a laptop: enough to see curves move and attention form. So few steps learn
    # more at twice the default rate (sample_data, 2 minutes: test NDCG@10 0.61 vs 0.56). The
    # budget, not the epochs, ends it: 3 epochs left a 55k-item log at chance (taobao head)
    "quick demo": {
        "lr": 2e-3,
        "dim": 32,
        "layers": 1,
        "max_len": 30,
        "max_minutes": 2,
    },
    # the known-good recipe at moderate length
    "balanced": {
        "max_minutes": 15,
    },
    # an hour: stops sooner only when validation has been flat for a quarter of it
    "best quality": {
        "max_minutes": 60,
    },
}


def preset_knobs(name: str) -> dict[str, Any]:
    """A preset over the trainer's defaults: every knob's starting value in the launch form."""
    return {**defaults(TrainConfig, ModelOptions), **TRAIN_PRESETS[name]}


DERIVED_TARGETS = ("next-session-purchase", "churn", "precedes-purchase")  # offered targets
TOKEN_TARGETS = ("precedes-purchase",)  # derived targets that tag events (`--tag`)

# Fine-tuning from the dashboard: short runs, so the page answers within minutes
FINETUNE_PRESET: dict[str, Any] = {"epochs": 5, "max_minutes": 2.0}


def finetune_knobs() -> dict[str, Any]:
    """The dashboard's fine-tuning preset over the fine-tuner's defaults."""
    return {**defaults(FineTuneConfig), **FINETUNE_PRESET}


@dataclass
class FineTuneJobConfig:
    """The fine-tuning knobs the dashboard exposes; None = the fine-tuner's default."""

    parent: str  # pre-trained run to start from (`--run`)
    run: str  # name of the new fine-tuned run (`--name`)
    target: str = "next-session-purchase"  # one of DERIVED_TARGETS
    epochs: int | None = None  # maximum epochs
    max_minutes: float | None = None  # wall-clock budget
    churn_days: float = CHURN_DAYS  # churn: days without activity that count as churned
    device: Device = FineTuneConfig.device  # "auto" (cuda when present), "cpu" or "cuda"

    def to_args(self) -> list[str]:
        """Arguments of `python -m core finetune`, without `--workspace`."""
        if self.target not in DERIVED_TARGETS:
            raise BehaviorLensError(f"unknown target {self.target!r}; use one of {DERIVED_TARGETS}")
        kind = "--tag" if self.target in TOKEN_TARGETS else "--target"
        args = ["--run", self.parent, "--name", self.run, kind, self.target]
        if self.target == "churn":
            args += ["--churn-days", str(self.churn_days)]
        return args + to_args(self, skip=("parent", "run", "target", "churn_days"))
