"""The array-namespace engine of the coordinated sketches (CuPy's path).

Sparse input exists only as SciPy or CuPyX CSR, so this serves CuPyX on the GPU (and runs on
SciPy for cross-checks against :mod:`._coordinated_numba`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


def row_sq_norms_csr(A: Any, xp: ModuleType) -> Any:
    """``‖a_i‖²`` of each row of a CSR matrix (SciPy or CuPyX), in float64."""
    return xp.asarray(A.multiply(A).sum(axis=1)).ravel().astype(xp.float64)
