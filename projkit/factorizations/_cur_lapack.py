"""CPU (NumPy/SciPy LAPACK) engine of the CUR / ID index selection and triangular solve.

Each function has an array-namespace twin in :mod:`._cur_xp` with the same signature;
:mod:`.cur` picks one with :func:`~projkit._backend.dispatch.select`. Both run on one BLAS
thread (they are BLAS-2 bound: threads only add contention). SciPy is imported on first use.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._backend.linalg import solve_triangular
from .._backend.threads import serial_blas

__all__ = ["pivoted_qr_r", "solve_upper"]


def pivoted_qr_r(xp: ModuleType, W: Any, k: int) -> tuple[Any, Any]:
    """First ``k`` rows of ``R`` and the column permutation of ``W Π = Q R`` (LAPACK geqp3)."""
    import scipy.linalg as sla

    with serial_blas(xp):
        R, piv = sla.qr(W, mode="r", pivoting=True, check_finite=False)
    return R[:k], piv


def solve_upper(xp: ModuleType, R11: Any, R12: Any) -> Any:
    """``R11⁻¹ R12`` for a well-conditioned upper-triangular ``R11`` (``trtrs``)."""
    with serial_blas(xp):
        return solve_triangular(xp, R11, R12, lower=False)
