"""KroneckerProjection's lazy mode with set queries (the sketches of Song, Yang, Yang & Zhang,
ICML 2023) at n = 64 and n = 128, m = 500, against the exact mode and against recomputing the
projection from scratch with NumPy (issue 21).

Workload: ``A`` is ``m × n²`` Gaussian, ``W`` starts well conditioned; each of ``T`` iterations
applies a small rank-``k`` update (``k`` cycles 1..5, ``|c| ≤ 0.002 λ_min(W)``, so the lazy mode
absorbs most of them), then asks for a plain query ``P h`` and a set query of ``|C| = 25``
coordinates of ``P h``. Every structure runs with default arguments except ``mode`` (the lazy
mode's ``eps = 0.05`` and its default pool). Reported, per ``n``:

* update cost (median per iteration), plain-query cost, set-query cost (the pool refresh, one
  block query of ``K·b`` columns, is reported on its own row), construction cost;
* memory: peak bytes traced (tracemalloc) while building the structure and while answering the
  first set query (which allocates and fills the pool);
* coordinate errors: ``max |answer_i − (P h)_i|`` over all set queries and coordinates, divided
  by the stated bound ``error_bound‖h‖ + √(8/b)‖P̃h‖ + (γ/2)‖h‖`` (≤ 1 means within it), with
  ``P h`` from the exact mode.

CPU time of this process is reported (the machine is shared; wall time mostly measures waiting).
Run: ``python benchmarks/compare/kronecker_sketched.py`` or ``--quick`` (n = 16, 24).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg as sla

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kronecker import make_sequence

import projkit


def cpu(fn, *a, **k):
    c = time.process_time()
    r = fn(*a, **k)
    return time.process_time() - c, r


def traced(fn, *a, **k):
    gc.collect()
    tracemalloc.start()
    try:
        r = fn(*a, **k)
        return tracemalloc.get_traced_memory()[1], r
    finally:
        tracemalloc.stop()


def make(n, m, T, seed=0):
    """The sequence of ``benchmarks/compare/kronecker.py`` (small updates: scale 0.002) plus
    25 random coordinates per set query."""
    A, W0, seq = make_sequence(n, m, T, 0.002, seed)
    rng = np.random.default_rng(seed + 1)
    return A, W0, [(U, c, h, rng.choice(n * n, 25, replace=False)) for U, c, h in seq]


def recompute(A, W):
    m, n2 = A.shape
    n = int(round(n2**0.5))
    B = np.matmul(W, A.reshape(m, n, n)).reshape(m, n2)
    return B, sla.cho_factor(B @ B.T, lower=True, check_finite=False)


def bench(n, m, T):
    A, W0, seq = make(n, m, T)
    out = {}
    t_build_ex, ex = cpu(projkit.KroneckerProjection, A, W0)
    mem_build, lz = traced(projkit.KroneckerProjection, A, W0, mode="lazy", rng=1)
    t_build_lz, lz2 = cpu(projkit.KroneckerProjection, A, W0, mode="lazy", rng=1)
    del lz2
    o = lz._pool_options
    up_ex, up_lz, up_rc, q_ex, q_lz, q_set, q_rc, ratios = [], [], [], [], [], [], [], []
    W = W0.copy()
    mem_first_set = None
    t_refresh = 0.0
    def solve_rc(B, cf, h):
        return B.T @ sla.cho_solve(cf, B @ h, check_finite=False)

    for U, c, h, C in seq:
        W = W + (U * c) @ U.T
        for store, fn, args in [(up_ex, ex.update, (U, c)), (up_lz, lz.update, (U, c))]:
            store.append(cpu(fn, *args)[0])
        t, (B, cf) = cpu(recompute, A, W)
        up_rc.append(t)
        t, Ph = cpu(ex.query, h)
        q_ex.append(t)
        q_lz.append(cpu(lz.query, h)[0])
        q_rc.append(cpu(solve_rc, B, cf, h)[0])
        stale = lz._pool is None or lz._pool_version != lz._fversion
        if mem_first_set is None:
            c0 = time.process_time()
            mem_first_set, ans = traced(lz.query, h, C)
            t_refresh = time.process_time() - c0
        else:
            t, ans = cpu(lz.query, h, C)
            if stale:
                t_refresh = max(t_refresh, t)
            else:
                q_set.append(t)
        Pt_h = np.linalg.norm(lz.query(h))
        bound = (lz.error_bound * np.linalg.norm(h) + lz.set_query_accuracy * Pt_h
                 + 0.5 * o["resolution"] * np.linalg.norm(h))
        ratios.append(float(np.max(np.abs(ans - Ph[C])) / bound))
    out.update(b=o["sketch_size"], K=o["n_sketches"], L=o["per_query"],
               pool=lz._pool.nbytes, mem_build=mem_build, mem_set=mem_first_set,
               t_build_ex=t_build_ex, t_build_lz=t_build_lz, t_refresh=t_refresh,
               up_ex=np.median(up_ex), up_lz=np.median(up_lz), up_rc=np.median(up_rc),
               q_ex=np.median(q_ex), q_lz=np.median(q_lz), q_rc=np.median(q_rc),
               q_set=np.median(q_set) if q_set else float("nan"),
               ratio_max=max(ratios), ratio_med=float(np.median(ratios)),
               lazy=lz.stats["lazy"], updates=lz.stats["updates"], acc=lz.set_query_accuracy,
               err_bound=lz.error_bound)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--T", type=int, default=8)
    args = ap.parse_args()
    sizes = [(16, 100), (24, 200)] if args.quick else [(64, 500), (128, 500)]
    warnings.simplefilter("ignore", DeprecationWarning)
    for n, m in sizes:
        r = bench(n, m, args.T)
        print(f"\nn = {n} (n² = {n * n}), m = {m}, T = {args.T}; lazy pool: b = {r['b']} "
              f"(b/n² = {r['b'] / n**2:.4f}), K = {r['K']}, L = {r['L']}, "
              f"√(8/b) = {r['acc']:.3f}; {r['lazy']}/{r['updates']} updates absorbed lazily")
        print(f"{'per iteration (CPU ms)':<34}{'lazy (ours)':>12}{'exact (ours)':>14}"
              f"{'recompute':>12}{'exact/lazy':>12}{'recomp/lazy':>12}")
        for label, a, b_, c in [("update", r["up_lz"], r["up_ex"], r["up_rc"]),
                                ("plain query", r["q_lz"], r["q_ex"], r["q_rc"]),
                                ("set query |C|=25 (pool fresh)", r["q_set"], r["q_ex"],
                                 r["q_rc"])]:
            print(f"{label:<34}{a * 1e3:>12.2f}{b_ * 1e3:>14.2f}{c * 1e3:>12.2f}"
                  f"{b_ / a:>12.2f}{c / a:>12.2f}")
        print(f"{'construction (CPU s)':<34}{r['t_build_lz']:>12.2f}{r['t_build_ex']:>14.2f}")
        print(f"{'pool refresh, 1st set query (CPU s)':<34}{r['t_refresh']:>12.2f}")
        print(f"memory: pool {r['pool'] / 2**20:.0f} MiB; peak traced while building "
              f"{r['mem_build'] / 2**20:.0f} MiB, during the first set query "
              f"{r['mem_set'] / 2**20:.0f} MiB (stated bound: 1024 MiB)")
        print(f"coordinate error / stated bound: max {r['ratio_max']:.3f}, median "
              f"{r['ratio_med']:.3f} (≤ 1 is within the bound); final error_bound "
              f"{r['err_bound']:.4f} ≤ eps = 0.05")


if __name__ == "__main__":
    main()
