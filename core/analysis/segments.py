"""Segments: cluster users on what they do and what the model learned about them, project to 2-D.

The space (`core.analysis.segment_space`) weighs readable behaviour features against the model's
blocks (`core.analysis.user_vectors`: predicted behaviour, encoder state, item preferences), each
only where the log supports it; k comes from bootstrap stability and silhouette
(`core.analysis.clustering`). Measured on sample_data's 5 planted intents (bench/segments.py):
behaviour alone ARI ~0.89, the model's predicted behaviour alone ~0.7, the encoder state alone
~0.25; the default combination ~0.92. Segments under max(1% of users, 10) are merged into one
"other (small segments)" group, and names come from what distinguishes each segment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.analysis.clustering import (
    NOISE,
    Method,
    ProjectionMethod,
    Projector,
    Segmenter,
    nearest_centre,
    sample_rows,
)
from core.analysis.naming import SMALL_NAME, auto_names, merge_small_segments, read_renames
from core.analysis.segment_profile import segment_profiles
from core.analysis.segment_space import BlockWeights, SegmentSpace, default_weights
from core.analysis.time_resolution import TimeSupport, support_from_ms
from core.analysis.user_features import user_behaviour
from core.analysis.user_sample import MAP_ROWS, sample_users
from core.analysis.user_vectors import ModelBlocks, model_blocks, real_event_types
from core.data.items import ItemCatalog
from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.progress import ProgressCallback, ProgressEvent, ignore_progress
from core.workspace import Workspace, json_bytes, parquet_bytes, read_json, write_together

if TYPE_CHECKING:
    from core.inference.loading import LoadedRun

__all__ = ["NOISE", "Projector", "SegmentConfig", "Segmenter", "segment_run", "segment_users"]


@dataclass
class SegmentConfig:
    """How to segment; the defaults need no knowledge of the data."""

    method: Method = "kmeans"  # "kmeans" (k by stability + silhouette) or "hdbscan" (density)
    k: int | None = None  # fixed number of k-means segments; None: chosen in k_min..k_max
    k_min: int = 3  # smallest k tried
    k_max: int = 8  # largest k tried
    min_cluster_size: int | None = None  # HDBSCAN: None = max(10, 2 % of users)
    weights: BlockWeights | None = None  # None: the measured preset for the log's shape
    block_dims: int = 8  # principal components kept per model block before weighting
    projection: ProjectionMethod = "auto"  # 2-D map: auto = UMAP when installed, else PCA
    seed: int = 0  # seeds k-means, PCA, t-SNE


def fingerprint(X: np.ndarray, *parts: object) -> str:
    """Short hash of a matrix and settings: the projection cache is valid while this matches."""
    digest = hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    digest.update(repr(parts).encode("utf-8"))
    return digest.hexdigest()[:16]


# --- whole pipeline: a run's users -> segments, profiles, names, 2-D map --------------------

SEGMENTS_FILE = "segments.parquet"  # one row per segment (profile, name)
ASSIGNMENTS_FILE = "segment_assignments.parquet"  # one row per user: user_id, segment, x, y
SEGMENTS_META_FILE = "segments.json"  # method, k, silhouette, features used
SEGMENT_MODEL_FILE = "segment_model.json"  # fitted space + centres: assigns new users (score)
PROJECTION_FILE = "projection.parquet"  # cached 2-D map, valid while its fingerprint matches
PROJECTION_META_FILE = "projection.json"  # {"method", "fingerprint"} of the cached map


@dataclass
class SegmentResult:
    """Everything `segment` produces; `summary` is the CLI's last-line JSON."""

    assignments: pd.DataFrame  # user_id, segment, segment_name, x, y
    profiles: pd.DataFrame  # segment, name, auto_name, size, share, profile columns
    summary: dict  # segments, sizes, names, silhouette, method, k, projection
    projection: dict  # {"method", "fingerprint", "cached"} of the 2-D map
    model: dict | None = None  # segment_model.json: the fitted space, centres, label map, time


def segment_users(
    loaded: LoadedRun,
    sequences: EventSequences,
    config: SegmentConfig | None = None,
    renames: dict[int, str] | None = None,
    projection_cache: dict | None = None,
    on_progress: ProgressCallback | None = None,
    catalog: ItemCatalog | None = None,
    time: TimeSupport | None = None,
) -> SegmentResult:
    """Segments every user of `sequences` with the run's model (no files written).

    `projection_cache` {"fingerprint", "method", "xy"} is reused when it matches the matrix;
    `catalog` labels the profiles' top items and, with prices, adds revenue per segment.
    `time` (default: read off the timestamps) decides whether pace features and names are used;
    segments too small to describe are merged into one "other (small segments)" group.
    """
    time = time or support_from_ms(sequences.timestamps)
    config = config or SegmentConfig()
    progress = on_progress or ignore_progress
    loaded.check_vocab(sequences)
    if sequences.num_users < 3:
        raise BehaviorLensError(
            f"segmenting needs at least 3 users, the dataset has {sequences.num_users}"
        )
    behaviour = user_behaviour(sequences, pace=time.pace)
    weights = config.weights or default_weights(real_event_types(sequences))
    blocks = None
    if weights.model_weight() > 0:
        blocks = model_blocks(loaded.model, sequences, on_progress=progress)
    space = SegmentSpace.fit(behaviour, blocks, weights, config.block_dims, config.seed)
    X, used = space.transform(behaviour, blocks), space.weights
    progress(ProgressEvent("segment", 0, 1, f"{config.method} on {len(X):,} users"))
    segmenter = Segmenter(
        config.method, config.k, (config.k_min, config.k_max), config.min_cluster_size, config.seed
    ).fit(X)
    xy, projection = _projection(X, config, projection_cache)
    progress(ProgressEvent("segment", 1, 1, "profiles"))
    labels, merged = merge_small_segments(segmenter.labels_, keep=(NOISE,))
    fixed = {NOISE: "unsegmented", merged: SMALL_NAME}
    profiles = _named_profiles(
        sequences, labels, behaviour, renames or {}, catalog, fixed, time.pace
    )
    names = dict(zip(profiles["segment"], profiles["name"], strict=True))
    assignments = pd.DataFrame(
        {
            "user_id": sequences.user_ids.astype(str),
            "segment": labels,
            "segment_name": [names[s] for s in labels],
            "x": xy[:, 0],
            "y": xy[:, 1],
        }
    )
    summary = _summary(segmenter, profiles, config, projection) | {"weights": used}
    model = _segment_model(space, segmenter, segmenter.labels_, labels, time.pace)
    return SegmentResult(assignments, profiles, summary, projection, model)


def _segment_model(
    space: SegmentSpace, segmenter: Segmenter, raw: np.ndarray, final: np.ndarray, pace: bool
) -> dict | None:
    """What `assign_segments` needs to place new users without refitting (k-means only)."""
    centers = getattr(segmenter, "centers_", None)
    if centers is None:
        return None
    label_of = {int(r): int(f) for r, f in zip(raw, final, strict=True)}
    return {
        "space": space.to_dict(),
        "centers": np.asarray(centers).tolist(),
        "label_of_cluster": [label_of.get(c, c) for c in range(len(centers))],
        "pace": pace,
    }


def assign_segments(model: dict, behaviour: pd.DataFrame, blocks: ModelBlocks | None) -> np.ndarray:
    """(n,) segment of each new user: the fitted space's transform, then the nearest centre
    (transform, never refit: next week's users land in last week's segments)."""
    X = SegmentSpace.from_dict(model["space"]).transform(behaviour, blocks)
    nearest = nearest_centre(X, np.asarray(model["centers"]))
    return np.asarray(model["label_of_cluster"], dtype=np.int64)[nearest]


def _projection(X: np.ndarray, config: SegmentConfig, cache: dict | None) -> tuple:
    key = fingerprint(X, config.projection, config.seed)
    if cache and cache.get("fingerprint") == key and len(cache["xy"]) == len(X):
        return np.asarray(cache["xy"]), {
            "method": cache["method"],
            "fingerprint": key,
            "cached": True,
        }
    rows = sample_rows(len(X), MAP_ROWS, config.seed)
    projector = Projector(config.projection, config.seed).fit(X if rows is None else X[rows])
    xy = projector.embedding_
    if rows is not None:  # the map shows a sample; the other users get no position
        xy = np.full((len(X), 2), np.nan)
        xy[rows] = projector.embedding_
    mapped = len(X) if rows is None else len(rows)
    return xy, {
        "method": projector.method_,
        "fingerprint": key,
        "cached": False,
        "mapped_users": mapped,
    }


def _named_profiles(
    sequences: EventSequences,
    labels: np.ndarray,
    behaviour: pd.DataFrame,
    renames: dict[int, str],
    catalog: ItemCatalog | None = None,
    fixed: dict | None = None,
    pace: bool = True,
) -> pd.DataFrame:
    """Profiles with names; `fixed` {segment: name} (noise, merged small ones) wins over auto."""
    profiles = segment_profiles(sequences, labels, behaviour, catalog)
    overall = segment_profiles(sequences, np.zeros_like(labels), behaviour, catalog).iloc[0]
    auto = auto_names(profiles, overall, pace)
    auto = {s: (fixed or {}).get(s, n) for s, n in auto.items()}
    profiles.insert(1, "auto_name", [auto[int(s)] for s in profiles["segment"]])
    profiles.insert(1, "name", [renames.get(int(s), auto[int(s)]) for s in profiles["segment"]])
    return profiles


def _summary(
    segmenter: Segmenter, profiles: pd.DataFrame, config: SegmentConfig, projection: dict
) -> dict:
    silhouette = segmenter.silhouette_
    return {
        "method": config.method,
        "k": int(segmenter.k_),
        "segments": int(len(profiles)),
        "sizes": {
            str(s): int(n) for s, n in zip(profiles["segment"], profiles["size"], strict=True)
        },
        "names": {str(s): n for s, n in zip(profiles["segment"], profiles["name"], strict=True)},
        "silhouette": None if np.isnan(silhouette) else round(silhouette, 4),
        "silhouette_by_k": {str(k): round(v, 4) for k, v in segmenter.silhouette_by_k_.items()},
        "stability": None if np.isnan(segmenter.stability_) else round(segmenter.stability_, 4),
        "stability_by_k": {str(k): round(v, 4) for k, v in segmenter.stability_by_k_.items()},
        "projection": projection["method"],
        "projection_cached": projection["cached"],
        "mapped_users": projection.get("mapped_users"),
        "fit_users": int(segmenter.fit_rows_),
    }


def segment_run(
    workspace: Workspace,
    run: str,
    config: SegmentConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> SegmentResult:
    """Segments a run's dataset and writes the run-folder outputs (docs/contracts.md)."""
    from core.data.items import load_item_catalog
    from core.data.store import load_manifest, load_sequences
    from core.inference.loading import load_run

    loaded = load_run(workspace, run)
    sample = sample_users(load_sequences(workspace, loaded.dataset))
    sequences = sample.sequences
    catalog = load_item_catalog(workspace, loaded.dataset)
    has_time = bool(load_manifest(workspace, loaded.dataset).get("has_time", True))
    time = support_from_ms(sequences.timestamps, has_time)
    run_dir = loaded.run_dir
    renames, cache = read_renames(run_dir), _read_projection(run_dir)
    result = segment_users(loaded, sequences, config, renames, cache, on_progress, catalog, time)
    result.summary.update(sample.summary())
    _write(run_dir, result)
    return result


def _read_projection(run_dir: Path) -> dict | None:
    meta_path, data_path = run_dir / PROJECTION_META_FILE, run_dir / PROJECTION_FILE
    if not (meta_path.is_file() and data_path.is_file()):
        return None
    meta = read_json(meta_path)
    xy = pd.read_parquet(data_path)[["x", "y"]].to_numpy()
    return {**meta, "xy": xy}


def _write(run_dir: Path, result: SegmentResult) -> None:
    """Every output as one change (`write_together`): a reader never sees this run's segments
    beside another writer's assignments. The projection cache is only a speed-up."""
    meta = {k: result.projection[k] for k in ("method", "fingerprint")}
    model = None if result.model is None else json_bytes(result.model)
    write_together(
        run_dir,
        {
            SEGMENTS_FILE: parquet_bytes(result.profiles),
            ASSIGNMENTS_FILE: parquet_bytes(result.assignments),
            SEGMENTS_META_FILE: json_bytes(result.summary),
            SEGMENT_MODEL_FILE: model,  # None removes a model left by an older method
            PROJECTION_FILE: parquet_bytes(result.assignments[["x", "y"]]),
            PROJECTION_META_FILE: json_bytes(meta),
        },
    )
