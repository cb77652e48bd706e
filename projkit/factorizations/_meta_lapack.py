"""CPU (NumPy/SciPy LAPACK) engine of the pseudoinverse's rank-revealing step.

The twin in :mod:`._meta_xp` has the same signature; :func:`.meta.pinv` picks one with
:func:`~projkit._backend.dispatch.select`. SciPy is imported on first use.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .._backend.linalg import eps

__all__ = ["rank_revealing_qr"]


def rank_revealing_qr(xp: ModuleType, A: Any) -> tuple[Any, Any, Any, int]:
    """``A[:, piv] = Q R`` by column-pivoted Householder QR (LAPACK ``geqp3``, economic).

    Returns ``(Q, R, piv, r0)`` with ``r0`` the leading rows of ``R`` worth keeping: those with
    ``|R_ii| > 0.1 · eps · |R₀₀|`` (geqp3's ``|R_ii|`` is non-increasing; dropping the others
    changes ``A`` by less than rounding), 0 when ``R₀₀ = 0``.
    """
    import scipy.linalg as sla

    Q, R, piv = sla.qr(A, mode="economic", pivoting=True, check_finite=False)
    d = np.abs(np.diagonal(R))
    d0 = float(d[0]) if d.shape[0] else 0.0
    if d0 == 0.0:
        return Q, R, piv, 0
    return Q, R, piv, int((d > 0.1 * eps(A.dtype) * d0).sum())
