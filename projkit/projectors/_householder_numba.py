"""Numba kernel of the Householder projector (its CPU engine): the squared norms of the vectors.

Constructing a projector needs ``||v_i||^2`` of every vector (for ``tau = 2/||v_i||^2`` or to
check a given ``tau``) and a NaN/inf scan; both are one read of the part of the array that is
used. With LAPACK storage that is only the strictly lower trapezoid, half of an ``n × n`` array,
read here in place without the masked copies ``tril`` makes. Always called on a 3-D array
``(batch, n, k)`` and an int64 flag, accumulating in float64, so each dtype/layout compiles once
and is cached on disk. ``_householder_xp.py`` is the array-namespace (CuPy) engine.
"""

from __future__ import annotations

from types import ModuleType

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def sq_norms(V, lower):  # pragma: no cover - compiled
    """``out[b, j] = ||v_j||^2`` for ``V[b]``: with ``lower = 1`` the unit lower trapezoidal
    vector (``1 + sum_{i > j} V[b, i, j]^2``), else the whole column. NaN/inf propagate."""
    B, n, k = V.shape
    out = np.zeros((B, k), dtype=np.float64)
    for b in range(B):
        for j in range(k):
            s = 0.0
            start = j + 1 if lower == 1 else 0
            for i in range(start, n):
                x = np.float64(V[b, i, j])
                s += x * x
            out[b, j] = s + 1.0 if lower == 1 else s
    return out


def vector_sq_norms(vectors: np.ndarray, lapack: bool, xp: ModuleType) -> np.ndarray:
    """``||v_i||^2`` of every reflector of a ``(..., n, k)`` array: one pass of :func:`sq_norms`
    over the part that is read."""
    n, k = vectors.shape[-2:]
    V3 = vectors.reshape((-1, n, k))
    out = sq_norms(V3, np.int64(1 if lapack else 0))
    return out.reshape((*vectors.shape[:-2], k))

