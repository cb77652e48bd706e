"""The Numba engine of the coordinated sketches: squared row norms of a CSR matrix, O(nnz)."""

import numba as nb
import numpy as np


@nb.njit(cache=True, parallel=True)
def csr_row_sq_norms(indptr, data):  # pragma: no cover - compiled
    """``‖a_i‖²`` of each row of a CSR matrix, accumulated in float64."""
    n = indptr.shape[0] - 1
    out = np.empty(n, np.float64)
    for i in nb.prange(n):
        acc = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            v = np.float64(data[p])
            acc += v * v
        out[i] = acc
    return out


def row_sq_norms_csr(A, xp=np):
    """The Numba engine's squared row norms of a SciPy CSR matrix (``xp`` is NumPy)."""
    return csr_row_sq_norms(A.indptr, A.data)
