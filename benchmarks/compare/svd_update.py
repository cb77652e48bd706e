"""Truncated SVD updates in the protocol of Deng et al. (ICLR 2024): projkit against its peers.

Run from the repository root::

    python benchmarks/compare/svd_update.py --quick   # Classic3 rows+columns, BlogCatalog rows,
                                                      # k = 64, 10 batches, ~2 minutes
    python benchmarks/compare/svd_update.py           # + 100 batches, k = 16, 3 repeats

Protocol (Deng et al., Section 5; Zha & Simon 1999): the rank-k truncated SVD of the first 50 %
of a real sparse matrix is computed once (``scipy.sparse.linalg.svds``, outside the timings),
then the rest is added in ``b`` batches -- as rows (new documents / new nodes), and for Classic3
also as columns (new terms, the first 50 % of the terms holding all documents). Data:
``../shared/data/classic3.mat`` (``A``: 3 891 documents x 4 303 terms, MED/CRAN/CISI) and
``blogcatalog.mat`` (``network``: 10 312-node adjacency).

Contestants, each on the same batches in one process, interleaved, median over repeats:

* ``projkit.SVDUpdater`` with ``method="sparse"`` (ours), ``"zha-simon"``, ``"gkl"`` and
  ``"randomized"`` (the paper's baselines, l = 10, t = 1);
* recomputing with ``svds`` after every batch (timed on ``--svds-steps`` evenly spaced steps and
  scaled to all ``b`` steps; the line says so);
* the authors' package ``IncSVD`` (``pip install IncSVD``) with its sparse Zha--Simon-based
  method (``EvolvingMatrix(..., sparse=True, method="ZhaSimon")``), when importable.

Reported per setting: total update time (s), the relative Frobenius error
``‖A - U diag(s) Vᵀ‖_F / ‖A‖_F`` after the last batch, and the ratios that the issue targets:
speed-up of ``sparse`` over Zha--Simon, over recomputing with svds and over IncSVD, and the
error of ``sparse`` relative to Zha--Simon's. The headline times are at the default threads
(what users get); the one-thread time of each contender is printed beside it (``--threads N``
pins every pool to N threads from the start instead). On the 2-core machine shared with other
jobs, multi-threaded OpenBLAS under contention slowed the dense baselines by up to 20x at
random. Timings are indicative.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

# default threads unless --threads N pins every pool (set before NumPy loads)
if __name__ == "__main__" and "--threads" in sys.argv:
    _nt = sys.argv[sys.argv.index("--threads") + 1]
    if _nt != "default":
        for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(_var, _nt)

import numpy as np
import scipy.io
import scipy.sparse as sp
from scipy.sparse.linalg import svds

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from projkit import SVDUpdater  # noqa: E402

sys.path.insert(0, str(HERE.parent))
from _common import one_thread  # noqa: E402

DATA = Path(os.environ.get("PROJKIT_DATA", HERE.parents[3] / "shared" / "data"))
METHODS = ("sparse", "zha-simon", "gkl", "randomized")


def load(name: str) -> sp.csr_matrix:
    if name == "classic3":
        A = scipy.io.loadmat(DATA / "classic3.mat")["A"]
    else:
        A = scipy.io.loadmat(DATA / "blogcatalog.mat")["network"]
    A = sp.csr_matrix(A, dtype=np.float64)
    A.sum_duplicates()
    return A


def rel_error(A: sp.csr_matrix, U: np.ndarray, s: np.ndarray, V: np.ndarray) -> float:
    """``‖A - U S Vᵀ‖_F / ‖A‖_F`` without forming a dense m x n matrix (U, V orthonormal
    columns): ``‖A‖² - 2 Σ sᵢ uᵢᵀ A vᵢ + ‖s‖²`` plus the small correction for non-orthonormal
    factors (``‖U S Vᵀ‖² = tr(S UᵀU S VᵀV)``)."""
    nA2 = float(A.multiply(A).sum())
    AV = A @ V
    cross = float(np.sum(s * np.einsum("ij,ij->j", U, AV)))
    low2 = float(np.sum(np.outer(s, s) * (U.T @ U) * (V.T @ V)))
    return float(np.sqrt(max(nA2 - 2.0 * cross + low2, 0.0) / nA2))


def batches(start: int, stop: int, b: int) -> list[tuple[int, int]]:
    edges = np.linspace(start, stop, b + 1).round().astype(int)
    return [(int(a), int(c)) for a, c in zip(edges[:-1], edges[1:], strict=True) if c > a]


def initial(A0: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v0 = np.random.default_rng(0).uniform(-1, 1, min(A0.shape))
    U, s, Vt = svds(A0, k=k, v0=v0)
    order = np.argsort(-s)
    return U[:, order], s[order], Vt[order]


# ---------------------------------------------------------------------------------------------
# one run of each contestant: returns (seconds spent in updates, final (U, s, V))


def run_projkit(method, init, A, axis, steps, k):
    U, s, Vt = init
    up = SVDUpdater.from_factors(U, s, Vt, method=method, rng=0)
    pieces = [A[a:c] if axis == 0 else A[:, a:c].tocsr() for a, c in steps]
    t0 = time.perf_counter()
    for E in pieces:
        if axis == 0:
            up.add_rows(E)
        else:
            up.add_columns(E)
    dt = time.perf_counter() - t0
    return dt, (up.U, up.s, up.Vt.T)


def run_incsvd(init, A0, A, axis, steps, k):
    from IncSVD.EvolvingMatrix import EvolvingMatrix

    with contextlib.redirect_stdout(io.StringIO()):
        em = EvolvingMatrix(A0, k, sparse=True, method="ZhaSimon")
    U, s, Vt = init  # start from the same factors as everyone else
    em._Uk, em._sigmak, em._Vk = U.copy(), s.copy(), Vt.T.copy()
    em._Ku, em._Kv = np.eye(k), np.eye(k)
    pieces = [sp.csr_matrix(A[a:c]) if axis == 0 else sp.csc_matrix(A[:, a:c])
              for a, c in steps]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        for E in pieces:
            if axis == 0:
                em.add_row(E)
            else:
                em.add_column(E)
    dt = time.perf_counter() - t0
    return dt, (em.Uk, em.Sigmak, em.Vk)


def time_svds(A, axis, steps, k, n_samples):
    """Seconds to recompute ``svds`` after every step, from ``n_samples`` evenly spaced steps
    (exact when ``n_samples >= len(steps)``)."""
    idx = np.unique(np.linspace(0, len(steps) - 1, min(n_samples, len(steps))).round()
                    .astype(int))
    times, last = [], None
    for i in idx:
        stop = steps[i][1]
        Ai = A[:stop] if axis == 0 else A[:, :stop].tocsr()
        v0 = np.random.default_rng(0).uniform(-1, 1, min(Ai.shape))
        t0 = time.perf_counter()
        res = svds(Ai, k=k, v0=v0)
        times.append(time.perf_counter() - t0)
        last = res
    total = float(np.mean(times)) * len(steps)
    U, s, Vt = last
    return total, (U, s, Vt.T), len(idx)


def have_incsvd() -> bool:
    try:
        import IncSVD.EvolvingMatrix  # noqa: F401
    except Exception:
        return False
    return True


def setting(name, A, axis, b, k, repeats, svds_steps, methods, incsvd=True):
    m, n = A.shape
    if axis == 0:
        half = m // 2
        A0 = A[:half]
        steps = batches(half, m, b)
    else:
        half = n // 2
        A0 = A[:, :half].tocsr()
        steps = batches(half, n, b)
    init = initial(A0, k)
    runners = {meth: (lambda meth=meth: run_projkit(meth, init, A, axis, steps, k))
               for meth in methods}
    if incsvd and have_incsvd():
        runners["IncSVD"] = lambda: run_incsvd(init, A0, A, axis, steps, k)
    # warm-up (Numba compilation, caches) outside the timings
    SVDUpdater.from_factors(*init, method="sparse").add_rows(sp.csr_matrix(A0[:3]))
    times = {key: [] for key in runners}
    times1 = {key: [] for key in runners}
    final = {}
    for regime, store in ((contextlib.nullcontext, times), (one_thread, times1)):
        with regime():
            for _ in range(repeats):
                for key, fn in runners.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        dt, fac = fn()
                    store[key].append(dt)
                    final[key] = fac
    t_svds, fac_svds, n_svds = time_svds(A, axis, steps, k, svds_steps)
    rows = []
    for key in runners:
        U, s, V = final[key]
        rows.append((key, statistics.median(times[key]), rel_error(A, U, s, V)))
    rows.append((f"svds x{len(steps)} ({n_svds} timed)", t_svds, rel_error(A, *fac_svds)))
    label = "rows" if axis == 0 else "columns"
    print(f"\n## {name}: add {label} {half}->{A.shape[axis]} in {len(steps)} batches, k={k}, "
          f"median of {repeats}")
    print(f"{'method':<26}{'time (s)':>10}{'rel. error':>12}{'ours faster by':>16}"
          f"{'| 1 thread (s)':>15}{'faster by':>11}")
    ours_t = rows[0][1]
    ours_1 = statistics.median(times1[rows[0][0]])
    for key, t, e in rows:
        one = (f"{statistics.median(times1[key]):>15.3f}"
               f"{statistics.median(times1[key]) / ours_1:>10.1f}x") if key in times1 else ""
        print(f"{key:<26}{t:>10.3f}{e:>12.5f}{t / ours_t:>15.1f}x{one}")
    d = {key: (t, e) for key, t, e in rows}
    zs = d.get("zha-simon")
    if zs:
        print(f"targets: sparse vs zha-simon speed-up {zs[0] / ours_t:.1f}x (>= 10), "
              f"svds speed-up {t_svds / ours_t:.1f}x (>= 5), "
              f"error ratio {d['sparse'][1] / zs[1]:.4f} (<= 1.01)")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 batches, k = 64, 1 repeat")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--svds-steps", type=int, default=None,
                    help="steps at which svds recomputation is timed (scaled to all steps)")
    ap.add_argument("--threads", default="default",
                    help="pin BLAS/OpenMP to N threads from the start (default: leave them)")
    ap.add_argument("--incsvd", choices=["auto", "all", "off"], default="auto",
                    help="run the authors' IncSVD: auto = everywhere, but only Classic3 rows "
                         "with --quick (its pure-Python Gram-Schmidt takes minutes on the "
                         "other settings)")
    ap.add_argument("--data", choices=["classic3", "blogcatalog", "both"], default="both")
    ap.add_argument("--batches", type=int, nargs="+", default=None,
                    help="numbers of batches (default: 10 with --quick, else 10 and 100)")
    ap.add_argument("--k", type=int, nargs="+", default=None,
                    help="ranks (default: 64 with --quick, else 64 and 16)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    svds_steps = args.svds_steps or (2 if args.quick else 5)
    if not (DATA / "classic3.mat").exists():
        print(f"data not found in {DATA}; set PROJKIT_DATA")
        return 1
    grid_b = args.batches or ((10,) if args.quick else (10, 100))
    grid_k = args.k or ((64,) if args.quick else (64, 16))
    print(f"IncSVD available: {have_incsvd()}; cores: {os.cpu_count()} (shared machine)")
    jobs = []
    if args.data in ("classic3", "both"):
        C = load("classic3")
        jobs += [("Classic3", C, 0), ("Classic3", C, 1)]
    if args.data in ("blogcatalog", "both"):
        B = load("blogcatalog")
        jobs += [("BlogCatalog", B, 0)]
    for k in grid_k:
        for b in grid_b:
            for name, A, axis in jobs:
                inc = args.incsvd == "all" or (
                    args.incsvd == "auto" and not (args.quick and (name, axis) != ("Classic3", 0)))
                setting(name, A, axis, b, k, repeats, svds_steps, METHODS, incsvd=inc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
