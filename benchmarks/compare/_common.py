"""Shared helpers of the compare scripts: interleaved timing and peak memory, one process.

Timings are taken as users get them, at the default threads (the headline), and again with
every pool on one thread (BLAS/OpenMP through threadpoolctl, Numba, torch), the figure printed
beside it: :func:`interleaved` returns :class:`Timed` medians that carry both, and :func:`row`
prints both. ``PROJKIT_BENCH_ONE_THREAD=0`` skips the one-thread pass.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
import tracemalloc
from collections.abc import Callable, Iterator

import numpy as np


class Timed(float):
    """A median time (s) at the default threads; ``.one`` is the one-thread median (or nan)."""

    one: float

    def __new__(cls, default: float, one: float = float("nan")) -> Timed:
        obj = super().__new__(cls, default)
        obj.one = one
        return obj


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """BLAS/OpenMP (threadpoolctl), Numba and torch (when loaded) on one thread; restored."""
    import sys

    from threadpoolctl import threadpool_limits

    nb = sys.modules.get("numba")
    torch = sys.modules.get("torch")
    nb_before = nb.get_num_threads() if nb is not None else None
    th_before = torch.get_num_threads() if torch is not None else None
    if nb is not None:
        nb.set_num_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if nb is not None:
            nb.set_num_threads(nb_before)
        if torch is not None:
            torch.set_num_threads(th_before)


def _medians(fns: dict[str, Callable[[], object]], repeat: int,
             warmup: int) -> dict[str, float]:
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


def interleaved(fns: dict[str, Callable[[], object]], repeat: int = 5,
                warmup: int = 1, one: bool | None = None) -> dict[str, Timed]:
    """Median wall time (s) of each function, run in turn so that load hits all alike: at the
    default threads, and (``one``, default on unless ``PROJKIT_BENCH_ONE_THREAD=0``) again on
    one thread, returned as ``.one`` of each value."""
    if one is None:
        one = os.environ.get("PROJKIT_BENCH_ONE_THREAD", "1") != "0"
    default = _medians(fns, repeat, warmup)
    single: dict[str, float] = {}
    if one:
        with one_thread():
            single = _medians(fns, repeat, min(warmup, 1))
    return {k: Timed(v, single.get(k, float("nan"))) for k, v in default.items()}


def peak_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated through Python/NumPy while ``fn`` runs (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def one_txt(ours: float, peer: float, scale: float = 1e3) -> str:
    """`` | 1 thread: ours, peer, ratio`` for two :class:`Timed` values ('' without them)."""
    o, p = getattr(ours, "one", float("nan")), getattr(peer, "one", float("nan"))
    if not (o == o and p == p):  # nan: no one-thread figure
        return ""
    return f"   | 1 thread {o * scale:>9.2f}{p * scale:>11.2f}{p / o:>8.2f}x"


def row(label: str, ours: float, peer: float, unit: str = "ms", scale: float = 1e3) -> str:
    """One printed line: ours, peer, and the speed-up ratio peer/ours at the default threads,
    then the same on one thread (for :class:`Timed` values)."""
    return (f"{label:<48}{ours * scale:>11.2f} {unit}{peer * scale:>11.2f} {unit}"
            f"{peer / ours:>9.2f}x" + one_txt(ours, peer, scale))


def run_per_thread_regime(script: str, argv: list[str], threads: str) -> bool:
    """For scripts that pin threads once at start: with ``threads`` a comma list (default
    ``"default,1"``), run ``script`` once per entry in a fresh process (``--threads T``), the
    default-thread run first (the headline), and return True; else return False."""
    import subprocess
    import sys

    if "," not in threads:
        return False
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--threads":
            skip = True
            continue
        if not a.startswith("--threads="):
            rest.append(a)
    for t in threads.split(","):
        print(f"=== threads: {t} ({'the headline' if t == 'default' else 'beside it'})",
              flush=True)
        subprocess.run([sys.executable, script, *rest, "--threads", t], check=True)
    return True
