"""CPU (NumPy/SciPy LAPACK) engine of :meth:`~projkit.HouseholderProjector.from_matrix`.

Its array-namespace twin, with the same signature, is ``householder_qr`` in
``_householder_xp.py``. SciPy is imported on first use.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["householder_qr"]


def householder_qr(W: Any, positive: bool, xp: ModuleType) -> tuple[np.ndarray, np.ndarray]:
    """``(qr, tau)`` of LAPACK ``geqrfp`` (``positive``: ``R`` with a nonnegative diagonal) or
    ``geqrf``: ``R`` on and above the diagonal, the Householder vectors below it."""
    from scipy.linalg import get_lapack_funcs

    W = np.asarray(W)
    name = "geqrfp" if positive else "geqrf"
    (fn,) = get_lapack_funcs((name,), (W,))
    qr, tau, *_, info = fn(W)
    if info != 0:  # pragma: no cover - LAPACK argument error
        raise np.linalg.LinAlgError(f"{fn.typecode}{name} failed with info = {info}")
    return qr, tau
