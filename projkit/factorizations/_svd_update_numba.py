"""Numba kernels of the sparse orthogonalization in :mod:`projkit.factorizations.svd_update`.

The sparse method never densifies an update ``E`` (``s × n``, CSR): it renumbers the columns
``E`` touches (its support ``S``) to ``0 … |S|-1`` so that every product with the stored
factor reads and writes only the ``|S|`` rows in ``S``. Both kernels cost ``O(nnz + n)`` and
``O(|S| k)``; they are compiled lazily on first use (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["compress_columns", "scatter_add_rows"]


@njit(cache=True)
def compress_columns(indices, n_cols):  # pragma: no cover - compiled
    """Support of a CSR matrix and its column indices renumbered onto that support.

    Parameters
    ----------
    indices : int32 or int64 array, shape (nnz,)
        CSR column indices.
    n_cols : int
        Number of columns of the matrix.

    Returns
    -------
    uid : int64 array, shape (|S|,)
        The distinct columns, increasing.
    pos : int64 array, shape (nnz,)
        ``pos[p]`` is the position of ``indices[p]`` in ``uid``.
    """
    slot = np.full(n_cols, -1, np.int64)
    for p in range(indices.size):
        slot[indices[p]] = 0
    count = 0
    for j in range(n_cols):
        if slot[j] == 0:
            slot[j] = count
            count += 1
    uid = np.empty(count, np.int64)
    for j in range(n_cols):
        if slot[j] >= 0:
            uid[slot[j]] = j
    pos = np.empty(indices.size, np.int64)
    for p in range(indices.size):
        pos[p] = slot[indices[p]]
    return uid, pos


@njit(cache=True)
def scatter_add_rows(buf, rows, delta):  # pragma: no cover - compiled
    """``buf[rows[i], :] += delta[i, :]`` in place (``rows`` distinct)."""
    k = buf.shape[1]
    for i in range(rows.size):
        r = rows[i]
        for j in range(k):
            buf[r, j] += delta[i, j]
