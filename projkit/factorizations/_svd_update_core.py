"""Storage, sparse orthogonalization and augmentation bases of :class:`.svd_update.SVDUpdater`.

The algorithm of Deng et al. (ICLR 2024) and its three baselines, written once; the few steps
with engine-specific code come from :func:`engine_ops`, which :func:`select` fills once per
factorization:

- ``gather`` (``E @ F′`` on the rows ``E`` touches): a Numba CSR kernel on the CPU
  (:mod:`._svd_update_numba`), the library's sparse product elsewhere;
- ``scatter`` (``F′ += Eᵀ W`` on those rows): a Numba CSR kernel on the CPU, a CuPyX product
  on the support on the GPU (CuPy only, :func:`._svd_update_xp.scatter_cupy`);
- ``right_divide``, ``small_svd``, ``factor_gram`` (``X K⁻¹``, the SVD of the small core, the
  rank-revealing factor of the implicit Gram matrix): LAPACK ``getrf``/``gecon``, Gram
  eigenpairs and pivoted Cholesky ``pstrf`` on the CPU (:mod:`._svd_update_lapack`), singular
  values, a full SVD and an eigen-decomposition elsewhere (:mod:`._svd_update_xp`).

Contents:

- :class:`_Factor`, one side ``F = F′ K`` of the decomposition in extended form (the storage);
- :func:`_implicit_orth` / :func:`_implicit_apply`, the implicit (never densified)
  orthogonalization of a sparse update against a factor, and the update of that factor;
- :func:`_zha_simon_basis`, :func:`_gkl_basis`, :func:`_randomized_basis`, the explicit bases
  of the baselines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Any

from .._backend import is_sparse
from .._backend.dispatch import select
from .._backend.linalg import eps
from . import _svd_update_lapack as _lapack
from . import _svd_update_xp as _xp

__all__ = [
    "DROP",
    "EngineOps",
    "bound",
    "engine_ops",
    "kappa_max",
]

# A residual direction whose squared norm (an eigenvalue of the implicit Gram matrix) is below
# DROP · u · ‖E‖_F² is indistinguishable from rounding of that Gram matrix: it is dropped (it
# carries at most √(DROP·u)·‖E‖_F of the update, far below any truncation error).
DROP = 100.0


def bound(dtype: Any) -> float:
    """Orthogonality loss ``‖FᵀF - I‖`` tolerated before a factor is re-orthogonalized
    (u^(2/3): 3.7e-11 in float64, 1.5e-5 in float32)."""
    return eps(dtype) ** (2.0 / 3.0)


def kappa_max(dtype: Any) -> float:
    """Largest condition number of an extended-decomposition ``K`` before it is folded into
    ``U′`` (u^(-1/3): 1.6e5 in float64, 256 in float32)."""
    return eps(dtype) ** (-1.0 / 3.0)


# ---------------------------------------------------------------------------------------------
# the engine-specific steps, chosen once


def _gather_numba(E: Any, buf: Any, n: int) -> Any:
    from . import _svd_update_numba  # Numba is imported on the first sparse update only

    return _svd_update_numba.gather(E, buf, n)


def _scatter_numba(E: Any, W: Any, buf: Any) -> None:
    from . import _svd_update_numba

    _svd_update_numba.scatter(E, W, buf)


@dataclass(frozen=True)
class EngineOps:
    """The engine-specific steps for one array namespace (see the module docstring)."""

    gather: Callable[[Any, Any, int], Any]
    """``gather(E, buf, n) = E @ buf[:n]`` for CSR ``E``."""
    scatter: Callable[[Any, Any, Any], None]
    """``scatter(E, W, buf)``: ``buf[:n] += Eᵀ W`` in place, only on the rows ``E`` touches."""
    right_divide: Callable[[Any, Any, float], tuple[Any, float]]
    """``right_divide(K, X, kappa_max) -> (X K⁻¹ or None, κ(K))``."""
    small_svd: Callable[[Any, int, float], tuple[Any, Any, Any, float]]
    """``small_svd(M, k, eps) -> (F, T, G, loss)``: top-``k`` SVD of the core."""
    factor_gram: Callable[[Any, float], tuple[Any, Any, float]]
    """``factor_gram(G, thr) -> (X ↦ P X, EQ, 1/λ_min)``: rank-revealing factor of ``G``."""


def engine_ops(xp: ModuleType) -> EngineOps:
    """The :class:`EngineOps` that serve arrays of namespace ``xp``."""
    return EngineOps(
        gather=select(xp, cpu=_gather_numba, fallback=_xp.gather, what="the sparse gather"),
        scatter=select(xp, cpu=_scatter_numba, gpu=_xp.scatter_cupy,
                       what="the sparse scatter"),
        right_divide=select(xp, cpu=_lapack.right_divide, fallback=partial(_xp.right_divide, xp),
                            what="the right division by K"),
        small_svd=select(xp, cpu=_lapack.small_svd, fallback=partial(_xp.small_svd, xp),
                         what="the SVD of the core"),
        factor_gram=select(xp, cpu=_lapack.factor_gram, fallback=partial(_xp.factor_gram, xp),
                           what="the Gram factorization"),
    )


# ---------------------------------------------------------------------------------------------
# one side of the decomposition (the storage)


class _Factor:
    """One factor in extended form ``F = buf[:n] @ K`` (``K is None`` means the identity).

    ``buf`` has spare rows so that appending ``s`` rows costs ``O(s k)`` amortized.
    ``loss`` is a running estimate of ``‖FᵀF - I‖₂``.
    """

    __slots__ = ("K", "buf", "loss", "n")

    def __init__(self, F: Any, xp: ModuleType, loss: float):
        n, k = F.shape
        self.buf = xp.empty((n + max(16, n // 4), k), dtype=F.dtype)
        self.buf[:n] = F
        self.n = n
        self.K: Any = None
        self.loss = loss

    def dense(self) -> Any:
        rows = self.buf[: self.n]
        return rows.copy() if self.K is None else rows @ self.K

    def rows(self, idx: Any) -> Any:
        r = self.buf[idx]
        return r.copy() if self.K is None else r @ self.K

    def stored(self) -> Any:
        return self.buf[: self.n]

    def append(self, xp: ModuleType, R: Any) -> None:
        s = R.shape[0]
        if self.n + s > self.buf.shape[0]:
            cap = max(2 * self.buf.shape[0], self.n + s)
            buf = xp.empty((cap, self.buf.shape[1]), dtype=self.buf.dtype)
            buf[: self.n] = self.buf[: self.n]
            self.buf = buf
        self.buf[self.n : self.n + s] = R
        self.n += s

    def fold(self) -> None:
        """``buf ← buf K``, ``K ← I`` (``O(n k²)``)."""
        if self.K is not None:
            self.buf[: self.n] = self.buf[: self.n] @ self.K
            self.K = None

    def rotate(self, T: Any, *, extended: bool) -> None:
        """``F ← F T`` for a small square ``T``: only ``K`` changes in extended form."""
        if extended:
            self.K = T if self.K is None else self.K @ T
        elif self.K is None:
            self.buf[: self.n] = self.buf[: self.n] @ T
        else:
            self.K = self.K @ T


# ---------------------------------------------------------------------------------------------
# the sparse orthogonalization (Deng et al., Algorithm 2, in block form)


class _Implicit:
    """``Q = (Eᵀ - Y Ctᵀ) P``, never formed: ``E`` (CSR, ``s × n``) is the sparse part.

    ``Ct = E Y`` (``s × k``), ``EQ = E Q`` (``s × r``), ``loss`` bounds ``‖QᵀQ - I‖``.
    """

    __slots__ = ("Ct", "E", "EQ", "loss", "pmul")

    def __init__(self, E: Any, Ct: Any, pmul: Any, EQ: Any, loss: float):
        self.E, self.Ct, self.pmul, self.EQ, self.loss = E, Ct, pmul, EQ, loss


def _implicit_orth(xp: ModuleType, ops: EngineOps, Y: _Factor, E: Any,
                   u: float) -> _Implicit:
    """Orthonormalize the rows of the sparse ``E`` (``s × n``) against ``Y`` without densifying.

    The columns of ``B = Eᵀ`` minus their projections ``Y C`` (``C = Yᵀ B``) are the residuals.
    Their Gram matrix is ``BᵀB - CᵀC``; a rank-revealing factorization of it (pivoted Cholesky,
    or eigen-decomposition on the GPU) gives ``P`` with ``Q = (B - Y C) P`` orthonormal and
    ``E Q``. No per-column norm is taken as ``sqrt(‖b‖² - ‖c‖²)``: directions below the
    rounding level of the Gram matrix are dropped as a block, and the loss of orthogonality
    the others can carry (``u ‖E‖_F² / λ_min``) is reported so that the caller checks it.
    Cost ``O(nnz(E) k + s² k + s³)``, independent of ``n``; ``u`` is the unit roundoff.
    """
    Ct, G, normE2 = _implicit_gram(xp, ops, Y, E)
    thr = DROP * u * normE2
    pmul, EQ, inv_lmin = ops.factor_gram(G, thr)
    loss = u * normE2 * inv_lmin
    return _Implicit(E, Ct, pmul, EQ, loss)


def _implicit_gram(xp: ModuleType, ops: EngineOps, Y: _Factor, E: Any) -> tuple[Any, Any, float]:
    """``Ct = E Y``, the implicit Gram matrix ``XᵀX = EEᵀ - Ct Ctᵀ`` of the residual
    ``X = Eᵀ - Y Ctᵀ`` (``s × s``) and ``‖E‖_F²``: ``O(nnz(E) k + s² k)``."""
    Ct = xp.asarray(ops.gather(E, Y.buf, Y.n))
    if Y.K is not None:
        Ct = Ct @ Y.K
    EEt = (E @ E.T).toarray()
    G = EEt - Ct @ Ct.T
    G = 0.5 * (G + G.T)
    return Ct, G, float(xp.sum(xp.diagonal(EEt)))


# ---------------------------------------------------------------------------------------------
# Deng et al.'s sparse GKL and sparse RPI (their Algorithms 6 and 8): the Krylov / power
# subspaces of the residual X = Eᵀ - Y Ctᵀ, computed on the implicit pair (B = Eᵀ, C = Ct)
#
# Every vector of range(X) is q = X a = B a - Y (Ct a): the authors carry the pair
# (B a, C a); here the pair is kept as its coefficient a ∈ R^s, which gives the same vectors
# with ⟨X a, X b⟩ = aᵀ G b and Xᵀ (X a) = G a for the Gram G = XᵀX of _implicit_gram, so
# every step costs O(s²) and none touches n-length (or nnz-length) vectors.


def _g_orthonormalize(xp: ModuleType, G: Any, A: Any, thr: float) -> Any:
    """Columns of ``A`` (``s × l``) made ``G``-orthonormal (``AᵀGA = I``), twice for
    stability; directions whose ``G``-norm² is below ``thr`` (per unit coefficient) are
    dropped (they are rounding of ``G``)."""
    for _ in range(2):
        if A.shape[1] == 0:
            return A
        A = A / xp.maximum(xp.linalg.norm(A, axis=0), xp.finfo(A.dtype).tiny)[None, :]
        H = A.T @ (G @ A)
        lam, W = xp.linalg.eigh(0.5 * (H + H.T))
        keep = lam > thr * A.shape[1]
        A = (A @ W[:, keep]) / xp.sqrt(lam[keep])[None, :]
    return A


def _implicit_from_coefficients(E: Any, Ct: Any, G: Any, A: Any, u: float,
                                normE2: float) -> _Implicit:
    """The implicit basis ``Q = X A`` (``AᵀGA = I``): ``E Q = G A``, and a loss estimate
    ``u ‖E‖_F² ‖A‖_F²`` (the rounding of ``G`` seen through ``A``)."""
    loss = u * normE2 * float((A * A).sum())

    def pmul(Z: Any) -> Any:
        return A @ Z

    return _Implicit(E, Ct, pmul, G @ A, loss)


def _implicit_gkl(xp: ModuleType, ops: EngineOps, Y: _Factor, E: Any, u: float, l: int,
                  gen: Any) -> _Implicit:
    """``l`` steps of Golub--Kahan--Lanczos on the residual ``X`` in implicit form (Deng et
    al.'s sparse GKL), with full reorthogonalization of both Lanczos sequences: the left
    vectors ``q_j = X a_j`` span ``Q``. ``O(nnz(E) k + s² (k + l))``."""
    Ct, G, normE2 = _implicit_gram(xp, ops, Y, E)
    thr = DROP * u * normE2
    s = G.shape[0]
    dt = G.dtype
    Acoef = xp.zeros((s, l), dtype=dt)
    GA = xp.zeros((s, l), dtype=dt)
    P = xp.zeros((s, l + 1), dtype=dt)
    p = gen.standard_normal(s, dtype=dt)
    P[:, 0] = p / xp.linalg.norm(p)
    a_prev = xp.zeros(s, dtype=dt)
    beta = 0.0
    used = 0
    for j in range(l):
        a = P[:, j] - beta * a_prev                          # q = X p_j - β q_{j-1}
        for _ in range(2):                                   # q ⟂ q_0..q_{j-1} (G-product)
            a = a - Acoef[:, :j] @ (GA[:, :j].T @ a)
        Ga = G @ a
        alpha2 = float(a @ Ga)
        if alpha2 <= thr * float(a @ a):
            break
        alpha = math.sqrt(alpha2)
        a, Ga = a / alpha, Ga / alpha
        Acoef[:, j], GA[:, j] = a, Ga
        used = j + 1
        p = Ga - alpha * P[:, j]                              # Xᵀ q_j - α p_j
        for _ in range(2):
            p = p - P[:, : j + 1] @ (P[:, : j + 1].T @ p)
        beta = float(xp.linalg.norm(p))
        if beta <= math.sqrt(thr):
            break
        P[:, j + 1] = p / beta
        a_prev = a
    A = _g_orthonormalize(xp, G, Acoef[:, :used], thr)
    return _implicit_from_coefficients(E, Ct, G, A, u, normE2)


def _implicit_rpi(xp: ModuleType, ops: EngineOps, Y: _Factor, E: Any, u: float, l: int,
                  t: int, gen: Any) -> _Implicit:
    """Randomized range finder of the residual ``X`` with ``t`` power iterations, in implicit
    form (Deng et al.'s sparse RPI): ``Q = orth(X Ω)``, then ``Q ← orth(X Xᵀ Q)``; with
    ``Q = X A`` the power step is ``A ← G A``. ``O(nnz(E) k + s² (k + l t))``."""
    Ct, G, normE2 = _implicit_gram(xp, ops, Y, E)
    thr = DROP * u * normE2
    A = _g_orthonormalize(xp, G, gen.standard_normal((G.shape[0], l), dtype=G.dtype), thr)
    for _ in range(t):
        A = _g_orthonormalize(xp, G, G @ A, thr)
    return _implicit_from_coefficients(E, Ct, G, A, u, normE2)


def _implicit_apply(ops: EngineOps, Y: _Factor, orth: _Implicit, Gtop: Any, Gbot: Any,
                    kappa_max: float) -> float:
    """``Y ← [Y Q] [Gtop; Gbot] = Y (Gtop - C P Gbot) + B P Gbot`` in extended form.

    ``K ← K T`` with ``T = Gtop - C P Gbot``, and ``Y′ += B (P Gbot K⁻¹)``: the small ``s × k``
    factor is solved first, then scattered through the sparse ``B = Eᵀ`` into the rows it
    touches (``O(nnz(E) k)``). Returns ``κ(K)`` (a term of the orthogonality-loss estimate).
    """
    PG = orth.pmul(Gbot)
    T = Gtop - orth.Ct.T @ PG
    Knew = T if Y.K is None else Y.K @ T
    quotient, kappa = ops.right_divide(Knew, PG, kappa_max)
    Y.K = Knew
    if quotient is None:
        Y.fold()
    else:
        PG = quotient
    ops.scatter(orth.E, PG, Y.buf)
    return min(kappa, kappa_max)


# ---------------------------------------------------------------------------------------------
# the baselines' explicit bases


def _frob2(xp: ModuleType, E: Any) -> float:
    """``‖E‖_F²`` (dense or sparse)."""
    data = E.data if is_sparse(E) else E
    return float(xp.sum(data * data))


def _residual_ops(xp: ModuleType, V: Any, E: Any, Ct: Any) -> tuple[Any, Any]:
    """``X = Eᵀ - V C`` (``n × s``) as two block products, never formed."""

    def mv(p: Any) -> Any:
        return xp.asarray(E.T @ p) - V @ (Ct.T @ p)

    def rmv(q: Any) -> Any:
        return xp.asarray(E @ q) - Ct @ (V.T @ q)

    return mv, rmv


def _orth_against(xp: ModuleType, V: Any, X: Any) -> Any:
    """Orthonormal basis of ``(I - V Vᵀ) X`` (projected twice: "twice is enough")."""
    X = X - V @ (V.T @ X)
    X = X - V @ (V.T @ X)
    return xp.linalg.qr(X)[0]


def _zha_simon_basis(xp: ModuleType, V: Any, E: Any, Ct: Any) -> Any:
    """QR of the dense residual ``Eᵀ - V C`` (Zha & Simon 1999). Where the residual is at
    rounding level its ``Q`` is arbitrary, but the caller weighs ``Q`` by ``(E - Ct Vᵀ) Q``,
    which is then at rounding level too, so those directions never enter the update."""
    Et = E.T.toarray() if is_sparse(E) else E.T
    X = Et - V @ Ct.T
    return xp.linalg.qr(X)[0]


def _gkl_basis(xp: ModuleType, V: Any, E: Any, Ct: Any, l: int, gen: Any, tiny: float) -> Any:
    """``l`` steps of Golub--Kahan--Lanczos on ``X = (I - V Vᵀ) Eᵀ`` with full reorthogonalization
    (Vecharynski & Saad 2014): the left Lanczos vectors span ``Q``."""
    mv, rmv = _residual_ops(xp, V, E, Ct)
    n, s = V.shape[0], E.shape[0]
    Q = xp.zeros((n, l), dtype=V.dtype)
    P = xp.zeros((s, l + 1), dtype=V.dtype)
    p = gen.standard_normal(s, dtype=V.dtype)
    P[:, 0] = p / xp.linalg.norm(p)
    q_prev = xp.zeros(n, dtype=V.dtype)
    beta = 0.0
    used = 0
    for j in range(l):
        q = mv(P[:, j]) - beta * q_prev
        q = q - V @ (V.T @ q)
        q = q - Q[:, :j] @ (Q[:, :j].T @ q)
        alpha = float(xp.linalg.norm(q))
        if alpha <= tiny:
            break
        q = q / alpha
        Q[:, j] = q
        used = j + 1
        p = rmv(q) - alpha * P[:, j]
        p = p - P[:, : j + 1] @ (P[:, : j + 1].T @ p)
        beta = float(xp.linalg.norm(p))
        if beta <= tiny:
            break
        P[:, j + 1] = p / beta
        q_prev = q
    return Q[:, :used]


def _randomized_basis(xp: ModuleType, V: Any, E: Any, Ct: Any, l: int, t: int,
                      gen: Any) -> Any:
    """Randomized range finder of ``X = (I - V Vᵀ) Eᵀ`` with ``t`` power iterations
    (Yamazaki et al. 2015)."""
    mv, rmv = _residual_ops(xp, V, E, Ct)
    Om = gen.standard_normal((E.shape[0], l), dtype=V.dtype)
    Q = _orth_against(xp, V, mv(Om))
    for _ in range(t):
        Q = _orth_against(xp, V, mv(rmv(Q)))
    return Q
