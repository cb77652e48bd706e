"""Meta-factorization ``A = F G Hᴴ`` (Karpowicz) and the pseudoinverse from a rank factorization.

Choose a column basis ``F`` (m × k), a row basis ``H`` (n × k'') and test matrices ``B``
(m × k') and ``D`` (n × k'''). With ``Yᴴ = (BᴴF)⁺Bᴴ`` and ``X = D(HᴴD)⁺`` the *projector
equations* ``F Yᴴ F = F`` and ``Hᴴ X Hᴴ = Hᴴ`` make ``F Yᴴ`` and ``X Hᴴ`` (oblique) projectors
onto the column and row spaces, and the *reconstruction equation* gives

    A = F G Hᴴ,  G = Yᴴ A X  (+ W − Yᴴ F W Hᴴ X for any W),

exactly whenever ``range(A) ⊆ range(F)``, ``range(Aᴴ) ⊆ range(H)`` and the projector equations
hold; otherwise ``F G Hᴴ = (F Yᴴ) A (X Hᴴ)`` is the oblique two-sided projection of ``A``.
CUR (``F = A[:, J]``, ``Hᴴ = A[I, :]``), generalized Nyström (``F = A D``, ``Hᴴ = Bᴴ A``),
the SVD and the pseudoinverse are special cases (see :mod:`projkit.factorizations.cur` and
:mod:`projkit.factorizations.nystrom`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import array_namespace, is_sparse
from .._backend.dispatch import select
from .._backend.estimator import compact_repr
from .._backend.linalg import conj_t, dense, numerical_rank, pinv_svd, svd
from .._backend.threads import serial_blas
from .._backend.validation import check_input
from ..projectors.oblique import Projector
from . import _meta_lapack, _meta_xp

__all__ = ["MetaFactorization", "meta_factorize", "pinv"]


# ---------------------------------------------------------------------------------------------
# argument checks shared with nystrom.py


def _check_rtol(rtol: Any) -> float | None:
    if rtol is None:
        return None
    if isinstance(rtol, bool) or not isinstance(rtol, int | float) or not rtol >= 0:
        raise ValueError(f"rtol: expected a non-negative float, got {rtol!r}")
    return float(rtol)


# ---------------------------------------------------------------------------------------------
# the result type


@dataclass(frozen=True)
class MetaFactorization:
    """``A ≈ F G Hᴴ`` with the column projector ``F Yᴴ`` and the row projector ``X Hᴴ``.

    Attributes
    ----------
    F : (m, k) array or sparse matrix
        Column basis.
    G : (k, k'') array
        Core ``Yᴴ A X``.
    H : (n, k'') array or sparse matrix
        Row basis (``Hᴴ`` holds the rows).
    column_projector : Projector
        ``F (BᴴF)⁺ Bᴴ`` (m × m), applied from the left: ``F G Hᴴ = P_col A P_row``.
    row_projector : Projector
        ``D (HᴴD)⁺ Hᴴ`` (n × n), applied from the right.
    """

    F: Any
    G: Any
    H: Any
    column_projector: Projector
    row_projector: Projector
    A: Any = field(default=None, repr=False, compare=False)

    @property
    def rank(self) -> int:
        """``min(k, k'')``: an upper bound on the rank of ``F G Hᴴ``."""
        return int(min(self.G.shape))

    def __iter__(self):  # allows ``F, G, H = meta_factorize(...)``
        return iter((self.F, self.G, self.H))

    __repr__ = compact_repr

    def to_dense(self) -> Any:
        """The dense ``m × n`` matrix ``F G Hᴴ`` (the name every result type uses)."""
        xp = array_namespace(self.G)
        FG = dense(self.F @ self.G)
        # (F G Hᴴ)ᴴ = H (F G)ᴴ keeps a sparse H on the left of the product
        return conj_t(xp, dense(self.H @ conj_t(xp, FG)))

    def reconstruct(self) -> Any:
        """Deprecated alias of :meth:`to_dense` (the name of every other result type)."""
        warnings.warn(
            "MetaFactorization.reconstruct() is deprecated; use to_dense() (the name CUR, ID "
            "and SVD use)", DeprecationWarning, stacklevel=2,
        )
        return self.to_dense()

    def error(self, *, relative: bool = False) -> float:
        """Frobenius error ``‖A − F G Hᴴ‖_F`` (divided by ``‖A‖_F`` when ``relative``).

        Dense ``A`` forms the residual; sparse ``A`` uses
        ``‖A‖² − 2 Re⟨A H, F G⟩ + tr((FᴴF) G (HᴴH) Gᴴ)`` and never densifies ``A``.
        """
        if self.A is None:
            raise ValueError("error: this factorization does not keep A")
        A = self.A
        xp = array_namespace(self.G)
        if is_sparse(A):
            data = A.data
            a2 = float(xp.sum(xp.abs(data) ** 2))
            FG = dense(self.F @ self.G)
            AH = dense(A @ self.H)
            cross = float(xp.real(xp.sum(xp.conj(AH) * FG)))
            FtF = dense(conj_t(xp, self.F) @ self.F)
            HtH = dense(conj_t(xp, self.H) @ self.H)
            r2 = float(xp.real(xp.trace(FtF @ self.G @ HtH @ conj_t(xp, self.G))))
            err = float(np.sqrt(max(a2 - 2 * cross + r2, 0.0)))
        else:
            a2 = float(xp.sum(xp.abs(A) ** 2))
            err = float(xp.linalg.norm(A - self.to_dense()))
        if relative:
            return err / float(np.sqrt(a2)) if a2 > 0 else 0.0
        return err


# ---------------------------------------------------------------------------------------------
# meta-factorization


def _check_basis(M: Any, name: str, rows: int, rows_name: str, xp: ModuleType) -> Any:
    M, xpM, _ = check_input(M, name=name, allow_complex=True, min_shape=(1, 1))
    if xpM.__name__ != xp.__name__:
        raise TypeError(f"{name}: inputs mix array libraries ({xp.__name__} and {xpM.__name__})")
    if M.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} rows ({rows_name}), got shape {tuple(M.shape)}")
    return M


def _core(xp: ModuleType, A: Any, F: Any, H: Any, B: Any, D: Any, rtol: float | None) -> Any:
    """G = (BᴴF)⁺ (Bᴴ A D) (HᴴD)⁺ (B = F, D = H when None), small side first."""
    if B is None and D is None:  # G = F⁺ A (Hᴴ)⁺ = F⁺ (A (H⁺)ᴴ)
        with serial_blas(xp):  # thin SVDs gain nothing from BLAS threads
            Fp = pinv_svd(xp, F, rtol)  # k × m
            Hp = pinv_svd(xp, H, rtol)  # k'' × n
        return Fp @ dense(A @ conj_t(xp, Hp))
    BB = F if B is None else B
    DD = H if D is None else D
    core = dense(conj_t(xp, BB) @ dense(A @ DD))  # small: cols(B) × cols(D)
    with serial_blas(xp):
        left = pinv_svd(xp, dense(conj_t(xp, BB) @ F), rtol)
        right = pinv_svd(xp, dense(conj_t(xp, H) @ DD), rtol)
    return left @ core @ right


def _meta_body(xp: ModuleType, A: Any, F: Any, H: Any, B: Any, D: Any,
               rtol: float | None) -> MetaFactorization:
    Pc = Projector._from_factors(xp, *_factor_pair(xp, F, B, rtol), orthogonal=B is None)
    # row projector X Hᴴ with X = D(HᴴD)⁺: its transpose is the column projector of (H, D)
    Lr, Rr = _factor_pair(xp, H, D, rtol)  # H (DᴴH)⁺ Dᴴ = L Rᴴ
    Pr = Projector._from_factors(xp, Rr, Lr, orthogonal=D is None)  # D (HᴴD)⁺ Hᴴ = R Lᴴ
    return MetaFactorization(F, _core(xp, A, F, H, B, D, rtol), H, Pc, Pr, A)


def _factor_pair(xp: ModuleType, F: Any, B: Any, rtol: float | None) -> tuple[Any, Any]:
    from ..projectors.oblique import _factor

    return _factor(xp, F, B, rtol)


def meta_factorize(
    A: Any,
    F: Any,
    H: Any,
    *,
    B: Any = None,
    D: Any = None,
    rtol: float | None = None,
) -> MetaFactorization:
    """Meta-factorization ``A ≈ F G Hᴴ`` with ``G = (BᴴF)⁺ Bᴴ A D (HᴴD)⁺``.

    Parameters
    ----------
    A : (m, n) array or sparse matrix
    F : (m, k) array or sparse matrix
        Column basis.
    H : (n, k'') array or sparse matrix
        Row basis (the factorization uses ``Hᴴ``).
    B : (m, k') array, optional
        Column test matrix; default ``F`` (orthogonal column projector, ``Yᴴ = F⁺``).
    D : (n, k''') array, optional
        Row test matrix; default ``H`` (orthogonal row projector).
    rtol : float, optional
        Relative cutoff for the pseudo-inverses of ``BᴴF`` and ``HᴴD`` (default
        ``max(shape) · eps``, as ``numpy.linalg.pinv(M, rtol=None)``).

    Returns
    -------
    MetaFactorization
        ``F``, ``G``, ``H``, ``column_projector``, ``row_projector``; ``to_dense()``,
        ``error()``.

    Raises
    ------
    ValueError
        Shapes that do not fit (``F`` must have ``m`` rows, ``H`` ``n`` rows, ``B`` ``m``,
        ``D`` ``n``), NaN/inf.

    Notes
    -----
    With ``Yᴴ = (BᴴF)⁺Bᴴ`` and ``X = D(HᴴD)⁺``, ``F G Hᴴ = (F Yᴴ) A (X Hᴴ)``. When
    ``rank(BᴴF) = rank(F)`` and ``rank(HᴴD) = rank(H)`` the projector equations
    ``F Yᴴ F = F``, ``Hᴴ X Hᴴ = Hᴴ`` hold, and when moreover ``A = F K Hᴴ`` for some ``K``
    the reconstruction is exact: ``F G Hᴴ = F Yᴴ F K Hᴴ X Hᴴ = A`` [1]_.

    References
    ----------
    .. [1] M. P. Karpowicz, "A theory of meta-factorization", arXiv:2111.14385, 2021.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((8, 2)) @ rng.standard_normal((2, 6))     # rank 2
    >>> mf = projkit.meta_factorize(A, A[:, :2], A[:2, :].T)             # a CUR
    >>> bool(np.allclose(mf.to_dense(), A)), mf.G.shape
    (True, (2, 2))
    """
    A, xp, backA = check_input(A, name="A", allow_complex=True, min_shape=(1, 1))
    m, n = A.shape
    F = _check_basis(F, "F", m, "the rows of A", xp)
    H = _check_basis(H, "H", n, "the columns of A", xp)
    if B is not None:
        B = _check_basis(B, "B", m, "the rows of A", xp)
    if D is not None:
        D = _check_basis(D, "D", n, "the columns of A", xp)
    rtol = _check_rtol(rtol)
    dt = np.result_type(*[np.dtype(M.dtype) for M in (A, F, H, B, D) if M is not None])
    A, F, H = (M if M.dtype == dt else M.astype(dt) for M in (A, F, H))
    B = B if B is None or B.dtype == dt else B.astype(dt)
    D = D if D is None or D.dtype == dt else D.astype(dt)
    res = _meta_body(xp, A, F, H, B, D, rtol)
    if backA(res.G) is res.G:
        return res
    return MetaFactorization(backA(dense(res.F)), backA(res.G), backA(dense(res.H)),
                             res.column_projector, res.row_projector, A)


# ---------------------------------------------------------------------------------------------
# pseudoinverse


def _pinv_body(xp: ModuleType, A: Any, rtol: float | None) -> Any:
    m, n = A.shape
    if m < n:  # A⁺ = ((Aᴴ)⁺)ᴴ: factor on the tall side
        return conj_t(xp, _pinv_body(xp, conj_t(xp, A), rtol))
    if m == 0 or n == 0:
        return xp.zeros((n, m), dtype=A.dtype)
    # rank-revealing step: A Π = Q R (pivoted QR), keep the rows of R above a generous cutoff
    # (dropping rows of size ≤ 0.1 eps |R₀₀| changes A by less than rounding), then the SVD of
    # that r₀ × n triangle, R_r₀ = W Σ Zᴴ, is an SVD of A: A = (Q W) Σ (Π Z)ᴴ, and the final
    # cutoff on Σ is numpy.linalg.pinv's. A⁺ = Π Z Σ⁻¹ (Q W)ᴴ from the rank factorization
    # F = Q W Σ, Hᴴ = (Π Z)ᴴ: A⁺ = H (HᴴH)⁻¹ (FᴴF)⁻¹ Fᴴ.
    rrqr = select(xp, cpu=_meta_lapack.rank_revealing_qr, fallback=_meta_xp.rank_revealing_qr,
                  what="the rank-revealing QR")
    Q, R, piv, r0 = rrqr(xp, A)
    if r0 == 0:  # R₀₀ = 0
        return xp.zeros((n, m), dtype=A.dtype)
    with serial_blas(xp):
        W, s, Zh = svd(xp, R[:r0])
    r = numerical_rank(xp, s, A.shape, rtol, A.dtype)
    W, s, Zh = W[:, :r], s[:r], Zh[:r]
    Z = conj_t(xp, Zh)  # n × r, rows in pivoted order
    out = xp.zeros((n, r), dtype=A.dtype)
    out[piv] = Z / s[None, :]
    return out @ conj_t(xp, Q[:, :r0] @ W)


def pinv(A: Any, *, rtol: float | None = None) -> Any:
    """Moore–Penrose pseudoinverse from a rank-revealing factorization.

    Parameters
    ----------
    A : (m, n) array
        Dense NumPy, CuPy or Array-API array (real or complex). Sparse input is refused: its
        pseudoinverse is dense.
    rtol : float, optional
        Singular values below ``rtol · σ_max`` are treated as zero (default
        ``max(m, n) · eps``, as ``numpy.linalg.pinv(A, rtol=None)``, the Array-API default;
        numpy's legacy default ``rcond=1e-15`` keeps rounding noise in float32).

    Returns
    -------
    (n, m) array
        Same library, device and dtype as ``A``.

    Notes
    -----
    A rank factorization ``A = F Hᴴ`` (``F`` m × r, ``H`` n × r, both of full column rank) gives
    ``A⁺ = H (HᴴH)⁻¹ (FᴴF)⁻¹ Fᴴ`` (Karpowicz's pseudoinverse theorem, a special case of the
    meta-factorization with ``B = F``, ``D = H``). The factorization is rank-revealing: a
    column-pivoted QR ``A Π = Q R`` (LAPACK ``geqp3``) trims the negligible rows of ``R``, and
    the SVD of the remaining ``r₀ × n`` triangle ``R = W Σ Zᴴ`` fixes the rank by the same
    rule as numpy (``F = Q W Σ``, ``H = Π Z``, so ``A⁺ = Π Z Σ⁻¹ (Q W)ᴴ``). For a matrix of
    low numerical rank this costs ``O(mn·r)`` plus ``O(r₀² n)`` instead of the full SVD.
    CuPy has no pivoted QR: there the first step is an unpivoted Householder QR (``geqrf``)
    and the rank is decided by the SVD of the whole triangle.

    References
    ----------
    .. [1] M. P. Karpowicz, "The secret life of matrix factorizations: how matrix
       decompositions reveal and keep secrets of linear equations", 2023.
    .. [2] M. P. Karpowicz, "A theory of meta-factorization", arXiv:2111.14385, 2021.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> A = np.array([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]])                 # rank 1
    >>> bool(np.allclose(projkit.pinv(A), np.linalg.pinv(A, rtol=None)))
    True
    """
    if is_sparse(A):
        raise TypeError("A: pinv of a sparse matrix is dense; pass A.toarray() if you mean it")
    A, xp, back = check_input(A, name="A", allow_complex=True, accept_sparse=False)
    rtol = _check_rtol(rtol)
    return back(_pinv_body(xp, A, rtol))
