"""How many CPU threads torch should use for training.

Intra-op parallelism in a model this small is a chain of short parallel regions, each ending in a
barrier. When other processes keep the cores busy, a barrier waits for a descheduled thread for
a whole scheduler slice, and a training step gets several times slower than on one thread
(measured on the shared 2-core benchmark machine at load 5-6: 2 threads 190 seq/s, 1 thread
2,100 seq/s, see bench/RESULTS.md). So by default we only use the cores nobody else is using.
"""

from __future__ import annotations

import os

import torch


def idle_cores() -> int:
    """Cores not busy with other work right now (1-minute load average), at least 1."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # no load average on this platform: assume the machine is ours
        busy = 0.0
    return max(1, min(cores, int(cores - busy + 0.5)))


def set_training_threads(requested: int | None) -> int:
    """Set torch's intra-op threads: `requested`, or the idle cores when None; returns it.

    Under torchrun the ranks on this machine (LOCAL_WORLD_SIZE) share the idle cores.
    """
    sharing = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    threads = requested if requested is not None else max(1, idle_cores() // sharing)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    return threads
