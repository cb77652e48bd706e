"""Array-namespace engine of the pseudoinverse's rank-revealing step (CuPy and any namespace
with ``linalg.qr``); the CPU twin is :mod:`._meta_lapack`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

__all__ = ["rank_revealing_qr"]


def rank_revealing_qr(xp: ModuleType, A: Any) -> tuple[Any, Any, Any, int]:
    """``A = Q R`` by unpivoted Householder QR (``geqrf``; CuPy has no pivoted QR), ``piv`` the
    identity, and every row of ``R`` kept (``r0 = k``; 0 when ``R₀₀ = 0``): the SVD of the
    whole triangle decides the rank."""
    Q, R = xp.linalg.qr(A, mode="reduced")
    piv = xp.arange(A.shape[1])
    d = xp.abs(xp.diagonal(R)) if hasattr(xp, "diagonal") else xp.abs(xp.diag(R))
    d0 = float(d[0]) if d.shape[0] else 0.0
    return Q, R, piv, (0 if d0 == 0.0 else R.shape[0])
