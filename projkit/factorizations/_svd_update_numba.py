"""Numba kernels of the sparse orthogonalization in :mod:`projkit.factorizations.svd_update`.

The sparse method never densifies an update ``E`` (``s × n``, CSR) and never touches a row of
the stored factor ``Y′`` (``n × k``) that ``E`` does not touch: ``E Y′`` is gathered from the
rows in the support of ``E``, and the update ``Y′ += Eᵀ W`` is scattered into those rows only.
Both cost ``O(nnz(E) k)``; they are serial (rows of ``E`` share columns, so a parallel scatter
would race) and compiled lazily on first use (``cache=True``).

:func:`gather` and :func:`scatter` are the CPU engine's entry points (SciPy CSR ``E``), chosen
by :func:`projkit.factorizations._svd_update_core.engine_ops`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = ["csr_gather", "csr_scatter", "gather", "scatter"]


@njit(cache=True)
def csr_gather(indptr, indices, data, buf):  # pragma: no cover - compiled
    """``E @ buf`` for CSR ``E`` (``s × n``) and dense ``buf`` (``≥ n × k``): ``s × k``."""
    s = indptr.size - 1
    k = buf.shape[1]
    out = np.zeros((s, k), dtype=buf.dtype)
    for i in range(s):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            v = data[p]
            for c in range(k):
                out[i, c] += v * buf[j, c]
    return out


@njit(cache=True)
def csr_scatter(indptr, indices, data, W, buf):  # pragma: no cover - compiled
    """``buf += Eᵀ @ W`` in place for CSR ``E`` (``s × n``) and ``W`` (``s × k``)."""
    s = indptr.size - 1
    k = W.shape[1]
    for i in range(s):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            v = data[p]
            for c in range(k):
                buf[j, c] += v * W[i, c]


def gather(E: Any, buf: Any, n: int) -> Any:
    """``E @ buf[:n]`` for SciPy CSR ``E`` (``s × n``): reads only the rows ``E`` touches."""
    return csr_gather(E.indptr, E.indices, E.data, buf)


def scatter(E: Any, W: Any, buf: Any) -> None:
    """``buf[:n] += Eᵀ W`` in place for SciPy CSR ``E``, writing only the rows it touches."""
    csr_scatter(E.indptr, E.indices, E.data, np.ascontiguousarray(W), buf)
