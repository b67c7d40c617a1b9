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


@dataclass
class BlockTransform:
    """One fitted block: kept columns, standardisation, principal axes, total-variance scale."""

    keep: np.ndarray  # (F,) bool, columns that varied in the fit data
    mean: np.ndarray  # (F_kept,) standardisation centre
    std: np.ndarray  # (F_kept,) standardisation scale
    axes: np.ndarray | None  # (d, F_kept) principal axes, None when kept whole
    center: np.ndarray | None  # (F_kept,) PCA centre of the standardised data
    norm: float  # 1 / sqrt(total variance) of the fit data's output

    @classmethod
    def fit(cls, values: np.ndarray, dims: int, seed: int = 0) -> BlockTransform | None:
        X = np.nan_to_num(np.asarray(values, dtype=np.float64))
        keep = X.std(axis=0) > 1e-12
        if not keep.any() or len(X) < 2:
            return None
        scaler = StandardScaler().fit(X[:, keep])
        Z = scaler.transform(X[:, keep])
        axes = center = None
        if Z.shape[1] > dims:
            pca = PCA(min(dims, len(Z)), random_state=seed).fit(Z)
            axes, center = pca.components_, pca.mean_
            Z = (Z - center) @ axes.T
        total = float(Z.var(axis=0).sum())
        if total <= 0:
            return None
        return cls(keep, scaler.mean_, scaler.scale_, axes, center, 1.0 / np.sqrt(total))

    @property
    def dims(self) -> int:
        """Width of this block in the fitted space."""
        return len(self.axes) if self.axes is not None else int(self.keep.sum())

    def transform(self, values: np.ndarray) -> np.ndarray:
        X = np.nan_to_num(np.asarray(values, dtype=np.float64))[:, self.keep]
        Z = (X - self.mean) / self.std
        if self.axes is not None:
            Z = (Z - self.center) @ self.axes.T
        return Z * self.norm

    def to_dict(self) -> dict:
        return {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, payload: dict) -> BlockTransform:
        arrays = {
            k: None if v is None else np.asarray(v) for k, v in payload.items() if k != "norm"
        }
        arrays["keep"] = arrays["keep"].astype(bool)
        return cls(**arrays, norm=float(payload["norm"]))


def block(values: np.ndarray, dims: int, seed: int = 0) -> np.ndarray | None:
    """(n, <= dims) standardised, constant columns dropped, unit total variance; None if empty."""
    fitted = BlockTransform.fit(values, dims, seed)
    return None if fitted is None else fitted.transform(values)


def raw_blocks(behaviour: pd.DataFrame, blocks: ModelBlocks | None) -> dict[str, np.ndarray]:
    """Each block's values before scaling. Behaviour features are non-negative and skewed
    (counts, minutes), so log1p; the predicted event mix is a distribution, so log (ratios
    matter, not gaps)."""
    raw = {"behaviour": np.log1p(behaviour.clip(lower=0).to_numpy(dtype=np.float64))}
    if blocks is not None:
        raw["state"] = blocks.state
        if blocks.behaviour is not None:
            raw["predicted"] = np.log(blocks.behaviour + 1e-4)
        if blocks.preference is not None:
            raw["preference"] = blocks.preference
    return raw


@dataclass
class SegmentSpace:
    """The fitted space: one `BlockTransform` and weight per block used, and the behaviour
    columns it was fit on, so new users (next week's log) land in the same space."""

    transforms: dict[str, BlockTransform]
    weights: dict[str, float]
    columns: list[str]  # behaviour feature columns, in order

    @classmethod
    def fit(
        cls,
        behaviour: pd.DataFrame,
        blocks: ModelBlocks | None,
        weights: BlockWeights,
        dims: int = 8,
        seed: int = 0,
    ) -> SegmentSpace:
        transforms, used = {}, {}
        for name, values in raw_blocks(behaviour, blocks).items():
            weight = getattr(weights, name)
            width = 99 if name == "behaviour" else dims
            fitted = BlockTransform.fit(values, width, seed) if weight > 0 else None
            if fitted is not None:
                transforms[name], used[name] = fitted, weight
        return cls(transforms, used, [str(c) for c in behaviour.columns])

    def transform(self, behaviour: pd.DataFrame, blocks: ModelBlocks | None) -> np.ndarray:
        """(n, F) users in the fitted space; features the new data lacks count as 0, and a
        whole block it lacks (no item the model knows, one event type where the fit saw a mix)
        sits at the fitted users' centre, so it pulls no user towards any segment."""
        aligned = behaviour.reindex(columns=self.columns, fill_value=0.0)
        raw = raw_blocks(aligned, blocks)
        parts = [
            t.transform(raw[n]) * self.weights[n]
            if n in raw
            else np.zeros((len(behaviour), t.dims))
            for n, t in self.transforms.items()
        ]
        return np.hstack(parts) if parts else np.zeros((len(behaviour), 1))

    def to_dict(self) -> dict:
        return {
            "weights": self.weights,
            "columns": self.columns,
            # a list, not a dict: the blocks' order is the column order of the space
            "transforms": [[n, t.to_dict()] for n, t in self.transforms.items()],
        }

    @classmethod
    def from_dict(cls, payload: dict) -> SegmentSpace:
        transforms = {str(n): BlockTransform.from_dict(t) for n, t in payload["transforms"]}
        return cls(transforms, dict(payload["weights"]), list(payload["columns"]))


def segment_space(
    behaviour: pd.DataFrame,
    blocks: ModelBlocks | None,
    weights: BlockWeights,
    dims: int = 8,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, float]]:
    """(X (n, F), the weights of the blocks actually used) for the clustering."""
    space = SegmentSpace.fit(behaviour, blocks, weights, dims, seed)
    return space.transform(behaviour, blocks), space.weights
