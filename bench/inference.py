"""Inference speed: the top-10 next items for every Amazon Beauty user (issue #3: < 60 s on 2 cores).

    .venv/bin/python -m bench.inference [--device cpu|cuda] [--chunk 2048]

Timing does not depend on what the weights learned, so by default the model is freshly
initialised with the default ModelConfig (the size a default `train` produces); `--workspace` and
`--run` time a trained run on its own dataset instead. The timed work is what `predict` does for
one user, for all of them: encode each whole history, score every item, keep the top 10.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.sasrec_reference import load_beauty_or_say_skipped, machine_note, record_results
from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED
from core.training.threads import set_training_threads

TOP_K = 10  # items listed per user


def top_k_all_users(scorer, sequences: EventSequences, chunk: int) -> np.ndarray:
    """(U, TOP_K) item ids, best first, after each user's whole history; chunked for memory.

    `ModelScorer.top_k` keeps the (users, items) scores inside torch and reduces them to the top
    k block by block, so the full score matrix is never copied out.
    """
    users = np.arange(sequences.num_users)
    out = np.empty((len(users), TOP_K), dtype=np.int64)
    for start in range(0, len(users), chunk):
        part = users[start : start + chunk]
        ids, _ = scorer.top_k(sequences, part, sequences.offsets[part + 1], TOP_K)  # (b, K)
        out[start : start + len(part)] = ids
    return out


def default_scorer(sequences: EventSequences, device: torch.device):
    """A freshly initialised default-size model wrapped in the trainer's scorer."""
    from core.inference.scoring import ModelScorer
    from core.model import BehaviorTransformer, ModelConfig

    torch.manual_seed(0)
    config = ModelConfig(num_items=len(sequences.item_vocab), num_events=len(sequences.event_vocab))
    return ModelScorer(BehaviorTransformer(config).to(device)), "default ModelConfig, untrained"


def run_scorer(workspace: str, run: str):
    """A trained run's scorer and its dataset's sequences."""
    from core.data.store import load_sequences
    from core.inference.loading import load_run
    from core.workspace import Workspace

    loaded = load_run(Workspace.at(workspace), run)
    return loaded.scorer(), load_sequences(Workspace.at(workspace), loaded.dataset)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--chunk", type=int, default=2048, help="users scored per call")
    parser.add_argument("--workspace", default="workspace", help="workspace holding --run")
    parser.add_argument("--run", default=None, help="time this trained run instead")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: idle cores)"
    )
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    set_training_threads(args.threads)
    if args.run:
        scorer, sequences = run_scorer(args.workspace, args.run)
        what = f"run {args.run}"
    else:
        sequences = load_beauty_or_say_skipped()
        if sequences is None:
            return 0
        scorer, what = default_scorer(sequences, torch.device(args.device))
    start = time.perf_counter()
    top = top_k_all_users(scorer, sequences, args.chunk)
    seconds = time.perf_counter() - start
    command = f"`python -m bench.inference --device {args.device} --chunk {args.chunk}`"
    row = [
        time.strftime("%Y-%m-%d"),
        machine_note(),
        command,
        what,
        sequences.num_users,
        len(sequences.item_vocab) - NUM_RESERVED,
        f"{seconds:.1f}",
        f"{sequences.num_users / seconds:.0f}",
        "yes" if seconds < 60 else "no",
    ]
    print(" | ".join(map(str, row)))
    if top.shape != (sequences.num_users, TOP_K):
        raise SystemExit(f"unexpected top-k shape {top.shape}")
    if not args.no_record:
        record_results("Inference: top-10 for every user", COLUMNS, [row])
    return 0


COLUMNS = ["date", "machine", "command", "model", "users", "items", "seconds", "users/s", "< 60 s"]


if __name__ == "__main__":
    raise SystemExit(main())
