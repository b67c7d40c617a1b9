"""Full or sampled softmax for the item loss, chosen by timing both on this run's own batches.

SASRec+ (Klenitskiy & Vasilev 2023) owes its lead over SASRec to the full softmax over every
item, so it is the loss we want whenever the machine can afford it. What it costs depends on
the catalogue, the batch, the model width, the device and whether this CPU has fast bf16 dot
products; a fixed item-count threshold gets at least one of those wrong (on a GPU the full
softmax is cheap at 200k items, on a 2-core CPU it is 6x the sampled step at 54k). So `auto`
times a few real training steps with each loss and keeps the full softmax when its step costs
at most FULL_COST_LIMIT times the sampled one: the price issue #15 calls affordable.

The timing draws dropout and masks from the torch RNG and leaves gradients behind; both are
restored, so a run that measured is bit-identical to one that was told the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

FULL_COST_LIMIT = 1.5  # the full softmax is kept while its step costs <= 1.5x the sampled one
TIMED_STEPS = 3  # timed steps per loss, after one untimed warm-up step each


@dataclass(frozen=True)
class LossChoice:
    """The item loss a run trains with, and the evidence (saved in config.json and the summary)."""

    sampled: bool  # True: sampled softmax with logQ-corrected shared negatives
    reason: str  # one sentence for the run's summary
    full_ms: float | None = None  # median forward+backward milliseconds, full softmax
    sampled_ms: float | None = None  # the same with the sampled softmax

    @property
    def cost_ratio(self) -> float | None:
        """Full step time over sampled step time, when both were measured."""
        if self.full_ms is None or not self.sampled_ms:
            return None
        return self.full_ms / self.sampled_ms

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cost_ratio": self.cost_ratio}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> LossChoice:
        """The choice a run saved (resume keeps it: a run never changes loss half-way)."""
        known = {"sampled", "reason", "full_ms", "sampled_ms"}
        return cls(**{k: v for k, v in payload.items() if k in known})


def decided(sampled: bool, reason: str) -> LossChoice:
    """A choice made without timing (the user's setting, or a catalogue no larger than K)."""
    return LossChoice(sampled=sampled, reason=reason)


def choose_by_timing(
    step: Callable[[bool], torch.Tensor],
    parameters: Sequence[torch.nn.Parameter],
    device: torch.device,
) -> LossChoice:
    """Times `step(sampled)` (a training loss on a real batch) both ways and picks one.

    `step(sampled)` must return the scalar loss of one batch with the sampled (True) or full
    (False) item loss; its backward pass is timed too, as the optimizer would run it.
    """
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    try:
        full_ms = _median_ms(lambda: step(False), device)
        sampled_ms = _median_ms(lambda: step(True), device)
    finally:
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        for parameter in parameters:
            parameter.grad = None
    ratio = full_ms / max(sampled_ms, 1e-9)
    sampled = ratio > FULL_COST_LIMIT
    verdict = "sampled softmax" if sampled else "full softmax"
    reason = (
        f"{verdict}: a full-softmax step took {full_ms:.0f} ms, {ratio:.1f}x the sampled "
        f"step's {sampled_ms:.0f} ms (full is kept up to {FULL_COST_LIMIT}x)"
    )
    return LossChoice(sampled, reason, round(full_ms, 2), round(sampled_ms, 2))


def _median_ms(run_step: Callable[[], torch.Tensor], device: torch.device) -> float:
    """Median milliseconds of forward + backward over TIMED_STEPS, after one warm-up."""
    times = []
    for index in range(TIMED_STEPS + 1):
        _synchronize(device)
        started = time.perf_counter()
        run_step().backward()
        _synchronize(device)
        if index:  # the first step pays for kernel selection and allocation
            times.append((time.perf_counter() - started) * 1000.0)
    return sorted(times)[len(times) // 2]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
