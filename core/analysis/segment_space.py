"""The space users are segmented in: behaviour features and the model's blocks, each weighed.

Every block is standardised, stripped of constant columns (a feature the log does not have —
one event type, no prices, no clock times — is constant, so it drops out by itself), reduced to
at most `dims` principal components and scaled to unit total variance before its weight is
applied. So a block's say does not grow with its width, and no single feature can stretch the
map into a line. Weights per kind of log (measured in `bench/segments.py`, bench/RESULTS.md):
- with two or more event types, behaviour leads and the model refines it;
- with only items and order, preferences (what users touch) and the model's state lead, and the
  remaining activity features (how much) only nudge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from core.analysis.user_vectors import ModelBlocks


@dataclass(frozen=True)
class BlockWeights:
    """Weight of each block in the segment space (0 leaves a block out)."""

    behaviour: float = 1.0  # readable behaviour features: event mix, conversion, session shape
    predicted: float = 0.5  # the model's predicted next-event-type mix (>= 2 event types)
    state: float = 0.25  # the model's mean-pooled encoder state
    preference: float = 0.25  # mean trained item embedding of the user's items

    def model_weight(self) -> float:
        return self.predicted + self.state + self.preference

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def parse(cls, text: str, base: BlockWeights) -> BlockWeights:
        """'state=0.5,preference=1' over `base`; raises ValueError naming a bad part."""
        known = {f.name for f in fields(cls)}
        values = base.as_dict()
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, number = part.partition("=")
            if name.strip() not in known or not number:
                raise ValueError(f"{part!r}: use NAME=WEIGHT with NAME in {', '.join(known)}")
            values[name.strip()] = float(number)
        if any(v < 0 for v in values.values()):
            raise ValueError(f"weights must be >= 0, got {values}")
        return cls(**values)


WITH_EVENT_TYPES = BlockWeights()  # sample_data ARI 0.92-0.93 vs 0.89 behaviour alone
ITEMS_ONLY = BlockWeights(behaviour=0.25, predicted=0.0, state=0.5, preference=1.0)


def default_weights(event_types: int) -> BlockWeights:
    """The measured preset for a log with this many real event types."""
    return WITH_EVENT_TYPES if event_types >= 2 else ITEMS_ONLY


def block(values: np.ndarray, dims: int, seed: int = 0) -> np.ndarray | None:
    """(n, <= dims) standardised, constant columns dropped, unit total variance; None if empty."""
    X = np.nan_to_num(np.asarray(values, dtype=np.float64))
    X = X[:, X.std(axis=0) > 1e-12]
    if X.shape[1] == 0 or len(X) < 2:
        return None
    X = StandardScaler().fit_transform(X)
    if X.shape[1] > dims:
        X = PCA(min(dims, len(X)), random_state=seed).fit_transform(X)
    total = float(X.var(axis=0).sum())
    return X / np.sqrt(total) if total > 0 else None


def segment_space(
    behaviour: pd.DataFrame,
    blocks: ModelBlocks | None,
    weights: BlockWeights,
    dims: int = 8,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, float]]:
    """(X (n, F), the weights of the blocks actually used) for the clustering.

    Behaviour features are non-negative and skewed (counts, minutes), so log1p before scaling;
    the predicted event mix is a distribution, so log before scaling (ratios matter, not gaps).
    """
    raw = {"behaviour": np.log1p(behaviour.clip(lower=0).to_numpy(dtype=np.float64))}
    if blocks is not None:
        raw["state"] = blocks.state
        if blocks.behaviour is not None:
            raw["predicted"] = np.log(blocks.behaviour + 1e-4)
        if blocks.preference is not None:
            raw["preference"] = blocks.preference
    parts, used = [], {}
    for name, values in raw.items():
        weight = getattr(weights, name)
        scaled = block(values, 99 if name == "behaviour" else dims, seed) if weight > 0 else None
        if scaled is not None:
            parts.append(scaled * weight)
            used[name] = weight
    if not parts:
        return np.zeros((len(behaviour), 1)), used
    return np.hstack(parts), used
