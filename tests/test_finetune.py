"""Fine-tuning: derived targets and label files, freezing, and the model vs the counts baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.data.sequences import EventSequences
from core.data.vocab import Vocab
from core.errors import BehaviorLensError, InputError
from core.model import BehaviorTransformer, ModelConfig
from core.training import targets as tg
from core.training.finetune.examples import TEST, TRAIN, VALID, split_users
from core.training.finetune.fit import FineTuneConfig
from core.training.finetune.run import finetune_encoder

DAY = 86_400_000
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "events.csv"


def tiny_sequences() -> EventSequences:
    """Two users. Events: v=view(3), c=cart(4), p=purchase(5).

    user a: session 0 [v c] day 0, session 1 [v p] day 1, session 2 [v] day 20
    user b: session 3 [v v] day 0, session 4 [c p v] day 2
    """
    events = [3, 4, 3, 5, 3, 3, 3, 4, 5, 3]
    sessions = [0, 0, 1, 1, 2, 3, 3, 4, 4, 4]
    days = [0, 0, 1, 1, 20, 0, 0, 2, 2, 2]
    return EventSequences(
        user_ids=np.array(["a", "b"], dtype=object),
        offsets=np.array([0, 5, 10]),
        items=np.arange(10, dtype=np.int32) % 4 + 3,
        events=np.array(events, dtype=np.int32),
        categories=np.full(10, 2, dtype=np.int32),
        timestamps=np.array(days, dtype=np.int64) * DAY + np.arange(10) * 1000,
        sessions=np.array(sessions, dtype=np.int64),
        item_vocab=Vocab.build(["i0", "i1", "i2", "i3"]),
        event_vocab=Vocab.build(["view", "add_to_cart", "purchase"]),
        category_vocab=Vocab.build([]),
    )


def test_next_session_purchase_labels_each_history_by_the_following_session() -> None:
    t = tg.next_session_purchase(tiny_sequences())
    assert t.users.tolist() == [0, 0, 1]
    assert t.cutoffs.tolist() == [2, 4, 7]  # histories end with sessions 0, 1, 3
    assert t.labels.tolist() == [1, 0, 1]  # session 1 buys, session 2 does not, session 4 buys
    assert t.classes == ["no", "yes"]


def test_churn_labels_users_silent_after_the_cut_off() -> None:
    t = tg.churn(tiny_sequences(), days=10)  # cut-off: day 10 (log ends on day 20)
    assert t.users.tolist() == [0, 1]
    assert t.cutoffs.tolist() == [4, 10]  # a: events up to day 1; b: all
    assert t.labels.tolist() == [0, 1]  # a came back on day 20, b churned
    with pytest.raises(BehaviorLensError, match="spans only"):
        tg.churn(tiny_sequences(), days=30)


def test_precedes_purchase_marks_events_before_a_purchase_in_the_same_session() -> None:
    t = tg.precedes_purchase(tiny_sequences())
    assert t.labels.tolist() == [0, 0, 1, 0, 0, 0, 0, 1, 0, 0]
    assert t.causal


def test_purchase_events_can_be_named_and_missing_ones_are_explained() -> None:
    t = tg.precedes_purchase(tiny_sequences(), ("add_to_cart",))
    assert t.labels.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    with pytest.raises(BehaviorLensError, match="view, add_to_cart, purchase"):
        tg.next_session_purchase(tiny_sequences(), ("checkout",))


def test_label_csv_by_user_session_and_src_row(tmp_path: Path) -> None:
    seqs = tiny_sequences()
    users = tmp_path / "u.csv"
    users.write_text("user_id,label\nb,loyal\na,casual\nghost,casual\n")
    t = tg.labels_from_csv(seqs, users)
    assert t.users.tolist() == [1, 0] and t.cutoffs.tolist() == [10, 5]
    assert t.classes == ["casual", "loyal"] and t.labels.tolist() == [1, 0]
    assert t.unmatched == 1
    sessions = tmp_path / "s.csv"
    sessions.write_text("session_id,label\n1,x\n3,y\n")
    t = tg.labels_from_csv(seqs, sessions)
    assert t.users.tolist() == [0, 1] and t.cutoffs.tolist() == [4, 7]
    rows = tmp_path / "r.csv"
    rows.write_text("src_row,label\n12,key\n13,other\n")
    src_rows = np.arange(10) + 10  # line numbers of the 10 events
    t = tg.labels_from_csv(seqs, rows, src_rows)
    assert isinstance(t, tg.TokenTargets)
    assert t.labels.tolist() == [-1, -1, 0, 1, -1, -1, -1, -1, -1, -1]


@pytest.mark.parametrize(
    ("text", "row", "column"),
    [
        ("customer,label\na,x\n", 1, None),
        ("user_id,label\na,x\nb,\n", 3, "label"),
        ("user_id,label\na,x\nb,y\na,y\n", 4, "label"),
        ("session_id,label\n1,x\nfoo,y\n", 3, "session_id"),
        ("user_id,label\na,x\nb,x\n", 2, "label"),
    ],
)
def test_bad_label_files_name_the_row_and_column(tmp_path, text, row, column) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        tg.labels_from_csv(tiny_sequences(), path)
    assert info.value.row == row and info.value.column == column
    assert str(path) in str(info.value)


def test_split_is_by_user_and_seeded() -> None:
    parts = split_users(200, 0.15, 0.2, seed=3)
    assert np.array_equal(parts, split_users(200, 0.15, 0.2, seed=3))
    assert (parts == TEST).sum() == 40 and (parts == VALID).sum() == 30
    assert (parts == TRAIN).sum() == 130


def tiny_model(seqs: EventSequences, **overrides) -> BehaviorTransformer:
    torch.manual_seed(0)
    values = dict(
        num_items=len(seqs.item_vocab),
        num_events=len(seqs.event_vocab),
        num_categories=len(seqs.category_vocab),
        max_len=50,
        dim=32,
        layers=2,
        heads=2,
        dropout=0.3,
    )
    return BehaviorTransformer(ModelConfig(**{**values, **overrides}))


def test_freezing_keeps_embeddings_and_first_blocks_unchanged() -> None:
    from core.training.synthetic import synthetic_sequences

    seqs = synthetic_sequences(num_users=40, num_event_types=3, min_len=6, max_len=12)
    encoder = tiny_model(seqs, max_len=12, dim=16)
    targets = tg.precedes_purchase(seqs, ("e2",))
    config = FineTuneConfig(epochs=2, freeze_embeddings=True, freeze_blocks=1, device="cpu")
    result = finetune_encoder(encoder, seqs, targets, config)
    tuned = result.model.encoder
    assert torch.equal(tuned.embed.item.weight, encoder.embed.item.weight)
    assert torch.equal(tuned.blocks[0].attn.qkv.weight, encoder.blocks[0].attn.qkv.weight)
    assert not torch.equal(tuned.blocks[1].attn.qkv.weight, encoder.blocks[1].attn.qkv.weight)
    with pytest.raises(ValueError, match="freeze-blocks"):
        finetune_encoder(encoder, seqs, targets, FineTuneConfig(freeze_blocks=3, device="cpu"))


@pytest.fixture
def one_thread():
    """The shared CI box has 2 cores; one torch thread is faster than two fighting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_finetuned_tagger_beats_the_bag_of_events_baseline_on_sample_data(
    workspace, one_thread
) -> None:
    """Derived target "a purchase follows this event in its session" on the planted sample data.

    Session-so-far event counts already get ROC-AUC ~0.75; the Transformer also reads the order,
    the time gaps and the user's earlier sessions, and must do better on the same test users.
    """
    from core.data.ingest import ingest
    from core.data.store import load_sequences

    ingest(SAMPLE, "sample", workspace)
    seqs = load_sequences(workspace, "sample")
    targets = tg.precedes_purchase(seqs)
    config = FineTuneConfig(epochs=6, lr=1e-3, device="cpu")
    result = finetune_encoder(tiny_model(seqs), seqs, targets, config)
    model, base = result.metrics, result.baseline
    assert model["examples"] == base["examples"] > 5000  # same held-out events
    assert model["roc_auc"] > base["roc_auc"] + 0.01, (model, base)
    assert model["pr_auc"] > base["pr_auc"] + 0.05, (model, base)


def test_saved_run_loads_back_with_identical_predictions(workspace) -> None:
    from core.inference.loading import LoadedRun
    from core.training.config import TrainConfig
    from core.training.finetune.run import _meta, load_finetuned, save_finetuned
    from core.training.synthetic import synthetic_sequences
    from core.training.windows import FlatInputs, gather

    seqs = synthetic_sequences(num_users=40, num_event_types=3, min_len=6, max_len=12)
    encoder = tiny_model(seqs, max_len=12, dim=16)
    users = np.arange(seqs.num_users)
    targets = tg.SequenceTargets(users, seqs.offsets[1:], users % 2, ["odd", "even"], "parity")
    result = finetune_encoder(encoder, seqs, targets, FineTuneConfig(epochs=1, device="cpu"))
    parent = LoadedRun("parent", Path("."), "syn", encoder, encoder.config, TrainConfig(), {})
    save_finetuned(
        workspace.run_dir("child"),
        result,
        _meta(parent, "child", "next-session-purchase", seqs, result, FineTuneConfig()),
    )
    loaded, model = load_finetuned(workspace, "child", "cpu")
    assert loaded.meta["parent"] == "parent" and loaded.meta["metrics"] == result.metrics
    batch = gather(FlatInputs.from_sequences(seqs, 32), np.array([0, 12]), np.array([6, 9]))
    result.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(batch).logits, result.model(batch).logits)


def test_session_bag_of_events_counts_only_the_session_so_far() -> None:
    from core.training.finetune.examples import session_bag_of_events

    features = session_bag_of_events(tiny_sequences(), np.array([1, 8]))
    # E = 6 ids (3 reserved + view, add_to_cart, purchase): counts first, then own type
    assert features[0].tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0]
    assert features[1].tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1]


def test_time_budget_stops_after_a_batch() -> None:
    from core.training.synthetic import synthetic_sequences

    seqs = synthetic_sequences(num_users=40, num_event_types=3, min_len=6, max_len=12)
    targets = tg.precedes_purchase(seqs, ("e2",))
    config = FineTuneConfig(epochs=50, max_minutes=0.0, batch_size=4, device="cpu")
    result = finetune_encoder(tiny_model(seqs, max_len=12, dim=16), seqs, targets, config)
    assert result.history.stop_reason == "budget" and result.history.epochs == 1
