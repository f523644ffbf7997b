"""Wall-clock timing shared by the PyTorch benchmark scripts (bench_torch.py, bench_gemm_torch.py)."""

from __future__ import annotations

import time


def wall_times(fn, runs: int, warmup: int) -> list[float]:
    """Seconds of each of `runs` calls of `fn`, after `warmup` calls that are not timed."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times
