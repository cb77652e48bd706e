"""CPU (NumPy/SciPy LAPACK) engine of the randomized SVD's fallback steps.

Each function has an array-namespace twin in :mod:`._rsvd_xp` with the same signature;
:mod:`.rsvd` picks one with :func:`~projkit._backend.dispatch.select`. SciPy is imported on
first use.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._backend.threads import serial_blas

__all__ = ["lu_normalize"]


def lu_normalize(xp: ModuleType, Y: Any) -> Any:
    """Renormalize a power-iteration block as ``P L`` of a partially pivoted LU (``getrf``, as
    scikit-learn), on one BLAS thread; ``Y`` is overwritten."""
    import scipy.linalg as sla

    with serial_blas(xp):
        return sla.lu(Y, permute_l=True, check_finite=False, overwrite_a=True)[0]
