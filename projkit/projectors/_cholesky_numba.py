"""Numba kernel for low-rank Cholesky up- and down-dates (the CPU engine of ``cholesky_update``;
``_cholesky_xp.py`` is the array-namespace engine).

The kernel works on the *upper* factor ``R = Lᵀ`` stored C-contiguous, so that the inner loop of
every rank-1 step runs along a contiguous row of ``R`` and along the contiguous update vector.
Nothing is compiled at import time: the first call compiles (and caches) the kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def chol_rank_update_upper(R, X, sign):  # pragma: no cover - compiled
    """Overwrite ``R`` (upper, ``RᵀR = M``) with the factor of ``M + sign * XᵀX``.

    ``X`` is ``k × m`` (one update vector per row) and is overwritten (used as workspace).
    ``sign`` is +1.0 (update) or -1.0 (downdate). Returns 0 on success, or ``1 + j`` when the
    ``j``-th pivot of some rank-1 step stops being positive (the downdated matrix is not positive
    definite); ``R`` is then left partially updated and must be discarded by the caller.

    The rank-1 step is the classical one (Golub & Van Loan, §6.5.4; LINPACK ``dchud``/``dchdd``):
    a plane rotation for an update, a hyperbolic rotation for a downdate, about ``2m²`` flops.
    The loop runs row-outer (``j``), applying the ``k`` rotations to row ``j`` of ``R`` in
    turn: the same arithmetic as ``k`` sequential rank-1 sweeps (row ``j`` of step ``t`` needs
    only rows ``< j`` of step ``t`` and row ``j`` of step ``t − 1``), but ``R`` is streamed from
    memory once instead of ``k`` times, with ``X`` kept in cache. The strict lower triangle of
    ``R`` is zeroed on the way.
    """
    k, m = X.shape
    for j in range(m):
        for i in range(j):
            R[j, i] = 0.0
        for t in range(k):
            rjj = R[j, j]
            xj = X[t, j]
            r2 = rjj * rjj + sign * xj * xj
            if not (r2 > 0.0):
                return 1 + j
            r = np.sqrt(r2)
            c = r / rjj
            s = xj / rjj
            ic = 1.0 / c
            ss = sign * s
            R[j, j] = r
            for i in range(j + 1, m):
                rji = (R[j, i] + ss * X[t, i]) * ic
                R[j, i] = rji
                X[t, i] = c * X[t, i] - s * rji
    return 0


def rank_update(L: np.ndarray, U: np.ndarray, sign: float) -> np.ndarray:
    """The CPU engine of ``cholesky_update``: the lower factor of ``LLᵀ + sign·UUᵀ`` (NumPy).

    Runs :func:`chol_rank_update_upper` on copies (``L`` and ``U`` are never modified) and
    raises :class:`numpy.linalg.LinAlgError` when a downdate loses positive definiteness.
    """
    if U.shape[1] == 0:
        return np.tril(L)
    # a Fortran copy of L is R = Lᵀ in C order (a plain memcpy when L is Fortran-ordered,
    # as LAPACK's factors are); the kernel zeroes R's strict lower triangle itself
    R = np.array(L, order="F").T
    X = np.array(U.T, order="C")                     # workspace: never the caller's U
    status = chol_rank_update_upper(R, X, sign)
    if status:
        raise np.linalg.LinAlgError(
            f"cholesky_update: the downdate is not positive definite (pivot {status - 1})"
        )
    return R.T
