"""Fault points: named places where a test can have this process SIGKILLed for real.

A crash can land anywhere; the dangerous places are between two writes that belong together
(the weights and their JSON, a temp file and its rename). To hit them deterministically, the code
calls `fault_point("checkpoint.best.after_weights")` there, and a test starts the process with

    BEHAVIOR_LENS_FAULT_AT=checkpoint.best.after_weights      # the first time it is reached
    BEHAVIOR_LENS_FAULT_AT=train.step@7                       # the 7th time

The process then sends itself SIGKILL: no `finally`, no atexit, no flush, exactly what the
kernel's OOM killer or a pulled plug does. BEHAVIOR_LENS_FAULT_TRACE=FILE lists the points a run
reaches, in order (to choose where to kill). Without either variable a fault point costs two
environment lookups.
The points are listed in `POINTS` so tests can check they name real ones.
"""

from __future__ import annotations

import os
import signal

ENV = "BEHAVIOR_LENS_FAULT_AT"
TRACE_ENV = "BEHAVIOR_LENS_FAULT_TRACE"  # a file: each point reached is appended, one per line

POINTS = (
    "train.step",  # inside an optimizer step: after backward, before the weights change
    "checkpoint.best.start",  # save_best: before the weights file
    "checkpoint.best.after_weights",  # save_best: weights renamed in, config.json not yet
    "checkpoint.resume.start",  # save_resume: before the first file of resume/
    "checkpoint.resume.after_weights",  # save_resume: model written, optimizer/state not yet
    "checkpoint.resume.before_rename",  # save_resume: every file staged, folder not swapped in
    "atomic_write.before_rename",  # atomic_write_bytes: temp file complete, not renamed
    "atomic_directory.before_rename",  # atomic_directory: staging folder complete, not swapped
    "write_together.before_rename",  # write_together: every file staged, none renamed
    "write_together.between_renames",  # write_together: some files renamed in, not all
    "jobs.after_launch",  # core.jobs.spawn: the job started, its pid not yet recorded
)

_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """SIGKILL this process here when BEHAVIOR_LENS_FAULT_AT names this point (and hit count)."""
    trace = os.environ.get(TRACE_ENV)
    if trace:
        with open(trace, "a", encoding="utf-8") as handle:
            handle.write(name + "\n")
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
