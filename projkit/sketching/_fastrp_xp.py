"""The array-namespace engine of FastRP: propagation by sparse-matrix products.

This is CuPy's path (cuSPARSE SpMM through :mod:`cupyx.scipy.sparse`, on the device) and, on
SciPy, the reference the fused Numba kernels of :mod:`._fastrp_numba` are tested against. The
adjacency and the initial vectors are CSR matrices, so it serves SciPy and CuPyX only.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def scale_rows(M: Any, scale: Any, xp: ModuleType) -> Any:
    """``diag(scale) @ M`` for CSR ``M`` (a new matrix; SciPy and CuPyX alike)."""
    M = M.tocsr().copy()
    # the row of every stored entry (searchsorted: the same on NumPy and CuPy)
    rows = xp.searchsorted(M.indptr, xp.arange(M.nnz), side="right") - 1
    M.data *= scale[rows].astype(M.dtype)
    return M


def _row_normalized(N: Any, xp: ModuleType) -> Any:
    norms = xp.sqrt(xp.sum(N * N, axis=1, dtype=xp.float64))
    inv = xp.zeros_like(norms)
    nz = norms > 0
    inv[nz] = 1.0 / norms[nz]
    return N * inv.astype(N.dtype)[:, None]


def propagate(S: Any, V: Any, rowscale: Any, xp: ModuleType, alphas: tuple[float, ...],
              self_influence: float, normalize: bool, dtype: np.dtype) -> Any:
    """``E = Σ αᵢ nrm(Aⁱ V) + σ nrm(V)`` with ``A = diag(rowscale) S``, by sparse products."""
    A = scale_rows(S, rowscale, xp)
    nrm = (lambda X: _row_normalized(X, xp)) if normalize else (lambda X: X)
    acc = xp.zeros(V.shape, dtype=dtype)
    if self_influence != 0.0:
        acc += dtype.type(self_influence) * nrm(V.toarray())
    N = (A @ V).toarray()
    for i, alpha in enumerate(alphas):
        if i:
            N = A @ N
        if alpha != 0.0:
            acc += dtype.type(alpha) * nrm(N)
    return acc
