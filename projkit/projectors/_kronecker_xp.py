"""The array-namespace engine of :class:`~projkit.projectors.kronecker.KroneckerProjection`.

Serves CuPy (the structure itself accepts NumPy and CuPy only); the tests run it on NumPy too.
``M = BBᵀ`` is kept whole and multiplied by plain products, and the factor is refactored
rather than up/downdated (a GPU does one factorization faster than ``m`` sequential sweeps).
``_kronecker_lapack.py`` is the CPU engine.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ._cholesky_xp import refactor_update


class XpEngine:
    """Plain ``@`` and ``xp.linalg``; ``M`` is symmetric in full."""

    #: refactoring beats a level-2 up/downdate of the factor here
    lowrank = False

    def __init__(self, xp: ModuleType) -> None:
        self.xp = xp

    def sym_rank_update(self, M: Any, Vp: Any, Vm: Any) -> Any:
        """``M + VpVpᵀ − VmVmᵀ`` as a new array (both triangles)."""
        M = M + Vp @ Vp.T
        return M - Vm @ Vm.T if Vm.shape[1] else M

    def sym_matmul(self, M: Any, X: Any) -> Any:
        """``M X``."""
        return M @ X

    def eigh(self, S: Any) -> tuple[Any, Any]:
        """Eigenvalues (ascending) and eigenvectors of a symmetric matrix."""
        return self.xp.linalg.eigh(S)

    def cholesky_update(self, L: Any, U: Any, sign: float) -> Any:
        """The lower factor of ``LLᵀ + sign·UUᵀ``, refactored (``LinAlgError`` when it is not
        positive definite)."""
        return refactor_update(self.xp, L, U, sign)
