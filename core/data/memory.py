"""Keep the ingest's resident memory close to what it really holds.

Two allocator habits otherwise inflate peak RSS by ~100-150 MB on a 5M-event log (see
bench/RESULTS.md, Ingest): glibc raises its mmap threshold after the first large free, so the
megabyte-sized column parts the reader frees and re-concatenates stay on the heap; and arrow's
mimalloc pool keeps freed hash tables and batches cached for reuse that never comes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pyarrow as pa

_M_MMAP_THRESHOLD = -3  # mallopt parameter number, from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 1 << 20  # allocations from this size get their own pages, freed at once


def return_freed_memory_promptly() -> None:
    """On glibc, pin the mmap threshold so freed blocks of >= 1 MiB go back to the OS at once.

    Process-wide and idempotent; elsewhere (macOS, musl, Windows) it does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):  # not glibc: no mallopt
        return


def release_cached_memory() -> None:
    """Hand arrow's cached free memory back to the OS (after the read, before the sort)."""
    pa.default_memory_pool().release_unused()
