"""``python -m projkit info | demo | bench``.

``info`` prints versions and the backends found; ``demo`` is a short tour on built-in data
(generated here, no downloads; the Classic3 term–document matrix too when ``../shared/data`` or
``$PROJKIT_DATA`` holds it); ``bench`` times the sketches on this machine.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import projkit
from projkit.sketching.linear import LINEAR_METHODS


def _version(mod: str) -> str:
    try:
        return str(importlib.import_module(mod).__version__)
    except Exception:
        return "not installed"


def info() -> None:
    """Print versions, CPU threads and whether a CUDA device is usable through CuPy."""
    print(f"projkit {projkit.__version__} on Python {platform.python_version()} "
          f"({platform.machine()}, {os.cpu_count()} CPUs)")
    for mod in ("numpy", "scipy", "numba", "array_api_compat", "cupy", "torch", "dask"):
        print(f"  {mod:<17}{_version(mod)}")
    gpu = "none"
    try:
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
        if n:
            props = cupy.cuda.runtime.getDeviceProperties(0)
            gpu = f"{n} device(s), first: {props['name'].decode()}"
    except Exception:
        pass
    print(f"  GPU (CuPy)       {gpu}")


def _timed(fn: Callable[[], object], repeat: int = 3) -> tuple[object, float]:
    fn()  # warm (Numba compiles on first use, cached on disk afterwards)
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _power_law_matrix(n: int, d: int, nnz_per_row: int, seed: int = 0) -> sp.csr_matrix:
    """A term–document-like sparse matrix: Zipf column popularity, Poisson counts."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, d + 1) ** 1.1
    p /= p.sum()
    cols = rng.choice(d, size=n * nnz_per_row, p=p)
    rows = np.repeat(np.arange(n), nnz_per_row)
    vals = 1.0 + rng.poisson(1.0, size=rows.size)
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n, d))
    A.sum_duplicates()
    return A


def _classic3() -> tuple[sp.csr_matrix, str] | None:
    root = os.environ.get("PROJKIT_DATA")
    cands = [Path(root)] if root else []
    cands += [Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[2] /
              "shared" / "data"]
    for d in cands:
        f = d / "classic3.mat"
        if f.is_file():
            from scipy.io import loadmat

            return sp.csr_matrix(loadmat(f)["A"], dtype=np.float64), str(f)
    return None


def _rel(est, exact) -> float:
    return float(np.linalg.norm(est - exact) / max(np.linalg.norm(exact), 1e-300))


def demo_sketching() -> None:
    print("\n== Sketching A.T @ B from two sketches ==")
    datasets = [("generated power-law 20000 x 2000, 20 nnz/row", _power_law_matrix(20000, 2000,
                                                                                   20))]
    c3 = _classic3()
    if c3 is not None:
        datasets.append((f"Classic3 term-document {c3[0].shape[0]} x {c3[0].shape[1]}", c3[0]))
    for name, A in datasets:
        n = A.shape[0]
        B = A[:, :50]
        exact = (A.T @ B).toarray()
        scale = sp.linalg.norm(A) * sp.linalg.norm(B)
        print(f"{name}, nnz={A.nnz}; error = ||W - A^T B||_F / (||A||_F ||B||_F)")
        print(f"  {'method':<13}{'size':>6}{'rel. error':>12}{'time (ms)':>11}")
        size = min(500, n // 4)
        for method in LINEAR_METHODS:
            (sa, sb), t = _timed(lambda m=method: (projkit.sketch(A, size, method=m, rng=1),
                                                   projkit.sketch(B, size, method=m, rng=1)))
            err = np.linalg.norm(projkit.approx_matmul(sa, sb) - exact) / scale
            print(f"  {method:<13}{size:>6}{err:>12.4f}{1e3 * t:>11.1f}")


_SECTIONS: list[Callable[[], None]] = [demo_sketching]


def demo() -> None:
    """A tour of projkit on built-in data."""
    info()
    for section in _SECTIONS:
        section()


def bench() -> None:
    """Time each linear sketch on a dense and a sparse matrix."""
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((1 << 14, 256))
    sparse = sp.random(100_000, 10_000, density=1e-3, format="csr", rng=rng)
    print(f"{'method':<13}{'dense 16384x256 -> 512 (ms)':>30}{'CSR 1e5x1e4 0.1% -> 256 (ms)':>32}")
    for method in LINEAR_METHODS:
        _, td = _timed(lambda m=method: projkit.sketch(dense, 512, method=m, rng=1))
        _, ts = _timed(lambda m=method: projkit.sketch(sparse, 256, method=m, rng=1))
        print(f"{method:<13}{1e3 * td:>30.1f}{1e3 * ts:>32.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m projkit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["info", "demo", "bench"], nargs="?", default="demo")
    args = parser.parse_args(argv)
    {"info": info, "demo": demo, "bench": bench}[args.command]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
