"""Integrated Gradients (Sundararajan et al., "Axiomatic Attribution for Deep Networks", ICML 2017)
of a next-item score to each input event.

The path runs over the summed input embeddings x (item + event + category + gap + position) from
a baseline b to x; the attribution of dimension d is (x_d - b_d) * mean over the path of
d f / d x_d, and an event's attribution is the sum over its dimensions. Completeness:
attributions add up to f(x) - f(b), up to the error of the path integral, which is reported.

Baseline: the PAD input. Item, event type and category become PAD, whose embeddings are zero
vectors, while position and time-gap embeddings stay, so attributions answer "which events
mattered", not "which positions". The all-zero embedding of the original paper is NOT offered:
with pre-norm blocks, LayerNorm(a * x) is the same for every a > 0 and jumps at a = 0, so f is
discontinuous at the zero baseline and completeness fails by orders of magnitude (we measured
it); the PAD baseline keeps the path away from zero.
The whole path is one batch of `steps + 1` copies of the sequence, so it costs one forward and
one backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from core.data.vocab import PAD
from core.model.transformer import BehaviorTransformer, EncoderInput

Baseline = Literal["pad"]
Rule = Literal["trapezoid", "riemann"]


@dataclass
class Attribution:
    """IG result for one sequence and one target item."""

    per_event: np.ndarray  # (T,) attribution of each input event (sum over embedding dims)
    score: float  # f(x): the target item's logit at the prediction position
    baseline_score: float  # f(b): the same logit for the baseline input
    delta: float  # completeness error: per_event.sum() - (score - baseline_score)
    steps: int  # integration steps
    baseline: str  # "pad"


def integrated_gradients(
    model: BehaviorTransformer,
    batch: EncoderInput,
    position: int,
    target: int,
    steps: int = 32,
    baseline: Baseline = "pad",
    rule: Rule = "trapezoid",
) -> Attribution:
    """IG of the item `target`'s logit read at `position` of a single-sequence batch (1, T)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if batch.items.shape[0] != 1:
        raise ValueError(f"explain one sequence at a time, got a batch of {batch.items.shape[0]}")
    was_training = model.training
    model.eval()
    try:
        x, b = _endpoints(model, batch, baseline)  # (1, T, D) each
        alphas = torch.linspace(0.0, 1.0, steps + 1, device=x.device)  # (S,)
        path = (b + alphas[:, None, None] * (x - b)).detach().requires_grad_(True)  # (S, T, D)
        scores = _scores_along(model, batch, path, position, target)  # (S,)
        (grads,) = torch.autograd.grad(scores.sum(), path)  # (S, T, D)
    finally:
        model.train(was_training)
    mean_grad = _path_mean(grads, rule)  # (T, D)
    per_event = ((x - b)[0] * mean_grad).sum(-1).detach().cpu().numpy().astype(np.float64)  # (T,)
    f_x, f_b = float(scores[-1].detach()), float(scores[0].detach())
    return Attribution(per_event, f_x, f_b, float(per_event.sum() - (f_x - f_b)), steps, baseline)


def _endpoints(
    model: BehaviorTransformer, batch: EncoderInput, baseline: Baseline
) -> tuple[torch.Tensor, torch.Tensor]:
    """The input embeddings x and the baseline b, both (1, T, D), without gradients."""
    embed = model.embed
    with torch.no_grad():
        x = embed(batch.items, batch.events, batch.categories, batch.gaps, batch.segments)
        if baseline != "pad":
            raise ValueError(f"baseline must be 'pad', got {baseline!r} (see module docstring)")
        pad = torch.full_like(batch.items, PAD)  # (1, T)
        cats = pad if batch.categories is not None else None
        b = embed(pad, pad, cats, batch.gaps, batch.segments)  # (1, T, D) position + gap only
    return x, b


def _scores_along(
    model: BehaviorTransformer,
    batch: EncoderInput,
    path: torch.Tensor,
    position: int,
    target: int,
) -> torch.Tensor:
    """(S,) target logits with the embedding layer's output replaced by the path points.

    A forward hook swaps the embeddings in, so the model's own forward (masks from the ids, the
    blocks, the final norm) runs unchanged.
    """
    S = path.shape[0]
    repeated = EncoderInput(
        *(
            t.expand(S, -1) if t is not None else None
            for t in (batch.items, batch.events, batch.categories, batch.gaps, batch.segments)
        )
    )
    handle = model.embed.register_forward_hook(lambda module, inputs, output: path)
    try:
        out = model(repeated)
    finally:
        handle.remove()
    hidden = out.hidden[:, position]  # (S, D)
    return model.item_head(hidden)[:, target]  # (S,)


def _path_mean(grads: torch.Tensor, rule: Rule) -> torch.Tensor:
    """Mean gradient along the path (T, D) from gradients at the S = steps + 1 grid points."""
    if rule == "trapezoid":
        return ((grads[:-1] + grads[1:]) / 2.0).mean(0)
    if rule == "riemann":
        return grads[1:].mean(0)  # right Riemann sum
    raise ValueError(f"rule must be 'trapezoid' or 'riemann', got {rule!r}")
