"""Next actions: per-user top-k, what-if sessions with unknown tokens, seeded generation."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_model import SampleRun, trained_sample

from core.analysis.next_actions import GenerationConfig, generate, next_actions, what_if
from core.errors import BehaviorLensError, NotFoundError


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    return trained_sample(tmp_path_factory)


def test_next_actions_per_user_are_ranked_probabilities(sample_run: SampleRun) -> None:
    seqs = sample_run.sequences
    users = [str(seqs.user_ids[0]), str(seqs.user_ids[7])]
    result = next_actions(sample_run.loaded, seqs, users, top_k=5)
    assert set(result) == set(users)
    for actions in result.values():
        assert list(actions.items["rank"]) == [1, 2, 3, 4, 5]
        assert actions.items["prob"].is_monotonic_decreasing
        assert (actions.items["prob"] > 0).all()
        assert abs(actions.events["prob"].sum() - 1.0) < 1e-4
        assert set(actions.events["event"]) == set(seqs.event_vocab.tokens[3:])
    with pytest.raises(NotFoundError):
        next_actions(sample_run.loaded, seqs, ["no-such-user"])


def test_what_if_reads_typed_tokens_and_reports_unknown(sample_run: SampleRun) -> None:
    seqs = sample_run.sequences
    item = seqs.item_vocab.tokens[3]
    steps = [(item, "view"), ("not-an-item", "add_to_cart"), (item, "teleport")]
    actions = what_if(sample_run.loaded, seqs, steps, top_k=3)
    assert actions.unknown == ["not-an-item", "teleport"]
    assert len(actions.items) == 3 and actions.items["prob"].is_monotonic_decreasing
    assert bool(actions.items["seen"].iloc[0]) == (actions.items["item"].iloc[0] == item)
    with pytest.raises(BehaviorLensError):
        what_if(sample_run.loaded, seqs, [])


def test_what_if_depends_on_the_session(sample_run: SampleRun) -> None:
    seqs = sample_run.sequences
    a, b = seqs.item_vocab.tokens[3], seqs.item_vocab.tokens[50]
    first = what_if(sample_run.loaded, seqs, [(a, "view"), (a, "add_to_cart")])
    second = what_if(sample_run.loaded, seqs, [(b, "search"), (b, "view")])
    assert not np.allclose(first.items["prob"], second.items["prob"])


def test_generation_is_seeded_and_greedy_matches_what_if(sample_run: SampleRun) -> None:
    seqs = sample_run.sequences
    start = [(seqs.item_vocab.tokens[10], "view")]
    config = GenerationConfig(steps=4, temperature=0.8, top_k=10, seed=3)
    one = generate(sample_run.loaded, seqs, start, config)
    two = generate(sample_run.loaded, seqs, start, config)
    assert one.equals(two) and len(one) == 4
    assert set(one["event"]) <= set(seqs.event_vocab.tokens[3:])
    greedy = generate(sample_run.loaded, seqs, start, GenerationConfig(steps=1, top_k=1))
    assert greedy["item"].iloc[0] == what_if(sample_run.loaded, seqs, start).items["item"].iloc[0]
    with pytest.raises(BehaviorLensError):
        GenerationConfig(temperature=0)
