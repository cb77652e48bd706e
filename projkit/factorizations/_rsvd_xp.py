"""Array-namespace engine of the randomized SVD: the steps that serve CuPy and any other
namespace (each has a CPU twin in :mod:`._rsvd_numba` or :mod:`._rsvd_lapack`;
:mod:`.rsvd` and :mod:`._operand` pick one with :func:`~projkit._backend.dispatch.select`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._backend.linalg import orth_householder

__all__ = ["as_is", "matmat", "qr_normalize"]


def matmat(A: Any, X: Any) -> Any:
    """``A @ X`` for a sparse ``A`` (CuPyX's cuSPARSE product, or the namespace's own)."""
    return A @ X


def qr_normalize(xp: ModuleType, Y: Any) -> Any:
    """Renormalize a power-iteration block by Householder QR (CuPy has no pivoted LU/QR)."""
    return orth_householder(xp, Y, overwrite=True)


def as_is(X: Any) -> Any:
    """The result factor in the layout the namespace gave it (only NumPy is made C-ordered)."""
    return X
