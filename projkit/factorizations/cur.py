"""CUR and interpolative decompositions: factorizations made of actual columns and rows of A.

A CUR decomposition ``A ≈ C U R`` keeps ``C = A[:, J]`` and ``R = A[I, :]`` (so sparse ``A``
gives sparse ``C`` and ``R``, and the factors are interpretable); in Karpowicz's terms it is the
meta-factorization with ``F = C``, ``Hᴴ = R``, and ``U = C⁺ A R⁺`` (orthogonal projectors, the
Frobenius-optimal core) or the cross approximation ``U = A[I, J]⁺`` (oblique projectors with the
test matrices ``B = I_{:, I}``, ``D = I_{:, J}``). The column interpolative decomposition (ID)
``A ≈ A[:, J] Z`` with ``Z[:, J] = I`` is the one-sided version.

Index selection
---------------
``deim``
    Discrete empirical interpolation on the top-``k`` singular vectors (Sorensen & Embree).
``qr``
    Q-DEIM: column-pivoted QR of ``Vᴴ`` (and ``Uᴴ``) (Drmač & Gugercin).
``leverage``
    Sampling without replacement with probabilities proportional to the rank-``k`` leverage
    scores (Mahoney & Drineas), by the Efraimidis–Spirakis exponential race.
``dpp``
    A sample of the projection DPP with kernel ``V Vᴴ`` (volume sampling of the singular
    vectors), from :func:`projkit.sample_projection_dpp`.

CuPy has no column-pivoted QR: there every pivoted QR is a greedy column-pivoted modified
Gram–Schmidt on the small ``k × n`` matrix (or the ``(k + p) × n`` sketch for the ID), written
once against the array namespace (:mod:`._cur_xp`); NumPy uses LAPACK ``geqp3``
(:mod:`._cur_lapack`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import check_positive_int, device_rng, float_dtype, is_sparse
from .._backend.dispatch import select
from .._backend.estimator import compact_repr
from .._backend.linalg import conj_t, dense, eps, orth, pinv_svd, real_dtype
from .._backend.random import draw_key
from .._backend.threads import serial_blas
from . import _cur_lapack, _cur_xp
from ._operand import _as_operand, _Operand
from .meta import _core
from .rsvd import _resolve_n_iter, _rsvd, _setup

__all__ = ["CUR", "ID", "cur", "interpolative"]

_METHODS = ("deim", "qr", "leverage", "dpp")


@dataclass(frozen=True)
class CUR:
    """``A ≈ C @ U @ R`` with ``C = A[:, cols]`` and ``R = A[rows, :]``.

    Attributes
    ----------
    C : (m, c) array or sparse matrix
    U : (c, r) array
    R : (r, n) array or sparse matrix
    cols : (c,) int array
    rows : (r,) int array
    """

    C: Any
    U: Any
    R: Any
    cols: Any
    rows: Any

    __repr__ = compact_repr

    def __iter__(self):  # allows ``C, U, R, cols, rows = cur(...)``
        return iter((self.C, self.U, self.R, self.cols, self.rows))

    @property
    def rank(self) -> int:
        return int(min(self.U.shape))

    def to_dense(self) -> Any:
        """The ``m × n`` matrix ``C U R``."""
        CU = dense(self.C @ self.U)
        return dense(self.R.T @ CU.T).T


@dataclass(frozen=True)
class ID:
    """Column interpolative decomposition ``A ≈ C @ Z`` with ``C = A[:, cols]``, ``Z[:, cols] = I``.

    Attributes
    ----------
    C : (m, k) array or sparse matrix
    Z : (k, n) array
        Interpolation matrix.
    cols : (k,) int array
        The skeleton columns.
    """

    C: Any
    Z: Any
    cols: Any

    __repr__ = compact_repr

    def __iter__(self):
        return iter((self.C, self.Z, self.cols))

    @property
    def rank(self) -> int:
        return int(self.Z.shape[0])

    def to_dense(self) -> Any:
        """The ``m × n`` matrix ``C Z``."""
        return dense(self.C @ self.Z)


# ---------------------------------------------------------------------------------------------
# index selection


def _pivoted_qr_r(xp: ModuleType, W: Any, k: int) -> tuple[Any, Any]:
    """First ``k`` rows of ``R`` (k × n, columns in pivoted order) and the column permutation
    ``piv`` (n,) of a column-pivoted QR of ``W``: LAPACK geqp3 on NumPy, the greedy pivoted
    Gram–Schmidt of :mod:`._cur_xp` elsewhere (CuPy has no pivoted QR)."""
    qr = select(xp, cpu=_cur_lapack.pivoted_qr_r, fallback=_cur_xp.pivoted_qr_r,
                what="the column-pivoted QR")
    return qr(xp, W, k)


def _deim(xp: ModuleType, V: Any) -> Any:
    """DEIM indices (Sorensen & Embree 2016) for the columns of ``V`` (n × k)."""
    k = V.shape[1]
    idx = [int(xp.argmax(xp.abs(V[:, 0])))]
    for j in range(1, k):
        P = xp.asarray(idx)
        c = xp.linalg.solve(V[P, :j], V[P, j])
        r = V[:, j] - V[:, :j] @ c
        r[P] = 0  # already chosen (exactly zero in exact arithmetic)
        idx.append(int(xp.argmax(xp.abs(r))))
    return xp.asarray(idx)


def _leverage(xp: ModuleType, V: Any, size: int, gen: Any) -> Any:
    """``size`` distinct indices, sampled ∝ leverage scores (Efraimidis–Spirakis race)."""
    lev = xp.sum(xp.abs(V) ** 2, axis=1)
    lev = lev / xp.sum(lev)
    u = gen.random(lev.shape[0])
    # key_i = u_i^{1/p_i}: the top keys form a weighted sample without replacement
    with np.errstate(divide="ignore"):
        keys = xp.where(lev > 0, xp.log(u) / xp.where(lev > 0, lev, 1), -xp.inf)
    return xp.argsort(-keys)[:size]


def _dpp(xp: ModuleType, V: Any, gen: Any) -> Any:
    """One sample of the projection DPP with kernel ``V Vᴴ``: the steps of
    ``sample_projection_dpp(V, rng=gen)`` after its input checks, through the sampler's body."""
    from ..sampling import dpp  # lazy: a sibling subpackage

    in_dtype = float_dtype(V.dtype)  # real V only (TypeError for complex, as the sampler)
    V = dpp._orthonormal(V.astype(xp.float64), xp, force=False, tol=dpp._ORTHO_TOL[in_dtype])
    return xp.asarray(dpp._projection_dpp(V, 1, draw_key(gen), xp)[0])


def _select(xp: ModuleType, V: Any, k: int, method: str, gen: Any) -> Any:
    if method == "deim":
        return _deim(xp, V)
    if method == "qr":
        _, piv = _pivoted_qr_r(xp, conj_t(xp, V), k)
        return piv[:k]
    if method == "leverage":
        return _leverage(xp, V, k, gen)
    return _dpp(xp, V, gen)


# ---------------------------------------------------------------------------------------------
# CUR


def _cur_body(op: Any, rank: int, method: str, core: str, gen: Any) -> CUR:
    xp = op.xp
    A = op.A
    svd = _rsvd(op, rank, 10, _resolve_n_iter("auto", rank, op.shape), "gaussian", gen)
    U, Vh = svd.U, svd.Vt  # already mapped back to A's orientation
    cols = xp.sort(_select(xp, conj_t(xp, Vh), rank, method, gen))
    rows = xp.sort(_select(xp, U, rank, method, gen))
    if is_sparse(A):
        C = A[:, _to_index(cols)]
        R = A[_to_index(rows), :]
    else:
        C = A[:, cols]
        R = A[rows, :]
    if core == "cross":
        W = dense(C[_to_index(rows), :] if is_sparse(C) else C[rows, :])
        with serial_blas(xp):  # thin SVDs gain nothing from BLAS threads
            Ucore = pinv_svd(xp, W)
    else:
        Ucore = _core(xp, A, C, conj_t(xp, R), None, None, None)
    return CUR(C, Ucore, R, cols, rows)


def _to_index(idx: Any) -> Any:
    return idx.get() if hasattr(idx, "get") and not isinstance(idx, np.ndarray) else idx


def cur(
    A: Any,
    rank: int,
    *,
    method: str = "deim",
    core: str = "optimal",
    rng: Any = None,
) -> CUR:
    """CUR decomposition ``A ≈ C U R`` from ``rank`` actual columns and rows of ``A``.

    Parameters
    ----------
    A : (m, n) array or sparse matrix
        Dense NumPy/CuPy/Array-API array or SciPy/CuPyX sparse matrix (``C`` and ``R`` stay
        sparse; ``A`` is never densified).
    rank : int
        Number of columns and rows, ``1 <= rank <= min(m, n)``.
    method : {"deim", "qr", "leverage", "dpp"}, default "deim"
        How the indices are chosen from the top-``rank`` singular vectors (computed by
        :func:`projkit.rsvd`). "dpp" needs :mod:`projkit.sampling.dpp`.
    core : {"optimal", "cross"}, default "optimal"
        ``U = C⁺ A R⁺`` (best Frobenius error for the chosen ``C`` and ``R``) or the cross
        approximation ``U = A[rows, cols]⁺`` (cheaper, interpolates the chosen entries).
    rng : None, int or numpy.random.Generator
        SPEC-7 random source (the randomized SVD, and the sampling methods).

    Returns
    -------
    CUR
        ``C`` (m × rank), ``U`` (rank × rank), ``R`` (rank × n), ``cols``, ``rows`` (sorted).

    Raises
    ------
    ValueError
        ``rank`` outside ``[1, min(m, n)]``, unknown ``method``/``core``, NaN in ``A``.

    Notes
    -----
    CUR is the meta-factorization ``A ≈ F G Hᴴ`` with ``F = C``, ``Hᴴ = R`` and ``G = U``
    [1]_. With the optimal core, ``C U R = (C C⁺) A (R⁺ R)``. DEIM indices satisfy
    ``‖A − C U R‖ ≤ (η_p + η_q) σ_{k+1}`` with ``η_p = ‖V(p, :)⁻¹‖ < √(nk/3) 2^k`` (in
    practice ≈ √(nk)) [2]_; Q-DEIM has the better bound ``√(n − k + 1) · O(2^k)`` [3]_.

    References
    ----------
    .. [1] M. P. Karpowicz, "A theory of meta-factorization", arXiv:2111.14385, 2021.
    .. [2] D. C. Sorensen, M. Embree, "A DEIM induced CUR factorization", SIAM J. Sci.
       Comput. 38(3), 2016.
    .. [3] Z. Drmač, S. Gugercin, "A new selection operator for the discrete empirical
       interpolation method", SIAM J. Sci. Comput. 38(2), 2016.
    .. [4] M. W. Mahoney, P. Drineas, "CUR matrix decompositions for improved data
       analysis", PNAS 106(3), 2009.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 20))     # rank 3
    >>> C, U, R, cols, rows = projkit.cur(A, 3, rng=0)
    >>> C.shape, U.shape, R.shape, bool(np.allclose(C @ U @ R, A))
    ((30, 3), (3, 3), (3, 20), True)
    """
    op, back = _setup(A)
    if op.kind == "operator":
        raise TypeError("A: CUR needs the entries of A; a LinearOperator has none")
    m, n = op.A.shape
    rank = check_positive_int(rank, name="rank", high=min(m, n))
    if method not in _METHODS:
        raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
    if core not in ("optimal", "cross"):
        raise ValueError(f"core: expected 'optimal' or 'cross', got {core!r}")
    gen = device_rng(rng, op.xp)
    res = _cur_body(op, rank, method, core, gen)
    if back(res.U) is res.U:
        return res
    return CUR(back(res.C), back(res.U), back(res.R), back(res.cols), back(res.rows))


# ---------------------------------------------------------------------------------------------
# interpolative decomposition


def _id_body(xp: ModuleType, A: Any, rank: int, method: str, oversample: int, n_iter: int,
             refine: bool, gen: Any) -> ID:
    m, n = A.shape
    if method == "randomized":
        ell = min(rank + oversample, m)
        op = _Operand(A, xp, np.dtype(A.dtype), adjoint=False,
                      kind="sparse" if is_sparse(A) else "dense")
        Omega = gen.standard_normal((m, ell), dtype=real_dtype(A.dtype)).astype(A.dtype)
        Wh = op.rmatmat(Omega)  # Wᴴ = Aᴴ Ω, W = Ωᴴ A (ℓ × n) is a linear sketch of A's rows
        for _ in range(n_iter):  # W = Qᴴ A with Q = orth(A Wᴴ): still a linear sketch S A
            with serial_blas(xp):
                Q = orth(xp, op.matmat(Wh))
            Wh = op.rmatmat(Q)
        W = conj_t(xp, Wh)
    else:
        W = dense(A)
    R, piv = _pivoted_qr_r(xp, W, rank)
    R11, R12 = R[:rank, :rank], R[:rank, rank:]
    T = _solve_upper(xp, R11, R12)
    Z = xp.zeros((rank, n), dtype=A.dtype)
    Z[:, piv[:rank]] = xp.eye(rank, dtype=A.dtype)
    Z[:, piv[rank:]] = T
    cols = piv[:rank]
    C = A[:, _to_index(cols)] if is_sparse(A) else A[:, cols]
    if refine and method == "randomized":
        # Z = C⁺ A: the best coefficients for the chosen columns (one more pass over A). The
        # sketch's R₁₁⁻¹R₁₂ can be far worse when R₁₁ is ill-conditioned (sparse, flat spectra)
        with serial_blas(xp):
            Cp = pinv_svd(xp, C)  # k × m
        Zr = dense(conj_t(xp, dense(conj_t(xp, A) @ conj_t(xp, Cp))))
        if bool(xp.all(xp.isfinite(Zr))):
            Z = Zr.astype(A.dtype) if Zr.dtype != A.dtype else Zr
    return ID(C, Z, cols)


def _solve_upper(xp: ModuleType, R11: Any, R12: Any) -> Any:
    """``R11⁻¹ R12`` (triangular solve; pseudo-inverse if R11 is numerically singular)."""
    if R12.shape[1] == 0:
        return R12
    d = xp.abs(xp.diagonal(R11)) if hasattr(xp, "diagonal") else xp.abs(xp.diag(R11))
    if float(xp.min(d)) > 10 * eps(R11.dtype) * float(xp.max(d)):
        solve = select(xp, cpu=_cur_lapack.solve_upper, fallback=_cur_xp.solve_upper,
                       what="the triangular solve")
        return solve(xp, R11, R12)
    with serial_blas(xp):
        R11p = pinv_svd(xp, R11)
    return R11p @ R12


def interpolative(
    A: Any,
    rank: int,
    *,
    method: str = "randomized",
    oversample: int = 10,
    n_iter: int = 1,
    refine: bool = True,
    rng: Any = None,
) -> ID:
    """Column interpolative decomposition ``A ≈ A[:, cols] @ Z`` (``Z[:, cols] = I``).

    Parameters
    ----------
    A : (m, n) array or sparse matrix
    rank : int
        Number of skeleton columns, ``1 <= rank <= min(m, n)``.
    method : {"randomized", "qr"}, default "randomized"
        "qr": column-pivoted QR of ``A`` itself (deterministic, ``O(mn·k)``; sparse input is
        densified). "randomized": the same on the Gaussian sketch ``Ωᵀ A`` with
        ``rank + oversample`` rows (Martinsson, Rokhlin & Tygert), ``O(mn·(k+p))`` in one pass.
    oversample : int, default 10
        Extra sketch rows for "randomized".
    n_iter : int, default 1
        Power iterations for "randomized": the sketch becomes ``Qᴴ A`` with
        ``Q = orth((AAᴴ)^q A Ω)``, still a linear sketch of the rows of ``A`` (one iteration
        brings the error close to the deterministic pivoted QR on slowly decaying spectra).
    refine : bool, default True
        For "randomized": recompute ``Z = C⁺ A`` (least squares on the chosen columns, one more
        pass over ``A``) instead of the sketch's ``R₁₁⁻¹ R₁₂``. Never worse, and much better
        when ``R₁₁`` is ill-conditioned (sparse data with a flat spectrum);
        ``Z[:, cols] = I`` still holds when ``C`` has full column rank.
    rng : None, int or numpy.random.Generator
        SPEC-7 random source.

    Returns
    -------
    ID
        ``C = A[:, cols]`` (sparse if ``A`` is), ``Z`` (rank × n), ``cols``.

    Notes
    -----
    With the pivoted QR ``W Π = Q [R₁₁ R₁₂]`` of ``W = A`` (or of ``Ωᵀ A``), the first ``k``
    pivots are the skeleton and ``Z Π = [I, R₁₁⁻¹ R₁₂]``. The error is at most
    ``√(1 + k(n−k)) · 2^k σ_{k+1}`` in theory and usually a small multiple of ``σ_{k+1}``
    [1]_. On CuPy the pivoted QR is the greedy pivoted Gram–Schmidt of this module.

    References
    ----------
    .. [1] H. Cheng, Z. Gimbutas, P.-G. Martinsson, V. Rokhlin, "On the compression of low
       rank matrices", SIAM J. Sci. Comput. 26(4), 2005.
    .. [2] P.-G. Martinsson, V. Rokhlin, M. Tygert, "A randomized algorithm for the
       decomposition of matrices", Appl. Comput. Harmon. Anal. 30(1), 2011.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((20, 2)) @ rng.standard_normal((2, 12))     # rank 2
    >>> C, Z, cols = projkit.interpolative(A, 2, rng=0)
    >>> bool(np.allclose(C @ Z, A)), bool(np.allclose(Z[:, cols], np.eye(2)))
    (True, True)
    """
    op, back = _as_operand(A)
    if op.kind == "operator":
        raise TypeError("A: an interpolative decomposition needs the columns of A")
    m, n = op.A.shape
    rank = check_positive_int(rank, name="rank", high=min(m, n))
    if method not in ("randomized", "qr"):
        raise ValueError(f"method: expected 'randomized' or 'qr', got {method!r}")
    oversample = check_positive_int(oversample, name="oversample", low=0)
    n_iter = check_positive_int(n_iter, name="n_iter", low=0)
    gen = device_rng(rng, op.xp)
    res = _id_body(op.xp, op.A, rank, method, oversample, n_iter, bool(refine), gen)
    if back(res.Z) is res.Z:
        return res
    return ID(back(res.C), back(res.Z), back(res.cols))
