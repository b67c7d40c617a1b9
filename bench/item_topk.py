"""Top-k with probabilities over every item: `ItemTopK` against the blocked path it replaced.

    .venv/bin/python -m bench.item_topk --workspace bench/_work/scale-10000000/ws --run r \
        [--users 2048] [--threads 1 2] [--no-record]

Both sides score the same query states (the run's real states for a seeded sample of users)
against every item and must return the same ids; the ratio is the old path's seconds over the
new one's, per thread count, in the same process. CPU seconds (process time) are reported beside
wall seconds because the benchmark machine is shared: under load the wall time of either side
moves with the neighbours, the CPU time far less. The old path (per block: matmul + bias,
`topk`, `logsumexp`; 64 rows at a time) is kept here as the baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.sasrec_reference import machine_note, record_results

SECTION = "Top-k with probabilities over every item (bench/item_topk.py)"
COLUMNS = ["date", "machine", "command", "items", "users", "threads", "old s (cpu s)",
           "new s (cpu s)", "ratio (wall)", "same ids"]  # fmt: skip
OLD_ROWS, OLD_ITEM_BLOCK = 64, 4096  # the replaced path's block sizes


def old_top_k_probs(head, hidden: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The blocked top k that `predict --all` used before ItemTopK (the baseline)."""
    weight, bias, first = head.embedding.weight, head.bias, head.never_ranked  # (V, D)
    top_values, top_ids, norms = [], [], []
    for start in range(first, weight.shape[0], OLD_ITEM_BLOCK):
        stop = min(start + OLD_ITEM_BLOCK, weight.shape[0])
        logits = hidden @ weight[start:stop].T  # (r, b)
        if bias is not None:
            logits = logits + bias[start:stop]  # (r, b)
        best = torch.topk(logits, min(k, stop - start), dim=1)  # (r, k')
        top_values.append(best.values)
        top_ids.append(best.indices + start)
        norms.append(torch.logsumexp(logits, dim=1))  # (r,)
    values, candidates = torch.cat(top_values, dim=1), torch.cat(top_ids, dim=1)  # (r, c)
    norm = torch.logsumexp(torch.stack(norms, dim=1), dim=1, keepdim=True)  # (r, 1)
    best = torch.topk(values, k, dim=1)  # (r, k)
    return candidates.gather(1, best.indices), (best.values - norm).exp()


def timed(score, hidden: torch.Tensor, rows: int) -> tuple[float, float, torch.Tensor]:
    """(wall s, cpu s, ids) of scoring `hidden` `rows` states at a time."""
    wall, cpu = time.perf_counter(), time.process_time()
    ids = torch.cat([score(hidden[s : s + rows])[0] for s in range(0, len(hidden), rows)])
    return time.perf_counter() - wall, time.process_time() - cpu, ids


def query_states(workspace_dir: Path, run: str, users: int) -> tuple[object, torch.Tensor]:
    """The run's item head and the states that predict a seeded sample of users' next item."""
    from core.data.store import load_sequences
    from core.inference.loading import load_run
    from core.workspace import Workspace

    workspace = Workspace.at(workspace_dir)
    loaded = load_run(workspace, run, "cpu")
    sequences = load_sequences(workspace, loaded.dataset)
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(sequences.num_users, min(users, sequences.num_users), False))
    scorer = loaded.scorer()
    states = scorer.query_states(sequences, chosen, sequences.offsets[chosen + 1])
    return scorer.model.item_head, torch.cat([h.float() for _, h in states])


def main(argv: list[str] | None = None) -> int:
    from core.analysis.all_predictions import BLOCK_ROWS
    from core.analysis.item_topk import ItemTopK

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True, help="workspace of the run")
    parser.add_argument("--run", required=True, help="a trained run in that workspace")
    parser.add_argument("--users", type=int, default=2048, help="users scored per side")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    if not (args.workspace / "runs" / args.run).is_dir():
        print(f"skipped: no run {args.run!r} in {args.workspace}", file=sys.stderr)
        return 0
    with torch.inference_mode():
        head, hidden = query_states(args.workspace, args.run, args.users)
        ranker = ItemTopK(head)
        rows = []
        for threads in args.threads:
            torch.set_num_threads(threads)
            machine = machine_note()
            old = timed(lambda h: old_top_k_probs(head, h, 10), hidden, OLD_ROWS)
            new = timed(lambda h: ranker(h, 10), hidden, BLOCK_ROWS)
            command = (
                f"`python -m bench.item_topk --workspace {args.workspace} --run {args.run} "
                f"--users {args.users}`"
            )
            rows.append([
                time.strftime("%Y-%m-%d %H:%M"), machine, command, f"{ranker.num_items:,}",
                f"{len(hidden):,}", threads, f"{old[0]:.2f} ({old[1]:.2f})",
                f"{new[0]:.2f} ({new[1]:.2f})", f"{old[0] / new[0]:.2f}x",
                "yes" if torch.equal(old[2], new[2]) else "NO",
            ])  # fmt: skip
            print(" | ".join(map(str, rows[-1])), flush=True)
    if not args.no_record:
        record_results(SECTION, COLUMNS, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
