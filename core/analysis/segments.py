"""Segments: cluster users on behaviour features plus the model's pooled embedding, project to 2-D.

Measured on sample_data (5 planted intents, bench in tests/test_analysis_segments.py): k-means on
standardized behaviour features recovers the intents with ARI ~0.84, while the mean-pooled
encoder state alone clusters users by *category* (ARI 0.88 against each user's top category,
0.02 against intent), because every intent shops the whole catalogue. The embedding is therefore
added as a small, whitened block (`embedding_weight`), which keeps the intent structure and lets
the model's view refine it; set the weight to 0 for behaviour only, or raise it to segment by
what users look at rather than how they shop.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from core.analysis.embeddings import pooled_embeddings, units_of
from core.analysis.naming import SMALL_NAME, auto_names, merge_small_segments, read_renames
from core.analysis.segment_profile import segment_profiles
from core.analysis.time_resolution import TimeSupport, support_from_ms
from core.analysis.user_features import user_behaviour
from core.data.items import ItemCatalog
from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.progress import ProgressCallback, ProgressEvent, ignore_progress
from core.workspace import Workspace, atomic_write_bytes, atomic_write_json, read_json

if TYPE_CHECKING:
    from core.training.checkpoint import LoadedRun

Method = Literal["kmeans", "hdbscan"]
ProjectionMethod = Literal["auto", "pca", "tsne", "umap"]
NOISE = -1  # HDBSCAN label of users in no dense segment
SMALL_DATA_ROWS = 50_000  # below this many users, k-means runs single-threaded (faster)


@dataclass
class SegmentConfig:
    """How to segment; the defaults need no knowledge of the data."""

    method: Method = "kmeans"  # "kmeans" (k by silhouette) or "hdbscan" (density, finds k)
    k: int | None = None  # fixed number of k-means segments; None: best silhouette in k_range
    k_min: int = 3  # smallest k tried by silhouette
    k_max: int = 8  # largest k tried by silhouette
    min_cluster_size: int | None = None  # HDBSCAN: None = max(10, 2 % of users)
    embedding_weight: float = 0.25  # weight of the embedding block against behaviour (0 = none)
    embedding_dims: int = 8  # principal components of the embedding kept before weighting
    projection: ProjectionMethod = "auto"  # 2-D map: auto = UMAP when installed, else PCA
    seed: int = 0  # seeds k-means, PCA, t-SNE


class Segmenter:
    """k-means with k chosen by silhouette, or HDBSCAN (scikit-learn estimator contract).

    Learned: `labels_` (n,), `k_`, `silhouette_` (of the chosen labels, noise excluded),
    `silhouette_by_k_` ({k: score}, k-means search only), `centers_` (k-means only).
    """

    def __init__(
        self,
        method: Method = "kmeans",
        k: int | None = None,
        k_range: tuple[int, int] = (3, 8),
        min_cluster_size: int | None = None,
        seed: int = 0,
        silhouette_sample: int = 4000,
    ) -> None:
        self.method = method
        self.k = k
        self.k_range = k_range
        self.min_cluster_size = min_cluster_size
        self.seed = seed
        self.silhouette_sample = (
            silhouette_sample  # users scored per silhouette (speed on big data)
        )

    def fit(self, X: np.ndarray) -> Segmenter:
        X = np.asarray(X, dtype=np.float64)
        if len(X) < 3:
            raise BehaviorLensError(f"segmenting needs at least 3 users, got {len(X)}")
        if self.method == "kmeans":
            self._fit_kmeans(X)
        elif self.method == "hdbscan":
            self._fit_hdbscan(X)
        else:
            raise BehaviorLensError(f"unknown segment method {self.method!r}: kmeans or hdbscan")
        return self

    def fit_predict(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).labels_

    def _fit_kmeans(self, X: np.ndarray) -> None:
        if self.k is not None:
            if not 1 <= self.k <= len(X):
                raise BehaviorLensError(f"--k {self.k}: choose between 1 and {len(X)} users")
            candidates = [self.k]
        else:
            low, high = self.k_range
            candidates = list(range(max(2, low), min(high, len(X) - 1) + 1)) or [2]
        with _small_data_threads(len(X)):
            fits = {k: KMeans(k, n_init=10, random_state=self.seed).fit(X) for k in candidates}
        self.silhouette_by_k_ = {k: self._silhouette(X, m.labels_) for k, m in fits.items()}
        self.k_ = max(self.silhouette_by_k_, key=lambda k: self.silhouette_by_k_[k])
        if self.k is not None:
            self.k_ = self.k
        best = fits[self.k_]
        self.labels_ = best.labels_.astype(np.int64)
        self.centers_ = best.cluster_centers_
        self.silhouette_ = self.silhouette_by_k_[self.k_]

    def _fit_hdbscan(self, X: np.ndarray) -> None:
        size = self.min_cluster_size or max(10, int(0.02 * len(X)))
        self.labels_ = (
            HDBSCAN(min_cluster_size=min(size, len(X)), copy=True).fit_predict(X).astype(np.int64)
        )
        self.k_ = int(len(set(self.labels_.tolist()) - {NOISE}))
        self.silhouette_by_k_ = {}
        core = self.labels_ != NOISE
        self.silhouette_ = self._silhouette(X[core], self.labels_[core])

    def _silhouette(self, X: np.ndarray, labels: np.ndarray) -> float:
        """Silhouette on a seeded sample; NaN when it is undefined (one segment)."""
        if len(set(labels.tolist())) < 2 or len(X) <= len(set(labels.tolist())):
            return float("nan")
        size = min(self.silhouette_sample, len(X))
        return float(silhouette_score(X, labels, sample_size=size, random_state=self.seed))


class Projector:
    """2-D map of the segment space: UMAP when installed, else PCA; t-SNE on request.

    Learned: `method_` (the method actually used), `embedding_` (n, 2).
    """

    def __init__(self, method: ProjectionMethod = "auto", seed: int = 0) -> None:
        self.method = method
        self.seed = seed

    def fit(self, X: np.ndarray) -> Projector:
        X = np.asarray(X, dtype=np.float64)
        method = self.method
        if method == "auto":
            method = "umap" if _umap_available() else "pca"
        if method == "umap" and not _umap_available():
            raise BehaviorLensError("projection 'umap' needs umap-learn; use pca or tsne")
        self.method_ = method
        self.embedding_ = _project(X, method, self.seed)
        return self

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).embedding_


def _small_data_threads(n: int) -> AbstractContextManager:
    """One OpenMP thread below SMALL_DATA_ROWS: measured 26x faster for k-means on 1,500 users
    on a busy 2-core machine (OpenMP spin-waits on contended cores); big data keeps all cores."""
    if n >= SMALL_DATA_ROWS:
        return nullcontext()
    return threadpool_limits(limits=1, user_api="openmp")


def _umap_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("umap") is not None


def _project(X: np.ndarray, method: str, seed: int) -> np.ndarray:
    if len(X) < 2 or X.shape[1] == 0:
        return np.zeros((len(X), 2))
    if method == "pca":
        out = PCA(min(2, X.shape[1], len(X)), random_state=seed).fit_transform(X)
        return np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (len(X) - 1) // 3)))
        return TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(X)
    if method == "umap":
        import umap  # optional dependency, checked by the caller

        return umap.UMAP(n_components=2, random_state=seed).fit_transform(X)
    raise BehaviorLensError(f"unknown projection {method!r}: auto, pca, tsne or umap")


def segment_matrix(
    behaviour: pd.DataFrame,
    embedding: np.ndarray | None,
    embedding_weight: float = 0.25,
    embedding_dims: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """(n, F) the space segments live in: standardized log behaviour + a weighted embedding block.

    Behaviour features are non-negative and skewed (counts, minutes), so log1p before scaling.
    The embedding is reduced to `embedding_dims` principal components and scaled to unit overall
    variance per component times `embedding_weight`, so its influence does not grow with `dim`.
    """
    blocks = [StandardScaler().fit_transform(np.log1p(behaviour.clip(lower=0).to_numpy()))]
    if embedding is not None and embedding_weight > 0:
        dims = min(embedding_dims, embedding.shape[1], len(embedding))
        pcs = PCA(dims, random_state=seed).fit_transform(StandardScaler().fit_transform(embedding))
        pcs = pcs / max(float(pcs.std()), 1e-12)
        blocks.append(pcs * embedding_weight)
    return np.nan_to_num(np.hstack(blocks))


def fingerprint(X: np.ndarray, *parts: object) -> str:
    """Short hash of a matrix and settings: the projection cache is valid while this matches."""
    digest = hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    digest.update(repr(parts).encode("utf-8"))
    return digest.hexdigest()[:16]


# --- whole pipeline: a run's users -> segments, profiles, names, 2-D map --------------------

SEGMENTS_FILE = "segments.parquet"  # one row per segment (profile, name)
ASSIGNMENTS_FILE = "segment_assignments.parquet"  # one row per user: user_id, segment, x, y
SEGMENTS_META_FILE = "segments.json"  # method, k, silhouette, features used
PROJECTION_FILE = "projection.parquet"  # cached 2-D map, valid while its fingerprint matches
PROJECTION_META_FILE = "projection.json"  # {"method", "fingerprint"} of the cached map


@dataclass
class SegmentResult:
    """Everything `segment` produces; `summary` is the CLI's last-line JSON."""

    assignments: pd.DataFrame  # user_id, segment, segment_name, x, y
    profiles: pd.DataFrame  # segment, name, auto_name, size, share, profile columns
    summary: dict  # segments, sizes, names, silhouette, method, k, projection
    projection: dict  # {"method", "fingerprint", "cached"} of the 2-D map


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
    embedding = None
    if config.embedding_weight > 0:
        units = units_of(sequences, "user", loaded.model_config.max_len)
        embedding = pooled_embeddings(loaded.model, sequences, units, on_progress=progress)
    X = segment_matrix(
        behaviour, embedding, config.embedding_weight, config.embedding_dims, config.seed
    )
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
    summary = _summary(segmenter, profiles, config, projection)
    return SegmentResult(assignments, profiles, summary, projection)


def _projection(X: np.ndarray, config: SegmentConfig, cache: dict | None) -> tuple:
    key = fingerprint(X, config.projection, config.seed)
    if cache and cache.get("fingerprint") == key and len(cache["xy"]) == len(X):
        return np.asarray(cache["xy"]), {
            "method": cache["method"],
            "fingerprint": key,
            "cached": True,
        }
    projector = Projector(config.projection, config.seed).fit(X)
    return projector.embedding_, {"method": projector.method_, "fingerprint": key, "cached": False}


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
        "embedding_weight": config.embedding_weight,
        "projection": projection["method"],
        "projection_cached": projection["cached"],
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
    from core.training.checkpoint import load_run

    loaded = load_run(workspace, run)
    sequences = load_sequences(workspace, loaded.dataset)
    catalog = load_item_catalog(workspace, loaded.dataset)
    has_time = bool(load_manifest(workspace, loaded.dataset).get("has_time", True))
    time = support_from_ms(sequences.timestamps, has_time)
    run_dir = loaded.run_dir
    renames, cache = read_renames(run_dir), _read_projection(run_dir)
    result = segment_users(loaded, sequences, config, renames, cache, on_progress, catalog, time)
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
    """Parquet files via atomic renames; the projection cache last (only a speed-up)."""
    _atomic_parquet(run_dir / SEGMENTS_FILE, result.profiles)
    _atomic_parquet(run_dir / ASSIGNMENTS_FILE, result.assignments)
    atomic_write_json(run_dir / SEGMENTS_META_FILE, result.summary)
    _atomic_parquet(run_dir / PROJECTION_FILE, result.assignments[["x", "y"]])
    meta = {k: result.projection[k] for k in ("method", "fingerprint")}
    atomic_write_json(run_dir / PROJECTION_META_FILE, meta)


def _atomic_parquet(path: Path, frame: pd.DataFrame) -> None:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue())
