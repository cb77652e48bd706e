"""Error of ``approx_matmul`` versus sketch storage: coordinated sampling against JL/CountSketch.

error = ‖W − AᵀB‖_F / (‖A‖_F ‖B‖_F), median over seeds, at equal storage in bytes
(``Sketch.nbytes``: a linear sketch stores ``size × d`` dense floats; a sampling sketch stores
its sampled rows (sparse when A is), their indices and norms).

Inputs: (i) synthetic sparse matrices with ``s`` non-zeros per row whose row supports overlap
partly (the join setting of Daliri et al.); (ii) Classic3 (from ``../shared/data``):
as terms × documents with A = the MED and B = the CISI documents (cross-collection
similarities), and as documents × terms with A, B = two sets of frequent terms.
Also times sketching a 10⁶ × 10⁴ CSR with 10⁷ non-zeros at size 10⁴ (coordinated).

Usage: python benchmarks/compare/matmul_error.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import projkit

METHODS = ["coordinated", "threshold", "gaussian", "countsketch"]
FRACTIONS = [0.02, 0.05, 0.1, 0.25]  # storage budgets as fractions of A's CSR bytes


def synthetic(n: int, d: int, s: int, overlap: float, seed: int = 0):
    """A, B (n × d, CSR) with s non-zeros per active row; a fraction of rows active in both."""
    rng = np.random.default_rng(seed)

    def make(active):
        rows = np.repeat(active, s)
        cols = rng.integers(0, d, size=rows.size)
        vals = rng.standard_normal(rows.size) * np.repeat(rng.lognormal(0, 1, active.size), s)
        M = sp.csr_matrix((vals, (rows, cols)), shape=(n, d))
        M.sum_duplicates()
        return M

    perm = rng.permutation(n)
    k = n // 4
    shared = perm[: int(overlap * k)]
    a_only = perm[k: 2 * k - shared.size]
    b_only = perm[2 * k: 3 * k - shared.size]
    return make(np.sort(np.r_[shared, a_only])), make(np.sort(np.r_[shared, b_only]))


def _size_for_budget(method: str, A, budget: int, key: int) -> int:
    d = A.shape[1]
    if method in ("gaussian", "countsketch"):
        return max(1, min(A.shape[0], budget // (d * 8)))
    lo, hi = 1, A.shape[0]
    while lo < hi:  # largest size whose sketch fits the budget
        mid = (lo + hi + 1) // 2
        if projkit.sketch(A, mid, method=method, rng=key).nbytes <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def error_table(name: str, A, B, fractions, seeds) -> None:
    exact = (A.T @ B).toarray()
    scale = sp.linalg.norm(A) * sp.linalg.norm(B)
    csr_bytes = A.data.nbytes + A.indices.nbytes + A.indptr.nbytes
    print(f"\n{name}: A {A.shape} nnz={A.nnz} ({csr_bytes / 1024:.0f} KiB as CSR), "
          f"B {B.shape} nnz={B.nnz}")
    print(f"{'budget (KiB)':>12}" + "".join(f"{m:>14}" for m in METHODS)
          + f"{'JL/coord':>10}{'CS/coord':>10}")
    budgets = [int(f * csr_bytes) for f in fractions]
    for budget in budgets:
        errs = {}
        for method in METHODS:
            e = []
            for seed in seeds:
                size_a = _size_for_budget(method, A, budget, seed)
                size_b = _size_for_budget(method, B, budget, seed)
                size = min(size_a, size_b)
                W = projkit.approx_matmul(projkit.sketch(A, size, method=method, rng=seed),
                                          projkit.sketch(B, size, method=method, rng=seed))
                W = W.toarray() if sp.issparse(W) else W
                e.append(np.linalg.norm(W - exact) / scale)
            errs[method] = float(np.median(e))
        c = max(errs["coordinated"], 1e-16)
        print(f"{budget / 1024:>12.0f}" + "".join(f"{errs[m]:>14.4f}" for m in METHODS)
              + f"{errs['gaussian'] / c:>10.1f}{errs['countsketch'] / c:>10.1f}")


def classic3():
    root = Path(os.environ.get("PROJKIT_DATA", Path(__file__).resolve().parents[3] / "shared"
                               / "data"))
    f = root / "classic3.mat"
    if not f.is_file():
        return None
    from scipy.io import loadmat

    m = loadmat(f)
    return sp.csr_matrix(m["A"], dtype=np.float64), np.asarray(m["labels"]).ravel()


def speed(quick: bool) -> None:
    n, d, nnz, size = (200_000, 10_000, 2_000_000, 2_000) if quick else \
        (1_000_000, 10_000, 10_000_000, 10_000)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, n, nnz))
    A = sp.csr_matrix((rng.standard_normal(nnz), (rows, rng.integers(0, d, nnz))), shape=(n, d))
    projkit.sketch(A[:1000], 10, method="coordinated", rng=1)
    for method in ("coordinated", "threshold"):
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            projkit.sketch(A, size, method=method, rng=1)
            ts.append(time.perf_counter() - t0)
        print(f"sketching CSR {n}x{d} nnz={A.nnz} at size {size} ({method}): "
              f"median {np.median(ts):.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    seeds = range(3 if args.quick else 5)
    A, B = synthetic(20_000 if args.quick else 100_000, 300, 5, overlap=0.3)
    error_table("synthetic sparse, s = 5 non-zeros per row, 30% shared rows", A, B,
                FRACTIONS, seeds)
    C = classic3()
    if C is not None:
        C, labels = C
        T = C.T.tocsr()  # terms × documents
        # cross-collection document similarity: rows = terms, A = MED docs, B = CISI docs
        Ta, Tb = T[:, np.flatnonzero(labels == 0)], T[:, np.flatnonzero(labels == 1)]
        error_table("Classic3 terms x documents: A = MED documents, B = CISI documents "
                    "(AᵀB = cross-collection similarities)", Ta.tocsr(), Tb.tocsr(),
                    FRACTIONS, seeds)
        # same collection, different vocabulary: rows = documents, A/B = two term sets
        top = np.argsort(-np.asarray((C.multiply(C)).sum(axis=0)).ravel())
        Ca, Cb = C[:, np.sort(top[:300])], C[:, np.sort(top[300:600])]
        error_table("Classic3 documents x terms (300 most frequent terms vs the next 300)",
                    Ca.tocsr(), Cb.tocsr(), FRACTIONS, seeds)
    else:
        print("\n(Classic3 not found in ../shared/data: real-data table skipped)")
    speed(args.quick)


if __name__ == "__main__":
    main()
