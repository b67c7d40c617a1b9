"""Whether this CPU multiplies bfloat16 matrices faster than float32, measured once per process.

On CPUs with native bf16 dot products (AVX512-BF16 on AMD Zen 4 / Intel Cooper Lake, AMX on
Sapphire Rapids) oneDNN runs bf16 matmuls 2-3x faster than float32 (measured on the benchmark
machine: 204 vs 91 GFLOP/s on 2048^3, 80 vs 30 GFLOP/s on the (1126, 64) x (64, 54545) output
projection). Elsewhere bf16 is emulated and slower. The feature flags differ per vendor and
platform, so instead of guessing from them we time a small matmul of the output-projection shape.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

import torch

SPEEDUP_NEEDED = 1.3  # bf16 must be clearly faster to be worth its rounding


@functools.cache
def cpu_bf16_matmul_is_faster() -> bool:
    """True when a bf16 (256, 64) x (64, 16384) matmul beats float32 by SPEEDUP_NEEDED here.

    BEHAVIOR_LENS_CPU_BF16=0 or 1 skips the measurement (seconds where bf16 is emulated), for
    tests that start many short training processes.
    """
    forced = os.environ.get("BEHAVIOR_LENS_CPU_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    a32, b32 = torch.randn(256, 64), torch.randn(64, 16384)
    a16, b16 = a32.bfloat16(), b32.bfloat16()
    try:
        bf16 = _best_seconds(lambda: a16 @ b16)
    except RuntimeError:  # no bf16 matmul kernel on this build
        return False
    return _best_seconds(lambda: a32 @ b32) >= SPEEDUP_NEEDED * bf16


def _best_seconds(multiply: Callable[[], object], repeats: int = 5) -> float:
    multiply()  # warm-up: kernel selection, allocation
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        multiply()
        best = min(best, time.perf_counter() - start)
    return best
