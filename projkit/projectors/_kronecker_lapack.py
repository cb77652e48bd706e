"""The CPU engine of :class:`~projkit.projectors.kronecker.KroneckerProjection` (NumPy arrays).

SciPy BLAS/LAPACK where the symmetry of ``M = BBᵀ`` halves the work: the rank updates of ``M``
compute its lower triangle only (in-place ``syrk``), products with it use ``symm``, and the
factor is up/downdated in place by the Numba kernel of ``_cholesky_numba.py``. SciPy is imported
on first use; ``_kronecker_xp.py`` is the array-namespace twin (same methods).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


class CpuEngine:
    """NumPy + SciPy BLAS. Every consumer of ``M`` reads its lower triangle only (``potrf``,
    ``symm``, the diagonal), so the strict upper triangle is left stale."""

    #: the Numba up/downdate of the factor pays against a refactor (by the cost model)
    lowrank = True

    def __init__(self, xp: ModuleType) -> None:
        self.xp = xp

    def sym_rank_update(self, M: Any, Vp: Any, Vm: Any) -> Any:
        """``M + VpVpᵀ − VmVmᵀ`` as a new array, lower triangle only (in-place BLAS ``syrk``
        on a Fortran copy: half the flops, no ``m × m`` temporaries)."""
        from scipy.linalg import blas

        M = np.array(M, order="F")
        syrk = blas.get_blas_funcs("syrk", (M,))
        for V, alpha in ((Vp, 1.0), (Vm, -1.0)):
            if V.shape[1]:
                # syrk(trans=1) on the Fortran view Vᵀ computes (Vᵀ)ᵀVᵀ = VVᵀ without a copy
                M = syrk(alpha, V.T, beta=1.0, c=M, trans=1, lower=1, overwrite_c=1)
        return M

    def sym_matmul(self, M: Any, X: Any) -> Any:
        """``M X`` for symmetric ``M`` of which only the lower triangle may be valid (``symm``)."""
        from scipy.linalg import blas

        return blas.get_blas_funcs("symm", (M, X))(1.0, M, X, side=0, lower=1)

    def eigh(self, S: Any) -> tuple[Any, Any]:
        """Eigenvalues (ascending) and eigenvectors of a symmetric matrix (LAPACK ``syevr``)."""
        import scipy.linalg as sla

        return sla.eigh(S, check_finite=False)

    def cholesky_update(self, L: Any, U: Any, sign: float) -> Any:
        """The lower factor of ``LLᵀ + sign·UUᵀ`` (Numba rotations; ``LinAlgError`` when a
        downdate is not positive definite)."""
        from ._cholesky_numba import rank_update

        return rank_update(L, U, sign)
