"""Clustering and 2-D maps for segments, with the number of segments chosen by stability.

`Segmenter` follows the scikit-learn estimator contract. For k-means, k is chosen by two
measures: bootstrap agreement (refit on random 80% samples: does the same split come back? ARI
against the full fit) and silhouette (are the segments apart?). A k whose split does not come
back is noise however good its silhouette, so the best silhouette is taken among the stable
k's; when none is stable, the most stable k.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Literal

import numpy as np
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_limits

from core.errors import BehaviorLensError

Method = Literal["kmeans", "hdbscan"]
ProjectionMethod = Literal["auto", "pca", "tsne", "umap"]
NOISE = -1  # HDBSCAN label of users in no dense segment
SMALL_DATA_ROWS = 50_000  # below this many users, k-means runs single-threaded (faster)
STABLE = 0.75  # mean bootstrap ARI from which a k counts as stable
BOOTSTRAP_ROUNDS = 5  # refits per k on random samples
BOOTSTRAP_FRACTION = 0.8  # share of users in each refit
BOOTSTRAP_MAX_ROWS = 5000  # users per refit at most (speed on big data)


FIT_ROWS = 50_000  # users a segmentation is fit on at most; the rest join their nearest centre
NEAREST_CHUNK = 65_536  # rows compared with the centres at once: memory grows with the chunk


def nearest_centre(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """(n,) index of each row's nearest centre, in chunks: how users or sessions are assigned
    to fitted segments without refitting, whatever their number."""
    centers = np.asarray(centers, dtype=np.float64)
    out = np.empty(len(X), dtype=np.int64)
    for i in range(0, len(X), NEAREST_CHUNK):
        part = X[i : i + NEAREST_CHUNK]
        out[i : i + NEAREST_CHUNK] = ((part[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
    return out


class Segmenter:
    """k-means with k chosen by stability and silhouette, or HDBSCAN (estimator contract).

    Learned: `labels_` (n,), `k_`, `silhouette_` (of the chosen labels, noise excluded),
    `silhouette_by_k_` and `stability_by_k_` ({k: score}, k-means search only), `stability_`
    (of the chosen k; NaN for HDBSCAN), `centers_` (k-means only).
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
        """Fits on every row up to FIT_ROWS, else on a seeded sample of FIT_ROWS rows, and then
        assigns every row to its nearest segment centre (`fit_rows_` says how many were fit):
        k-means on 200k users x 6 candidate k's x 10 inits took minutes, and a sample of 50k
        finds the same centres."""
        X = np.asarray(X, dtype=np.float64)
        if len(X) < 3:
            raise BehaviorLensError(f"segmenting needs at least 3 users, got {len(X)}")
        if self.method not in ("kmeans", "hdbscan"):
            raise BehaviorLensError(f"unknown segment method {self.method!r}: kmeans or hdbscan")
        rows = sample_rows(len(X), FIT_ROWS, self.seed)
        fit_on = X if rows is None else X[rows]
        if self.method == "kmeans":
            self._fit_kmeans(fit_on)
        else:
            self._fit_hdbscan(fit_on)
        self.fit_rows_ = len(fit_on)
        if rows is not None:
            self.labels_ = self._assign_all(X, fit_on, self.labels_)
        return self

    def _assign_all(self, X: np.ndarray, fit_on: np.ndarray, fit_labels: np.ndarray) -> np.ndarray:
        """Every row's nearest centre; HDBSCAN's centres are its segments' means on the rows it
        was fit on (noise stays noise only among those)."""
        if self.method == "hdbscan":
            fitted = sorted(set(fit_labels.tolist()) - {NOISE})
            if not fitted:
                return np.full(len(X), NOISE, dtype=np.int64)
            centres = np.stack([fit_on[fit_labels == k].mean(0) for k in fitted])
            return np.asarray(fitted, dtype=np.int64)[nearest_centre(X, centres)]
        return nearest_centre(X, self.centers_)

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
        self.stability_by_k_ = {k: self._stability(X, k, m.labels_) for k, m in fits.items()}
        self.k_ = self.k if self.k is not None else self._choose_k()
        best = fits[self.k_]
        self.labels_ = best.labels_.astype(np.int64)
        self.centers_ = best.cluster_centers_
        self.silhouette_ = self.silhouette_by_k_[self.k_]
        self.stability_ = self.stability_by_k_[self.k_]

    def _choose_k(self) -> int:
        """Best silhouette among the stable k's; the most stable k when none is stable."""
        stable = [k for k, v in self.stability_by_k_.items() if v >= STABLE]
        if stable:
            return max(stable, key=lambda k: np.nan_to_num(self.silhouette_by_k_[k], nan=-1.0))
        return max(self.stability_by_k_, key=lambda k: self.stability_by_k_[k])

    def _stability(self, X: np.ndarray, k: int, labels: np.ndarray) -> float:
        """Mean ARI between the full fit and refits on random samples (1.0: always the same)."""
        if k < 2 or len(X) < 2 * k:
            return 1.0
        rng = np.random.default_rng(self.seed)
        size = min(int(BOOTSTRAP_FRACTION * len(X)), BOOTSTRAP_MAX_ROWS)
        scores = []
        with _small_data_threads(size):
            for round_ in range(BOOTSTRAP_ROUNDS):
                rows = rng.choice(len(X), size=size, replace=False)
                refit = KMeans(k, n_init=3, random_state=self.seed + 1 + round_).fit(X[rows])
                scores.append(adjusted_rand_score(labels[rows], refit.labels_))
        return float(np.mean(scores))

    def _fit_hdbscan(self, X: np.ndarray) -> None:
        size = self.min_cluster_size or max(10, int(0.02 * len(X)))
        self.labels_ = (
            HDBSCAN(min_cluster_size=min(size, len(X)), copy=True).fit_predict(X).astype(np.int64)
        )
        self.k_ = int(len(set(self.labels_.tolist()) - {NOISE}))
        self.silhouette_by_k_, self.stability_by_k_ = {}, {}
        self.stability_ = float("nan")
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


def sample_rows(n: int, limit: int, seed: int) -> np.ndarray | None:
    """Sorted seeded sample of `limit` of `n` rows, or None when all `n` fit."""
    if n <= limit:
        return None
    return np.sort(np.random.default_rng([seed, 11]).choice(n, limit, replace=False))


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
