"""`python -m core predict`: a trained run's guess of a user's next items and next event type.

The history is the user's whole sequence, so this answers "what will they do next" after their
latest event. Items the user already interacted with are kept (repeat purchases and re-views are
real behaviour) and flagged with `"seen": true`. Each item carries its readable `label` (from
the dataset's item table; the id itself when there is none) beside its `id`.

`--all --out FILE` writes every user's top-k instead, a chunk of users at a time, as a long
table (user_id, rank, item_id, item_label, prob, seen, next_event, next_event_prob; see
core/analysis/all_predictions.py): formula-safe CSV or Parquet, by the file's extension. Under
`torchrun --nproc_per_node=N -m core -- predict --all …` each rank scores a share of the users
and rank 0 alone writes the file (the same file as one process) and prints.
"""

from __future__ import annotations

import argparse

import numpy as np

from core.data.items import ItemCatalog
from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED, Vocab
from core.errors import BehaviorLensError, NotFoundError
from core.workspace import Workspace

NAME = "predict"
HELP = "predict a user's next items and event type with a trained run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="trained run to predict with")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="user id as it appears in the source file")
    who.add_argument(
        "--all", action="store_true", help="predict for every user and write the table to --out"
    )
    parser.add_argument(
        "--out", default=None, help="with --all: the file to write (.csv or .parquet)"
    )
    parser.add_argument(
        "--top-k", type=int, default=10, help="how many next items to list (default: 10)"
    )


def run(args: argparse.Namespace) -> dict | None:
    from core.data.items import load_item_catalog
    from core.data.store import load_sequences
    from core.inference.loading import load_run
    from core.training.distributed import is_main_process

    if args.top_k < 1:
        raise BehaviorLensError(f"--top-k must be at least 1, got {args.top_k}")
    if args.all != bool(args.out):
        raise BehaviorLensError("--all and --out go together: --all --out FILE.csv|FILE.parquet")
    workspace = Workspace.at(args.workspace)
    if args.all:
        return _predict_all(workspace, args)
    if not is_main_process():
        return None  # torchrun: one user needs one process; rank 0 answers
    loaded = load_run(workspace, args.run)
    sequences = load_sequences(workspace, loaded.dataset)
    user = _user_index(sequences, args.user, loaded.dataset)
    users = np.array([user], dtype=np.int64)
    cutoffs = sequences.offsets[users + 1]
    prediction = loaded.predict_next(sequences, users, cutoffs)
    seen = set(sequences.items[sequences.user_slice(user)].tolist())
    catalog = load_item_catalog(workspace, loaded.dataset)
    item_probs = prediction.item_scores[0]
    return {
        "run": args.run,
        "dataset": loaded.dataset,
        "user": str(args.user),
        "history_events": int(sequences.lengths()[user]),
        "items": top_items(item_probs, sequences.item_vocab, args.top_k, seen, catalog),
        "events": ranked_tokens(prediction.event_probs[0], sequences.event_vocab),
    }


def _predict_all(workspace: Workspace, args: argparse.Namespace) -> dict | None:
    """Every user's top k into --out; under torchrun each rank scores a share, rank 0 writes."""
    from core.analysis.all_predictions import export_format, export_predictions
    from core.data.items import load_item_catalog
    from core.data.store import load_sequences
    from core.inference.loading import load_run, resolve_device
    from core.progress import TqdmProgress
    from core.training.distributed import device_for, process_group
    from core.training.threads import set_training_threads

    export_format(args.out)  # refuse a bad extension before any work
    device = resolve_device("auto")
    with process_group(device) as context:
        loaded = load_run(workspace, args.run, device_for(context, device))
        sequences = load_sequences(workspace, loaded.dataset)
        set_training_threads(None)  # the idle cores: busy ones make torch's threads wait
        catalog = load_item_catalog(workspace, loaded.dataset)
        bar = TqdmProgress(enabled=None if context.is_main else False)
        try:
            summary = export_predictions(
                loaded, sequences, catalog, args.out, args.top_k, on_progress=bar, context=context
            )
        finally:
            bar.close()
    if summary is None:
        return None  # rank 0 wrote the file and prints
    return {"run": args.run, "dataset": loaded.dataset, **summary}


def top_items(
    probs: np.ndarray,
    vocab: Vocab,
    top_k: int,
    seen: set[int],
    catalog: ItemCatalog | None = None,
) -> list[dict]:
    """The `top_k` real items by probability as {"id", "label", "prob", "seen"}.

    Reserved ids and the no-item token (a search is not something to recommend) are skipped.
    """
    first = vocab.first_real_id
    real = np.asarray(probs[first : len(vocab)], dtype=np.float64)  # (V - first,)
    k = min(top_k, len(real))
    best = np.argpartition(-real, k - 1)[:k] if k < len(real) else np.arange(len(real))
    best = best[np.argsort(-real[best], kind="stable")] + first
    ids = [vocab.token_of(int(i)) for i in best]
    labels = (catalog or ItemCatalog()).labels(ids)
    return [
        {"id": token, "label": label, "prob": round(float(probs[i]), 6), "seen": int(i) in seen}
        for token, label, i in zip(ids, labels, best, strict=True)
    ]


def ranked_tokens(probs: np.ndarray, vocab: Vocab) -> list[dict]:
    """Every real event type by probability, as {"type", "prob"}."""
    order = np.argsort(-np.asarray(probs[NUM_RESERVED : len(vocab)]), kind="stable")
    return [
        {
            "type": vocab.token_of(int(i) + NUM_RESERVED),
            "prob": round(float(probs[i + NUM_RESERVED]), 6),
        }
        for i in order
    ]


def _user_index(sequences: EventSequences, user_id: str, dataset: str) -> int:
    try:
        return sequences.user_index(user_id)
    except KeyError:
        raise NotFoundError(
            f"no user {user_id!r} in dataset {dataset!r} ({sequences.num_users} users)"
        ) from None
