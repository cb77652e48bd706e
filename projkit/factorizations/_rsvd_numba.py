"""Numba kernels for the randomized SVD: a row-parallel CSR × dense product.

SciPy's CSR × dense product runs on one thread; the randomized SVD spends much of its time in
it, so this kernel splits the rows over Numba's threads (each thread owns its output rows, no
reduction needed). ``Aᵀ @ Y`` stays with SciPy (a scatter that streams ``Y`` once is faster
than gathering rows of ``Y`` through a CSR copy of ``Aᵀ``).
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

__all__ = ["csr_matmat"]


@nb.njit(parallel=True, cache=True, fastmath=False)
def _csr_matmat(indptr, indices, data, X, out):  # pragma: no cover - compiled
    n_rows = indptr.shape[0] - 1
    k = X.shape[1]
    for i in nb.prange(n_rows):
        for jj in range(indptr[i], indptr[i + 1]):
            j = indices[jj]
            v = data[jj]
            for c in range(k):
                out[i, c] += v * X[j, c]


def csr_matmat(A: Any, X: Any) -> np.ndarray:
    """``A @ X`` for a SciPy CSR matrix ``A`` and a dense 2-D ``X`` (C order), in parallel."""
    dt = np.result_type(A.dtype, X.dtype)
    X = np.ascontiguousarray(X, dtype=dt)
    data = A.data if A.data.dtype == dt else A.data.astype(dt)
    out = np.zeros((A.shape[0], X.shape[1]), dtype=dt)
    _csr_matmat(A.indptr, A.indices, data, X, out)
    return out
