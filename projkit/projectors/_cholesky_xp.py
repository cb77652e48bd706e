"""The array-namespace engine of ``cholesky_update`` (serves CuPy; the tests also run it on NumPy).

A GPU does ``m`` sequential rotation sweeps badly and one Cholesky factorization well, so this
engine refactors ``chol(LLᵀ ± UUᵀ)`` instead of updating the factor in place (the CPU engine,
``_cholesky_numba.py``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._backend.linalg import cholesky


def refactor_update(xp: ModuleType, L: Any, U: Any, sign: float) -> Any:
    """The lower factor of ``LLᵀ + sign·UUᵀ`` by a fresh factorization (strict upper of ``L``
    ignored); :class:`numpy.linalg.LinAlgError` when the result is not positive definite."""
    Lt = xp.tril(L)
    if U.shape[1] == 0:
        return Lt
    return cholesky(xp, Lt @ Lt.T + sign * (U @ U.T))
