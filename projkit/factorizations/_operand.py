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

__all__ = ["_Operand", "_as_operand", "_require_adjoint"]

_MISSING = object()
# SciPy's composite operators (A + B, A @ B, αA, A**p): Aᴴ needs the adjoint of every part
_COMPOSITES = ("_SumLinearOperator", "_ProductLinearOperator", "_ScaledLinearOperator",
               "_PowerLinearOperator")


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
        # a LinearOperator without rmatvec/rmatmat: found from its class, never by applying it
        self.no_adjoint = kind == "operator" and _lacks_adjoint(A)
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
            if self.no_adjoint:
                raise TypeError(_no_adjoint_message("A", "this factorization"))
            try:
                return self.A.H @ Y
            except NotImplementedError as exc:  # a subclass whose _rmatvec refuses
                raise TypeError(_no_adjoint_message("A", "this factorization")) from exc
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


def _lacks_adjoint(A: Any) -> bool:
    """Whether the LinearOperator ``A`` certainly cannot apply ``Aᴴ``, decided from its class
    and the callables it was built with (``A`` is not applied).

    * ``LinearOperator(shape, matvec=f)`` is SciPy's ``_CustomLinearOperator``, which keeps the
      callables in name-mangled attributes; with ``rmatvec`` and ``rmatmat`` both ``None``,
      ``A.H @ Y`` calls ``None`` ("'NoneType' object is not callable");
    * a subclass that overrides none of ``_rmatvec``, ``_rmatmat`` and ``_adjoint`` gets
      SciPy's defaults, which raise ``NotImplementedError``;
    * a SciPy sum, product, scaling or power lacks the adjoint when one of its parts does.
    """
    from scipy.sparse.linalg import LinearOperator

    impls = [getattr(A, f"_CustomLinearOperator__{f}_impl", _MISSING)
             for f in ("rmatvec", "rmatmat")]
    if all(f is None for f in impls):
        return True
    cls = type(A)
    if all(getattr(cls, f, None) is getattr(LinearOperator, f)
           for f in ("_rmatvec", "_rmatmat", "_adjoint")):
        return True
    if cls.__module__ == LinearOperator.__module__ and cls.__name__ in _COMPOSITES:
        return any(isinstance(a, LinearOperator) and _lacks_adjoint(a)
                   for a in getattr(A, "args", ()))
    return False


def _no_adjoint_message(name: str, what: str) -> str:
    return (f"{name}: a LinearOperator needs rmatvec or rmatmat (the adjoint) for {what}; "
            "build it with LinearOperator(shape, matvec=..., rmatvec=...)")


def _require_adjoint(op: _Operand, what: str, *, name: str = "A") -> None:
    """Raise ``TypeError`` now, before any product, when ``what`` needs ``Aᴴ`` and the operator
    ``op`` has none."""
    if op.no_adjoint:
        raise TypeError(_no_adjoint_message(name, what))


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
