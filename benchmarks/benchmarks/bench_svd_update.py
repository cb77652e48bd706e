"""asv benchmarks of projkit.SVDUpdater: adding sparse rows/columns to a truncated SVD.

A synthetic sparse "term-document" matrix (power-law column popularity, like Classic3) keeps
the suite self-contained; ``benchmarks/compare/svd_update.py`` runs the paper's protocol on the
real data.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from projkit import SVDUpdater


def _docs(m: int, n: int, nnz_per_row: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n + 1) ** 0.8
    p /= p.sum()
    cols = rng.choice(n, size=(m, nnz_per_row), p=p)
    rows = np.repeat(np.arange(m), nnz_per_row)
    A = sp.csr_matrix((np.ones(m * nnz_per_row), (rows, cols.ravel())), shape=(m, n))
    A.sum_duplicates()
    return A


class AddRows:
    """Add the second half of the rows in ``batches`` batches."""

    params = (["sparse", "zha-simon", "gkl", "randomized"], [10, 50], [16, 64])
    param_names = ["method", "batches", "k"]
    timeout = 120

    def setup(self, method, batches, k):
        A = _docs(3000, 4000, 40)
        half = A.shape[0] // 2
        self.init = SVDUpdater(A[:half], k, init="exact", rng=0).svd
        edges = np.linspace(half, A.shape[0], batches + 1).round().astype(int)
        self.pieces = [A[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]
        # compile the Numba kernels outside the timings
        SVDUpdater.from_factors(*self.init, method=method).add_rows(self.pieces[0][:2])

    def time_add_rows(self, method, batches, k):
        up = SVDUpdater.from_factors(*self.init, method=method, rng=0)
        for E in self.pieces:
            up.add_rows(E)

    def peakmem_add_rows(self, method, batches, k):
        up = SVDUpdater.from_factors(*self.init, method=method, rng=0)
        for E in self.pieces:
            up.add_rows(E)


class AddColumns:
    """Add the second half of the columns in 10 batches."""

    params = (["sparse", "zha-simon"],)
    param_names = ["method"]

    def setup(self, method):
        A = _docs(3000, 4000, 40).tocsc()
        half = A.shape[1] // 2
        self.init = SVDUpdater(A[:, :half].tocsr(), 32, init="exact", rng=0).svd
        edges = np.linspace(half, A.shape[1], 11).round().astype(int)
        self.pieces = [A[:, a:b].tocsr() for a, b in zip(edges[:-1], edges[1:], strict=True)]
        SVDUpdater.from_factors(*self.init, method=method).add_columns(self.pieces[0][:, :2])

    def time_add_columns(self, method):
        up = SVDUpdater.from_factors(*self.init, method=method)
        for E in self.pieces:
            up.add_columns(E)


class LowRankUpdate:
    """``A + D Eᵀ`` with sparse rank-4 changes, 20 times."""

    params = (["sparse", "zha-simon"],)
    param_names = ["method"]

    def setup(self, method):
        A = _docs(3000, 4000, 40)
        self.init = SVDUpdater(A, 32, init="exact", rng=0).svd
        self.D = [sp.random(3000, 4, density=0.01, random_state=i, format="csr")
                  for i in range(20)]
        self.E = [sp.random(4000, 4, density=0.01, random_state=100 + i, format="csr")
                  for i in range(20)]
        SVDUpdater.from_factors(*self.init, method=method).update(self.D[0], self.E[0])

    def time_update(self, method):
        up = SVDUpdater.from_factors(*self.init, method=method)
        for D, E in zip(self.D, self.E, strict=True):
            up.update(D, E)
