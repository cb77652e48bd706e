"""Deng et al.'s sparse GKL and sparse RPI updates: projkit (``method="sparse_gkl"`` /
``"sparse_rpi"``) against the authors' IncSVD (``EvolvingMatrix(..., sparse=True,
method="GKL" / "RPI")``) at the same ``l`` and ``t``, with projkit's dense ``"gkl"`` /
``"randomized"`` baselines and the exact-basis ``"sparse"`` beside them (issue 21).

Protocol: that of ``benchmarks/compare/svd_update.py`` (Deng et al., Section 5): the rank-k
truncated SVD of the first 50 % of the matrix from ``svds`` (outside the timings, the same
factors for every contestant), then the rest added in ``b`` batches as rows, and for Classic3
also as columns. Error: ``‖A - U diag(s) Vᵀ‖_F / ‖A‖_F`` after the last batch. One run per
contestant (wall time of the updates), BLAS at its default thread count (set
``OPENBLAS_NUM_THREADS`` to change it). IncSVD is imported from ``$INCSVD_PATH`` if set (a
directory holding the unpacked wheel) or from the environment; without it only projkit runs.

Run: ``python benchmarks/compare/svd_update_sparse_variants.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[2]))
if os.environ.get("INCSVD_PATH"):
    sys.path.insert(0, os.environ["INCSVD_PATH"])

from svd_update import batches, initial, load, rel_error  # noqa: E402

from projkit import SVDUpdater  # noqa: E402


def run_projkit(method, init, A, axis, steps, l, t):
    U, s, Vt = init
    up = SVDUpdater.from_factors(U, s, Vt, method=method, subspace=l, power_iter=t, rng=0)
    pieces = [A[a:c] if axis == 0 else A[:, a:c].tocsr() for a, c in steps]
    t0 = time.perf_counter()
    for E in pieces:
        if axis == 0:
            up.add_rows(E)
        else:
            up.add_columns(E)
    return time.perf_counter() - t0, (up.U, up.s, up.Vt.T)


def run_incsvd(method, init, A0, A, axis, steps, k, l, t):
    from IncSVD.EvolvingMatrix import EvolvingMatrix

    np.random.seed(0)  # noqa: NPY002 -- IncSVD draws its start vectors from the legacy global RNG
    with contextlib.redirect_stdout(io.StringIO()):
        em = EvolvingMatrix(A0, k, sparse=True, method=method)
    U, s, Vt = init  # the same initial factors as projkit (as benchmarks/compare/svd_update.py)
    em._Uk, em._sigmak, em._Vk = U.copy(), s.copy(), Vt.T.copy()
    em._Ku, em._Kv = np.eye(k), np.eye(k)
    em._inverted_index = [0] * max(A.shape)
    pieces = [sp.csr_matrix(A[a:c]) if axis == 0 else sp.csc_matrix(A[:, a:c])
              for a, c in steps]
    kw = {"l": l} if method == "GKL" else {"l": l, "t": t}
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        for E in pieces:
            if axis == 0:
                em.add_row(E, **kw)
            else:
                em.add_column(E, **kw)
    return time.perf_counter() - t0, (em.Uk, em.Sigmak, em.Vk)


def have_incsvd() -> bool:
    try:
        import IncSVD.EvolvingMatrix  # noqa: F401
    except Exception:
        return False
    return True


def setting(name, A, axis, b, k, l, t, incsvd):
    m, n = A.shape
    half = (m if axis == 0 else n) // 2
    A0 = A[:half] if axis == 0 else A[:, :half].tocsr()
    steps = batches(half, A.shape[axis], b)
    init = initial(A0, k)
    SVDUpdater.from_factors(*init, method="sparse_gkl", subspace=l).add_rows(
        sp.csr_matrix(A0[:3]))                                  # Numba warm-up, not timed
    runs = {}
    for meth in ("sparse_gkl", "sparse_rpi", "gkl", "randomized", "sparse"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs[meth] = run_projkit(meth, init, A, axis, steps, l, t)
    if incsvd:
        for meth in ("GKL", "RPI"):
            runs["IncSVD " + meth] = run_incsvd(meth, init, A0, A, axis, steps, k, l, t)
    label = "rows" if axis == 0 else "columns"
    print(f"\n## {name}: add {label} {half}->{A.shape[axis]} in {len(steps)} batches, k={k}, "
          f"l={l}, t={t}, one run")
    print(f"{'method':<22}{'time (s)':>10}{'rel. error':>12}")
    err = {}
    for key, (dt, fac) in runs.items():
        err[key] = rel_error(A, *fac)
        print(f"{key:<22}{dt:>10.3f}{err[key]:>12.5f}")
    pairs = [("sparse_gkl", "IncSVD GKL"), ("sparse_rpi", "IncSVD RPI"),
             ("sparse_gkl", "gkl"), ("sparse_rpi", "randomized")]
    for ours, peer in pairs:
        if peer in runs:
            print(f"{ours} vs {peer}: ours {runs[ours][0]:.3f} s, peer {runs[peer][0]:.3f} s, "
                  f"speed-up {runs[peer][0] / runs[ours][0]:.1f}x; error ours "
                  f"{err[ours]:.5f} vs peer {err[peer]:.5f} (ratio {err[ours] / err[peer]:.4f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="Classic3 rows and columns, 10 batches")
    ap.add_argument("-k", type=int, default=64)
    ap.add_argument("-l", type=int, default=10)
    ap.add_argument("-t", type=int, default=1)
    args = ap.parse_args()
    inc = have_incsvd()
    print(f"IncSVD available: {inc}; cores: {os.cpu_count()} (shared machine)")
    settings = [("Classic3", "classic3", 0), ("Classic3", "classic3", 1)]
    if not args.quick:
        settings.append(("BlogCatalog", "blogcatalog", 0))
    for b in ((10,) if args.quick else (10, 100)):
        for name, key, axis in settings:
            setting(name, load(key), axis, b, args.k, args.l, args.t, inc)


if __name__ == "__main__":
    main()
