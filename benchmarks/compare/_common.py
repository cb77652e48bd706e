"""Shared helpers of the compare scripts: interleaved timing and peak memory, one process."""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable

import numpy as np


def interleaved(fns: dict[str, Callable[[], object]], repeat: int = 5,
                warmup: int = 1) -> dict[str, float]:
    """Median wall time (s) of each function, run in turn so that load hits all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def peak_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated through Python/NumPy while ``fn`` runs (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def row(label: str, ours: float, peer: float, unit: str = "ms", scale: float = 1e3) -> str:
    """One printed line: ours, peer, and the speed-up ratio peer/ours."""
    return (f"{label:<48}{ours * scale:>11.2f} {unit}{peer * scale:>11.2f} {unit}"
            f"{peer / ours:>9.2f}x")
