"""What keeps the analyses bounded on huge logs (issue #12), checked small by lowering limits.

Each limit changes what is computed past a size (a user sample, a fit sample, a map sample,
latest-window surprise, an estimated normaliser, blocks of the ranking): these tests lower the
limit on small data and check that the bounded path gives the answer the full path gives, or
says plainly that it sampled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from fixtures_model import SampleRun, trained_sample
from sklearn.metrics import adjusted_rand_score

from core.analysis import anomalies, clustering, embeddings, segments, user_vectors
from core.analysis.clustering import Segmenter
from core.analysis.event_mix import event_mix
from core.analysis.item_surprise import ItemSurprise
from core.analysis.user_sample import sample_users
from core.evaluation import leave_one_out
from core.model import BehaviorTransformer, ModelConfig


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    return trained_sample(tmp_path_factory)


def test_subset_keeps_each_chosen_users_events(sample_run: SampleRun) -> None:
    seqs = sample_run.sequences
    chosen = np.array([0, 7, seqs.num_users - 1])
    sub = seqs.subset(chosen)
    assert list(sub.user_ids) == list(seqs.user_ids[chosen])
    for new, old in enumerate(chosen):
        assert np.array_equal(sub.items[sub.user_slice(new)], seqs.items[seqs.user_slice(old)])
        assert np.array_equal(
            sub.timestamps[sub.user_slice(new)], seqs.timestamps[seqs.user_slice(old)]
        )


def test_user_sample_says_when_it_sampled(sample_run: SampleRun) -> None:
    seqs = sample_run.sequences
    whole = sample_users(seqs, max_users=None)
    assert not whole.sampled and whole.note() is None and whole.sequences is seqs
    part = sample_users(seqs, max_users=100, seed=3)
    assert part.sequences.num_users == 100 and part.total_users == seqs.num_users
    assert f"100 of {seqs.num_users:,} users" in part.summary()["sample_note"]
    again = sample_users(seqs, max_users=100, seed=3)
    assert list(again.sequences.user_ids) == list(part.sequences.user_ids)  # seeded


def test_event_mix_equals_crosstab(sample_run: SampleRun) -> None:
    seqs = sample_run.sequences
    groups = np.repeat(np.arange(seqs.num_users), seqs.lengths()) % 37
    ours = event_mix(groups, seqs)
    theirs = pd.crosstab(groups, np.asarray(seqs.events), normalize="index")
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy())
    assert list(ours.index) == list(theirs.index)


def test_segmenter_fit_on_a_sample_assigns_everyone_like_a_full_fit(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    X = np.concatenate([c + rng.normal(size=(400, 2)) for c in centres])  # (1200, 2)
    full = Segmenter(k=3).fit(X)
    monkeypatch.setattr(clustering, "FIT_ROWS", 300)
    sampled = Segmenter(k=3).fit(X)
    assert sampled.fit_rows_ == 300 and full.fit_rows_ == len(X)
    assert len(sampled.labels_) == len(X)
    assert adjusted_rand_score(full.labels_, sampled.labels_) > 0.98


def test_segments_on_a_map_sample_leave_the_rest_unplaced(sample_run, monkeypatch) -> None:
    monkeypatch.setattr(segments, "MAP_ROWS", 200)
    result = segments.segment_users(sample_run.loaded, sample_run.sequences)
    placed = result.assignments["x"].notna()
    assert int(placed.sum()) == 200 and result.summary["mapped_users"] == 200
    assert result.assignments["segment"].notna().all()  # every user still has a segment


def test_one_pass_blocks_keep_the_state_and_read_behaviour_per_session(
    sample_run: SampleRun,
) -> None:
    model, seqs = sample_run.loaded.model, sample_run.sequences
    two_pass = user_vectors.model_blocks(model, seqs)
    state, behaviour = user_vectors._window_blocks(model, seqs)
    np.testing.assert_allclose(state, two_pass.state, atol=1e-5)
    np.testing.assert_allclose(behaviour.sum(axis=1), two_pass.behaviour.sum(axis=1), atol=1e-3)
    assert np.abs(behaviour.mean(0) - two_pass.behaviour.mean(0)).max() < 0.05


def test_per_session_then_window_weighs_each_session_once() -> None:
    probs = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    session = np.array([10, 10, 10, 11, 12])  # window 0: sessions 10 (3 events) and 11
    window = np.array([0, 0, 0, 0, 1])
    out = user_vectors._per_session_then_window(probs, session, window, 2)
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.5, 0.5]])  # not 0.75 / 0.25 per event


def test_estimated_item_surprise_tracks_the_exact_one() -> None:
    torch.manual_seed(0)
    config = ModelConfig(num_items=40_000, num_events=6, dim=32, layers=1)
    model = BehaviorTransformer(config).eval()
    counts = np.random.default_rng(0).zipf(1.5, config.num_items).astype(np.float64)
    estimate = ItemSurprise(model, counts)
    exact = ItemSurprise(model, counts)
    exact.exact = True
    assert not estimate.exact
    with torch.no_grad():
        hidden = torch.randn(2_000, config.dim) * 2.0
        targets = torch.randint(3, config.num_items, (2_000,))
        a, b = estimate.nll(hidden, targets).numpy(), exact.nll(hidden, targets).numpy()
    assert np.corrcoef(a, b)[0, 1] > 0.99
    assert np.abs(a - b).mean() < 0.1
    with torch.no_grad():
        reserved = estimate.nll(hidden[:2], torch.tensor([0, 1]))
    assert torch.isinf(reserved).all()  # PAD / MASK are never items


def test_anomalies_past_the_event_budget_read_the_latest_window(sample_run, monkeypatch) -> None:
    monkeypatch.setattr(anomalies, "SURPRISE_EVENTS", 1_000)
    monkeypatch.setattr(embeddings, "SURPRISE_EVENTS", 1_000)
    seqs = sample_run.sequences
    item_nll, _ = embeddings.event_surprise(sample_run.loaded.model, seqs, max_events=1_000)
    max_len = sample_run.loaded.model.config.max_len
    longest = int(np.argmax(seqs.lengths()))
    rows = item_nll[seqs.user_slice(longest)]
    assert seqs.lengths()[longest] > max_len
    assert np.isnan(rows[:-max_len]).all() and np.isfinite(rows[-max_len + 1 :]).any()
    result = anomalies.score_anomalies(sample_run.loaded, seqs)
    assert "latest" in result.summary["surprise_note"]
    assert len(result.users) == seqs.num_users


def test_evaluation_in_small_score_blocks_gives_the_same_figures(
    sample_run: SampleRun, monkeypatch
) -> None:
    scorer, seqs = sample_run.loaded.scorer(), sample_run.sequences
    whole = leave_one_out.evaluate(scorer, seqs)
    monkeypatch.setattr(leave_one_out, "SCORE_BLOCK_CELLS", 7 * len(seqs.item_vocab))
    blocks = leave_one_out.evaluate(scorer, seqs)
    assert blocks == whole


def test_sample_notes_are_read_back_for_the_pages(tmp_path) -> None:
    from core.analysis.result_tables import sample_notes

    (tmp_path / "segments.json").write_text('{"sample_note": "computed on a sample"}')
    (tmp_path / "anomaly_model.json").write_text('{"sample_note": null}')
    (tmp_path / "session_intents.json").write_text("not json")
    assert sample_notes(tmp_path) == {"segments.json": "computed on a sample"}
