"""The operand of the randomized factorizations: a dense or sparse array, or a SciPy
``LinearOperator``, possibly seen through its adjoint, as a pair of block products.

``rsvd``, ``range_finder``, ``cur``, ``interpolative`` and ``nystrom`` validate their input
once into an :class:`_Operand` and hand it to their bodies. The sparse × dense product is the
one step with engines: a row-parallel Numba kernel for SciPy CSR (:mod:`._rsvd_numba`), the
library's own product elsewhere (:mod:`._rsvd_xp`), chosen once per operand.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import float_dtype, is_sparse
from .._backend.dispatch import select
from .._backend.validation import check_input
from . import _rsvd_xp

__all__ = ["_Operand", "_as_operand"]


def _csr_matmat_numba(A: Any, X: Any) -> Any:
    """The Numba CSR × dense kernel, imported on first use (loading Numba takes a while)."""
    from ._rsvd_numba import csr_matmat

    return csr_matmat(A, X)


class _Operand:
    """``A`` (or ``Aᴴ`` when ``adjoint``) as a pair of block products, plus what the body needs."""

    def __init__(self, A: Any, xp: ModuleType, dtype: Any, *, adjoint: bool, kind: str):
        self.A = A
        self.xp = xp
        self.dtype = dtype
        self.adjoint = adjoint
        self.kind = kind  # "dense", "sparse", "operator"
        self.complex = np.dtype(dtype).kind == "c"
        m, n = A.shape
        self.shape = (n, m) if adjoint else (m, n)
        self._sparse_mm: Any = (
            select(xp, cpu=_csr_matmat_numba, fallback=_rsvd_xp.matmat,
                   what="the sparse x dense product") if kind == "sparse" else None)

    # products with the *underlying* A
    def _mm(self, X: Any) -> Any:
        if self._sparse_mm is not None:
            return self._sparse_mm(self.A, X)
        return self.A @ X

    def _rmm(self, Y: Any) -> Any:
        if self.kind == "operator":
            return self.A.H @ Y
        # Aᴴ Y for CSR A is a scatter over the rows of A; SciPy's CSC kernel streams Y once and
        # beats a gather over a CSR copy of Aᵀ (random reads of Y), so it is used as is
        if self.complex:
            return self.A.conj().T @ Y
        return self.A.T @ Y

    # products with the operand M (= A, or Aᴴ)
    def matmat(self, X: Any) -> Any:
        """``M @ X``."""
        return self._rmm(X) if self.adjoint else self._mm(X)

    def rmatmat(self, Y: Any) -> Any:
        """``Mᴴ @ Y``."""
        return self._mm(Y) if self.adjoint else self._rmm(Y)

    def frobenius2(self) -> float:
        """``‖A‖_F²`` (exact for arrays; NaN for a LinearOperator, which has no entries)."""
        xp = self.xp
        if self.kind == "operator":
            return math.nan
        data = self.A.data if self.kind == "sparse" else self.A
        if self.complex:
            return float(xp.sum(xp.abs(data) ** 2))
        data = data.ravel() if self.kind == "dense" else data
        return float(xp.vdot(data, data)) if hasattr(xp, "vdot") else float(xp.sum(data * data))


def _as_operand(A: Any, *, name: str = "A") -> tuple[_Operand, Any]:
    """Validate ``A`` once; return it wrapped (not yet transposed) and the back-converter."""
    from scipy.sparse.linalg import LinearOperator

    if isinstance(A, LinearOperator):
        if len(A.shape) != 2:
            raise ValueError(f"{name}: expected a 2-D operator, got shape {A.shape}")
        dt = float_dtype(A.dtype if A.dtype is not None else np.float64, allow_complex=True)
        return _Operand(A, np, dt, adjoint=False, kind="operator"), (lambda y: y)
    A, xp, back = check_input(A, name=name, allow_complex=True, min_shape=(1, 1))
    kind = "sparse" if is_sparse(A) else "dense"
    return _Operand(A, xp, np.dtype(A.dtype), adjoint=False, kind=kind), back
