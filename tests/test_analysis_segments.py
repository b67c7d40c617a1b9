"""Segments: planted-intent recovery on sample_data, the estimator contract, names, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures_model import SampleRun, trained_sample
from sklearn.metrics import adjusted_rand_score

from core.analysis.naming import auto_names, read_renames, save_renames
from core.analysis.segment_profile import c_tf_idf
from core.analysis.segments import (
    ASSIGNMENTS_FILE,
    SEGMENTS_FILE,
    Projector,
    SegmentConfig,
    Segmenter,
    fingerprint,
    segment_run,
    segment_users,
)
from core.cli import main


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    return trained_sample(tmp_path_factory)


def blobs(k: int = 3, n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 10, size=(k, 4))
    labels = np.repeat(np.arange(k), n)
    return centers[labels] + rng.normal(0, 0.5, size=(k * n, 4)), labels


def test_segments_recover_planted_intents(sample_run: SampleRun) -> None:
    result = segment_users(sample_run.loaded, sample_run.sequences)
    a = result.assignments
    intent = sample_run.truth.loc[a["user_id"], "intent"].to_numpy()
    keep = intent != "none"
    ari = adjusted_rand_score(intent[keep], a["segment"].to_numpy()[keep])
    print(f"sample_data segments: ARI vs planted intents = {ari:.3f}, k = {result.summary['k']}")
    assert ari >= 0.6
    assert result.profiles["size"].sum() == sample_run.sequences.num_users
    names = result.profiles["name"].tolist()
    assert len(set(names)) == len(names) and all(names)


def test_segment_profiles_describe_the_segment(sample_run: SampleRun) -> None:
    result = segment_users(sample_run.loaded, sample_run.sequences, SegmentConfig(k=5))
    p = result.profiles
    assert len(p) == 5 and set(result.assignments["segment"]) == set(p["segment"])
    mix = p[[c for c in p.columns if c.startswith("mix:")]]
    assert np.allclose(mix.sum(axis=1), 1.0)
    assert ((p["conversion"] >= 0) & (p["conversion"] <= 1)).all()
    # the most converting segment is named after buying
    best = p.sort_values("conversion").iloc[-1]
    assert "buyer" in best["name"]


def test_segmenter_picks_k_by_silhouette_and_follows_estimator_contract() -> None:
    X, truth = blobs(3)
    seg = Segmenter(k_range=(2, 6))
    assert seg.fit(X) is seg
    assert seg.k_ == 3 and adjusted_rand_score(truth, seg.labels_) == 1.0
    assert set(seg.silhouette_by_k_) == {2, 3, 4, 5, 6}
    assert seg.silhouette_ == max(seg.silhouette_by_k_.values())
    assert not hasattr(Segmenter(), "labels_")


def test_hdbscan_finds_dense_groups() -> None:
    X, truth = blobs(4, n=30)
    seg = Segmenter(method="hdbscan", min_cluster_size=10).fit(X)
    assert seg.k_ == 4
    assert adjusted_rand_score(truth, seg.labels_) > 0.9


def test_projection_is_2d_and_cache_key_tracks_inputs() -> None:
    X, _ = blobs(3)
    proj = Projector("pca")
    xy = proj.fit_transform(X)
    assert xy.shape == (len(X), 2) and proj.method_ == "pca"
    assert Projector("auto").fit(X).method_ in ("pca", "umap")
    assert fingerprint(X, "pca") == fingerprint(X.copy(), "pca")
    assert fingerprint(X, "pca") != fingerprint(X + 1e-9, "pca")
    assert fingerprint(X, "pca") != fingerprint(X, "tsne")


def test_c_tf_idf_prefers_what_a_segment_does_more_than_others() -> None:
    tokens = np.array([5, 5, 5, 6, 5, 5, 7, 7])  # token 5 is everywhere, 7 only in segment 1
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    weights = c_tf_idf(tokens, labels, vocab_size=8)
    assert int(np.argmax(weights[1])) == 7
    assert int(np.argmax(weights[0])) == 5
    assert weights[0][:3].sum() == 0.0  # reserved ids never weigh


def test_names_are_unique_and_mention_distinctive_category() -> None:
    base = {
        "conversion": 0.4,
        "cart_rate": 0.5,
        "events_per_session": 6.0,
        "session_minutes": 3.0,
        "median_gap_s": 20.0,
        "repeat_items": 0.2,
        "revisits": 0.3,
        "mix:view": 0.6,
        "mix:add_to_cart": 0.2,
        "mix:purchase": 0.1,
        "top_categories": "books",
        "category_lift": 1.0,
    }
    rows = [
        {
            **base,
            "segment": 0,
            "conversion": 0.8,
            "repeat_items": 0.5,
            "top_categories": "grocery, pets",
            "category_lift": 3.0,
        },
        {**base, "segment": 1, "conversion": 0.1, "cart_rate": 0.9, "mix:add_to_cart": 0.4},
        {**base, "segment": 2, "conversion": 0.1, "cart_rate": 0.9, "events_per_session": 3.0},
    ]
    names = auto_names(pd.DataFrame(rows), pd.Series(base))
    assert names[0] == "repeat buyers in grocery"
    assert names[1].startswith("cart abandoners") and names[2].startswith("cart abandoners")
    assert len(set(names.values())) == 3


def test_renames_win_and_cli_writes_safe_csv(sample_run: SampleRun, tmp_path) -> None:
    ws = sample_run.workspace
    out = tmp_path / "segments.csv"
    code = main(
        [
            "segment",
            "--run",
            sample_run.run,
            "--workspace",
            str(ws.root),
            "--k",
            "4",
            "--rename",
            '1==HYPERLINK("x")',
            "--out",
            str(out),
        ]
    )
    assert code == 0
    run_dir = ws.run_dir(sample_run.run)
    assert read_renames(run_dir) == {1: '=HYPERLINK("x")'}
    profiles = pd.read_parquet(run_dir / SEGMENTS_FILE)
    assert profiles.set_index("segment").loc[1, "name"] == '=HYPERLINK("x")'
    assigned = pd.read_parquet(run_dir / ASSIGNMENTS_FILE)
    assert list(assigned.columns[:5]) == ["user_id", "segment", "segment_name", "x", "y"]
    csv = pd.read_csv(out, dtype=str)
    assert list(csv.columns) == ["user_id", "segment", "segment_name", "x", "y"]
    assert len(csv) == sample_run.sequences.num_users
    assert not csv["segment_name"].str.startswith("=").any()
    save_renames(run_dir, {1: ""})  # an empty name restores the automatic one
    assert read_renames(run_dir) == {}
    second = segment_run(ws, sample_run.run, SegmentConfig(k=4))
    assert second.projection["cached"]  # same matrix: the 2-D map came from the cache


@pytest.mark.parametrize(
    "argv",
    [["--run", "nope"], ["--run", "tiny", "--k", "0"], ["--run", "tiny", "--rename", "x=y"]],
)
def test_segment_cli_errors_are_one_line(sample_run: SampleRun, argv, capsys) -> None:
    code = main(["segment", "--workspace", str(sample_run.workspace.root), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
