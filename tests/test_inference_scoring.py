"""ModelScorer.top_k agrees with ranking the full score matrix."""

from __future__ import annotations

import numpy as np
import torch

from core.inference import scoring
from core.inference.scoring import ModelScorer
from core.model import BehaviorTransformer, ModelConfig
from tests.fixtures_model import tiny_sequences


def test_top_k_matches_sorting_all_scores(monkeypatch) -> None:
    monkeypatch.setattr(scoring, "TOPK_ROWS", 2)  # several blocks per batch
    rng = np.random.default_rng(0)
    users = [[(t, "view", int(rng.integers(3, 23))) for t in range(n)] for n in (1, 3, 5, 8, 2)]
    seqs = tiny_sequences(users)
    torch.manual_seed(0)
    model = BehaviorTransformer(ModelConfig(num_items=len(seqs.item_vocab), dim=8, heads=2))
    scorer = ModelScorer(model, batch_size=3)
    who = np.arange(seqs.num_users)
    cutoffs = seqs.offsets[who + 1]
    ids, values = scorer.top_k(seqs, who, cutoffs, k=4)
    scores = scorer.score_histories(seqs, who, cutoffs)  # (U, V)
    assert ids.shape == (seqs.num_users, 4)
    assert (ids >= 3).all()  # reserved ids never rank
    np.testing.assert_allclose(values, np.sort(scores, axis=1)[:, ::-1][:, :4], rtol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(scores, ids, axis=1), values, rtol=1e-5)
