"""Oblique and orthogonal projectors ``P = F (BᴴF)⁺ Bᴴ``, applied without forming ``m × m``.

In Karpowicz's theory of meta-factorization a column basis ``F`` (m × k) and a test matrix
``B`` (m × k') give ``Yᴴ = (BᴴF)⁺Bᴴ``; the *projector equation* ``F Yᴴ F = F`` holds whenever
``rank(BᴴF) = rank(F)``, and then ``P = F Yᴴ`` is a projector (``P² = P``) onto ``range(F)``
whose null space is ``null(Bᴴ) = range(B)^⊥``. With ``B = F`` (or ``B`` omitted) it is the
orthogonal projector ``F F⁺``. The same object serves the row side (``X Hᴴ`` with
``X = D(HᴴD)⁺``) through :attr:`Projector.T`.

The projector is stored as a factorized pair ``P = L Rᴴ`` with ``Rᴴ L = I_r`` (``r`` the
numerical rank of ``BᴴF``), computed from the small SVD ``BᴴF = U Σ Vᴴ``: ``L = F V`` and
``R = B U Σ⁻¹``. Applying it to a block of ``p`` vectors costs ``O(m r p)``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .._backend import array_namespace, check_input, is_sparse, native
from .._backend.linalg import conj_t, dense, numerical_rank, svd

__all__ = ["Projector"]

_ANY_NDIM = tuple(range(33))


def _factor(xp: ModuleType, F: Any, B: Any | None, rtol: float | None) -> tuple[Any, Any]:
    """``(L, R)`` with ``P = L Rᴴ``, ``Rᴴ L = I``; ``R is L`` for the orthogonal case."""
    if B is None:
        Fd = dense(F)
        U, s, _ = svd(xp, Fd)
        r = numerical_rank(xp, s, Fd.shape, rtol, Fd.dtype)
        Q = U[:, :r]
        return Q, Q
    M = dense(conj_t(xp, B) @ F)  # k' × k, small
    U, s, Vh = svd(xp, M)
    r = numerical_rank(xp, s, M.shape, rtol, M.dtype)
    V = conj_t(xp, Vh[:r])
    L = F @ V
    R = (B @ U[:, :r]) / s[:r][None, :]
    return dense(L), dense(R)


class Projector:
    """An oblique projector ``P = F (BᴴF)⁺ Bᴴ`` onto ``range(F)`` (orthogonal when ``B`` is None).

    ``P`` is never formed: it is stored as ``L Rᴴ`` (m × r factors) and applied by two thin
    products. ``P @ X``, ``X @ P``, ``P.T``, ``P.H``, ``P.complement()`` (``I − P``),
    ``P.matrix()`` and ``P.rank`` are available.

    Parameters
    ----------
    F : (m, k) array or sparse matrix
        Column basis: ``range(P) = range(F)`` (when ``rank(BᴴF) = rank(F)``).
    B : (m, k') array or sparse matrix, optional
        Test matrix: ``null(P) = range(B)^⊥``. None gives the orthogonal projector onto
        ``range(F)``.
    rtol : float, optional
        Singular values of ``BᴴF`` (or ``F``) below ``rtol · σ_max`` count as zero (default
        ``max(k, k') · eps``), as ``numpy.linalg.pinv(M, rtol=None)``.

    Attributes
    ----------
    shape : (m, m)
    rank : int
        ``rank(P)``: the numerical rank of ``BᴴF`` (``m − r`` for a complement).
    orthogonal : bool
        True when ``P = Pᴴ`` by construction.

    Raises
    ------
    ValueError
        ``F`` and ``B`` with different numbers of rows, not 2-D, or holding NaN/inf.

    Notes
    -----
    ``P² = F (BᴴF)⁺ (BᴴF)(BᴴF)⁺ Bᴴ = P`` because ``M⁺ M M⁺ = M⁺``; ``P F = F`` (the projector
    equation ``F Yᴴ F = F`` of [1]_) holds iff ``rank(BᴴF) = rank(F)``; ``Bᴴ P = Bᴴ`` iff
    ``rank(BᴴF) = rank(B)``. With the SVD ``BᴴF = U Σ Vᴴ`` (rank ``r``),
    ``P = (F V)(B U Σ⁻¹)ᴴ = L Rᴴ`` with ``Rᴴ L = I_r``.

    References
    ----------
    .. [1] M. P. Karpowicz, "A theory of meta-factorization", arXiv:2111.14385, 2021.
    .. [2] M. P. Karpowicz, "The secret life of matrix factorizations: how matrix
       decompositions reveal and keep secrets of linear equations", 2023.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> F = np.array([[1.0], [1.0]]); B = np.array([[1.0], [0.0]])
    >>> P = projkit.Projector(F, B)             # onto span(1, 1) along span(0, 1)
    >>> P.matrix()
    array([[1., 0.],
           [1., 0.]])
    >>> bool(np.allclose(P @ (P @ np.eye(2)), P.matrix())), P.rank
    (True, 1)
    >>> P.complement() @ np.array([2.0, 3.0])
    array([0., 1.])
    """

    __array_ufunc__ = None  # make ``ndarray @ P`` defer to ``P.__rmatmul__``

    def __init__(self, F: Any, B: Any | None = None, *, rtol: float | None = None):
        F, xp, back = check_input(F, name="F", allow_complex=True, min_shape=(1, 1))
        if B is not None:
            B, _, _ = check_input(B, name="B", allow_complex=True, min_shape=(1, 1))
            array_namespace(F, B)
            if B.shape[0] != F.shape[0]:
                raise ValueError(
                    f"B: expected {F.shape[0]} rows (as F), got shape {tuple(B.shape)}"
                )
            if B.dtype != F.dtype:
                dt = np.result_type(np.dtype(F.dtype), np.dtype(B.dtype))
                F, B = F.astype(dt), B.astype(dt)
        if rtol is not None and not (isinstance(rtol, int | float) and rtol >= 0):
            raise ValueError(f"rtol: expected a non-negative float, got {rtol!r}")
        L, R = _factor(xp, F, B, rtol)
        self._init(xp, L, R, orthogonal=B is None, complement=False, back=back)

    # a private constructor used by transposes, complements and factorizations
    @classmethod
    def _from_factors(cls, xp: ModuleType, L: Any, R: Any, *, orthogonal: bool,
                      complement: bool = False, back: Any = None) -> Projector:
        P = cls.__new__(cls)
        P._init(xp, L, R, orthogonal=orthogonal, complement=complement, back=back)
        return P

    def _init(self, xp: ModuleType, L: Any, R: Any, *, orthogonal: bool, complement: bool,
              back: Any) -> None:
        self._xp = xp
        self._L = L
        self._R = R
        self._orthogonal = orthogonal
        self._complement = complement
        self._back = back if back is not None else (lambda y: y)

    # ---------------------------------------------------------------- constructors
    @classmethod
    def onto(cls, F: Any, *, along: Any | None = None, rtol: float | None = None) -> Projector:
        """The projector onto ``range(F)`` whose null space is ``range(along)^⊥``.

        ``Projector.onto(F, along=B)`` is ``Projector(F, B)``; ``along=None`` gives the
        orthogonal projector.

        Examples
        --------
        >>> import numpy as np, projkit
        >>> P = projkit.Projector.onto(np.eye(3)[:, :2])
        >>> P @ np.array([1.0, 2.0, 3.0])
        array([1., 2., 0.])
        """
        return cls(F, along, rtol=rtol)

    @classmethod
    def from_factorization(cls, fact: Any, *, side: str = "column") -> Projector:
        """The projector onto the column (``side="column"``) or row space of a factorization.

        Accepts :class:`projkit.SVD` (orthogonal projectors ``U Uᴴ`` / ``V Vᴴ``, no
        factorization needed), :class:`projkit.MetaFactorization` (its oblique projectors),
        :class:`projkit.CUR` (orthogonal projectors onto ``range(C)`` / ``range(Rᴴ)``), or a
        ``(Q, R)`` pair from a QR factorization (``Q Qᴴ``).

        Examples
        --------
        >>> import numpy as np, projkit
        >>> A = np.diag([3.0, 2.0, 0.0])
        >>> P = projkit.Projector.from_factorization(projkit.rsvd(A, 2, rng=0))
        >>> P.rank, bool(np.allclose(P @ A, A))
        (2, True)
        """
        if side not in ("column", "row"):
            raise ValueError(f"side: expected 'column' or 'row', got {side!r}")
        col = side == "column"
        if hasattr(fact, "column_projector") and hasattr(fact, "row_projector"):
            return fact.column_projector if col else fact.row_projector
        if hasattr(fact, "U") and hasattr(fact, "s") and hasattr(fact, "Vt"):
            Q, back = native(fact.U if col else fact.Vt)
            xp = array_namespace(Q)
            Q = Q if col else conj_t(xp, Q)
            return cls._from_factors(xp, Q, Q, orthogonal=True, back=back)
        if hasattr(fact, "C") and hasattr(fact, "R"):
            return cls(fact.C if col else conj_t(array_namespace(fact.R), fact.R))
        if isinstance(fact, tuple) and len(fact) == 2 and col:
            Q, back = native(fact[0])
            return cls._from_factors(array_namespace(Q), Q, Q, orthogonal=True, back=back)
        raise TypeError(
            "fact: expected an SVD, MetaFactorization, CUR or (Q, R) tuple, "
            f"got {type(fact).__name__}"
        )

    # ---------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, int]:
        m = int(self._L.shape[0])
        return (m, m)

    @property
    def dtype(self) -> Any:
        return self._L.dtype

    @property
    def rank(self) -> int:
        r = int(self._L.shape[1])
        return self.shape[0] - r if self._complement else r

    @property
    def orthogonal(self) -> bool:
        return self._orthogonal

    @property
    def factors(self) -> tuple[Any, Any]:
        """``(L, R)`` with ``P = L Rᴴ`` (or ``I − L Rᴴ`` for a complement) and ``Rᴴ L = I``."""
        return self._back(self._L), self._back(self._R)

    @property
    def T(self) -> Projector:
        """The transpose ``Pᵀ`` (a projector onto ``range(conj(B))`` along ``range(conj F)^⊥``)."""
        xp = self._xp
        if np.dtype(self.dtype).kind == "c":
            L, R = xp.conj(self._R), xp.conj(self._L)
        else:
            L, R = self._R, self._L
        return Projector._from_factors(xp, L, R, orthogonal=self._orthogonal,
                                       complement=self._complement, back=self._back)

    @property
    def H(self) -> Projector:
        """The adjoint ``Pᴴ``."""
        return Projector._from_factors(self._xp, self._R, self._L, orthogonal=self._orthogonal,
                                       complement=self._complement, back=self._back)

    def complement(self) -> Projector:
        """``I − P``: the projector onto ``null(P)`` along ``range(P)``."""
        return Projector._from_factors(self._xp, self._L, self._R, orthogonal=self._orthogonal,
                                       complement=not self._complement, back=self._back)

    # ---------------------------------------------------------------- application
    def _apply(self, X: Any) -> Any:
        xp = self._xp
        PX = dense(self._L @ (conj_t(xp, self._R) @ X))
        if self._complement:
            return dense(X) - PX
        return PX

    def _check_operand(self, X: Any, axis: int) -> tuple[Any, Any]:
        # any number of dimensions gets past check_input: the message below names the shapes
        Xn, _, back = check_input(X, name="X", ndim=_ANY_NDIM, allow_complex=True, finite=False)
        if not is_sparse(Xn):
            array_namespace(self._L, Xn)
        m = self.shape[0]
        ndim = len(Xn.shape)
        if ndim not in (1, 2) or Xn.shape[axis if ndim == 2 else 0] != m:
            raise ValueError(
                f"X: expected shape ({m},) or ({m}, p) for P @ X / (p, {m}) for X @ P, "
                f"got {tuple(Xn.shape)}"
            )
        return Xn, back

    def __matmul__(self, X: Any) -> Any:
        if isinstance(X, Projector):
            return NotImplemented
        Xn, back = self._check_operand(X, 0)
        return back(self._apply(Xn))

    def __rmatmul__(self, X: Any) -> Any:
        Xn, back = self._check_operand(X, -1)
        xp = self._xp
        # X P = (Pᴴ Xᴴ)ᴴ
        Y = self.H._apply(conj_t(xp, Xn) if len(Xn.shape) == 2 else xp.conj(Xn))
        return back(conj_t(xp, Y) if len(Xn.shape) == 2 else xp.conj(Y))

    def dot(self, X: Any) -> Any:
        """``P @ X``."""
        return self @ X

    def matrix(self) -> Any:
        """The dense ``m × m`` matrix (for small problems and tests)."""
        xp = self._xp
        M = self._L @ conj_t(xp, self._R)
        if self._complement:
            M = xp.eye(M.shape[0], dtype=M.dtype) - M
        return self._back(M)

    def as_linear_operator(self) -> Any:
        """A :class:`scipy.sparse.linalg.LinearOperator` (NumPy-backed projectors only)."""
        from scipy.sparse.linalg import LinearOperator

        return LinearOperator(self.shape, matvec=self._apply, rmatvec=self.H._apply,
                              matmat=self._apply, rmatmat=self.H._apply, dtype=self.dtype)

    def __repr__(self) -> str:
        kind = "orthogonal" if self._orthogonal else "oblique"
        comp = "I - " if self._complement else ""
        r = int(self._L.shape[1])
        return f"Projector({comp}{kind}, shape={self.shape}, rank={r if not comp else self.rank})"
