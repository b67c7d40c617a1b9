"""How many CPU threads torch should use: the cores nobody else is using, measured, not guessed.

Intra-op parallelism in a model this small is a chain of short parallel regions, each ending in a
barrier. When other processes keep the cores busy, a barrier waits for a descheduled thread for
a whole scheduler slice, and a training step gets several times slower than on one thread
(measured on the shared 2-core benchmark machine at load 5-6: 2 threads 190 seq/s, 1 thread
2,100 seq/s, see bench/RESULTS.md). So by default we only use the cores nobody else is using.

Why not the load average: the 1-minute figure lags by minutes, so right after another job ends a
quiet 2-core machine still reads "busy" and training ran on one thread. Instead we count the
threads that are runnable right now (the kernel's run queue in /proc/loadavg, sampled a few
times over a fraction of a second, minus our own runnable threads), against the cores this
process may use (CPU affinity and the cgroup's CPU quota, as containers set them). Long runs
re-measure (`ThreadRecheck`), so a run that started beside a busy job takes the cores back when
that job ends.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

LOADAVG = Path("/proc/loadavg")  # 4th field: runnable/total scheduling entities, right now
OWN_TASKS = Path("/proc/self/task")  # our threads; state "R" = runnable
CGROUP_QUOTAS = (  # (file, how to read it): cgroup v2, then v1
    Path("/sys/fs/cgroup/cpu.max"),
    Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
)
QUEUE_SAMPLES = 10  # run-queue readings averaged per measurement
QUEUE_INTERVAL_S = 0.005  # between readings: about 0.05 s per measurement in all
RECHECK_EVERY_S = 60.0  # how often a long training run measures again


def usable_cores() -> int:
    """Cores this process may run on: CPU affinity, capped by the cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        cores = os.cpu_count() or 1
    quota = cgroup_quota()
    return max(1, min(cores, quota) if quota is not None else cores)


def cgroup_quota() -> int | None:
    """Whole cores allowed by the cgroup (v2 cpu.max or v1 cfs quota), None when unlimited."""
    v2, v1 = CGROUP_QUOTAS
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else math.ceil(int(quota) / int(period))
        if v1.exists():
            quota = int(v1.read_text())
            period = int((v1.parent / "cpu.cfs_period_us").read_text())
            return None if quota <= 0 else math.ceil(quota / period)
    except (OSError, ValueError):  # unreadable or odd: no quota we can honour
        return None
    return None


def others_runnable() -> float | None:
    """Threads of other processes runnable right now (averaged), None without /proc."""
    samples = []
    try:
        for i in range(QUEUE_SAMPLES):
            if i:
                time.sleep(QUEUE_INTERVAL_S)
            runnable = int(LOADAVG.read_text().split()[3].split("/")[0])
            samples.append(max(0, runnable - own_runnable()))
    except (OSError, ValueError, IndexError):
        return None
    return sum(samples) / len(samples)


def own_runnable() -> int:
    """Our threads in state R (running or waiting for a core), the reading thread included."""
    count = 0
    for task in OWN_TASKS.iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        if stat[stat.rindex(")") + 2] == "R":  # the field after "(comm)"; comm may hold spaces
            count += 1
    return count


def idle_cores() -> int:
    """Usable cores not busy with other work right now, at least 1.

    Falls back to the 1-minute load average where the run queue cannot be read.
    """
    cores = usable_cores()
    busy = others_runnable()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except OSError:  # no load figure at all: assume the machine is ours
            busy = 0.0
    return max(1, min(cores, int(cores - busy + 0.5)))


def auto_threads() -> int:
    """The idle cores, shared among the torchrun ranks on this machine (LOCAL_WORLD_SIZE)."""
    sharing = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, idle_cores() // sharing)


def set_training_threads(requested: int | None) -> int:
    """Set torch's intra-op threads: `requested`, or the measured idle cores when None."""
    threads = requested if requested is not None else auto_threads()
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    return threads


@dataclass
class ThreadRecheck:
    """Measures the idle cores again every `every_s` seconds of a long run and follows them.

    Called between steps (`maybe_update`), where torch's pool is idle, so our own threads are
    not counted as someone else's. Does nothing when the thread count was set by the user.
    """

    requested: int | None  # the user's --threads; None = automatic
    every_s: float = RECHECK_EVERY_S
    last_check: float = 0.0

    def __post_init__(self) -> None:
        self.last_check = time.monotonic()

    def maybe_update(self) -> int | None:
        """The new thread count when it changed, else None."""
        now = time.monotonic()
        if self.requested is not None or now - self.last_check < self.every_s:
            return None
        self.last_check = now
        before = torch.get_num_threads()
        after = set_training_threads(None)
        return after if after != before else None
