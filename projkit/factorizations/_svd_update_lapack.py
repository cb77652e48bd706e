"""CPU (NumPy/SciPy LAPACK) engine of the small dense steps of :mod:`.svd_update`.

Each function has an array-namespace twin in :mod:`._svd_update_xp` with the same signature;
:func:`._svd_update_core.engine_ops` picks one of the two once per factorization. The LAPACK
versions exist because they are cheaper where the generic route would be the bottleneck:

- :func:`right_divide`: one LU (``getrf``), the ``O(k²)`` condition estimate ``gecon`` and
  ``getrs``, instead of an SVD and a dense solve;
- :func:`small_svd`: top-``k`` eigenpairs of the smaller Gram matrix of the core (``syevd``,
  or ``syevr`` for a subset), instead of ``gesdd`` when that is accurate enough;
- :func:`factor_gram`: rank-revealing pivoted Cholesky (``pstrf``), instead of ``syevd``;
- :func:`svds`: ARPACK (:func:`scipy.sparse.linalg.svds`) from a seeded start vector.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["factor_gram", "right_divide", "small_svd", "svds"]


def right_divide(K: Any, X: Any, kappa_max: float) -> tuple[Any, float]:
    """``X K⁻¹`` by an LU solve (no explicit inverse) and ``κ(K)``; ``None`` instead of the
    quotient when ``κ(K) > kappa_max`` (the caller then folds ``K`` into its factor).

    One LU (``getrf``), the 1-norm condition estimate ``gecon`` (``O(k²)``) and ``getrs``.
    """
    import scipy.linalg as sl

    lu, piv = sl.lu_factor(K, check_finite=False)
    (gecon,) = sl.lapack.get_lapack_funcs(("gecon",), (lu,))
    rcond, _ = gecon(lu, float(np.abs(K).sum(axis=0).max()), norm="1")
    kappa = math.inf if rcond <= 0 else 1.0 / float(rcond)
    if kappa > kappa_max:
        return None, kappa
    return sl.lu_solve((lu, piv), X.T, trans=1, check_finite=False).T, kappa


def small_svd(M: Any, k: int, eps: float, max_ratio: float | None = None, *,
              right: bool = True) -> tuple[Any, Any, Any, float]:
    """Top-``k`` SVD ``F T Gᵀ`` of the small core ``M`` and the orthogonality loss it adds.

    The ``O((k + s)³)`` SVD of the core is the bottleneck of every method once the rest is
    sparse, so the top-``k`` eigenpairs of the smaller Gram matrix are used instead (``syevd``,
    or ``syevr`` for a subset when ``s ≫ k``: 2-3x faster than ``gesdd``). That squares the
    condition number, so it is accepted only while ``(T₁/T_k)² ≤ max_ratio`` (default
    ``u^{-1/4}``, 8e3 in float64), and its loss of orthogonality ``u (T₁/T_k)²`` is reported;
    otherwise a full SVD. ``right=False``: ``G`` is not wanted and may come back as None (the
    ``q × k`` product that forms it from a wide core is skipped).
    """
    if max_ratio is None:
        max_ratio = eps**-0.25
    p, q = M.shape
    if min(p, q) > k:
        from .._backend.linalg import eigh_top

        small = q <= p
        Gm = M.T @ M if small else M @ M.T
        d = Gm.shape[0]
        if d >= 4 * k:  # syevr for the top k, with the GIL released (threads run side by side)
            lam, W = eigh_top(Gm, k)
        else:
            lam, W = np.linalg.eigh(Gm)
            lam, W = lam[d - k :], W[:, d - k :]
        lam, W = lam[::-1], W[:, ::-1]
        if lam[-1] > 0 and lam[0] / lam[-1] <= max_ratio:
            T = np.sqrt(lam)
            if small:
                return (M @ W) / T[None, :], T, W, eps * float(lam[0] / lam[-1])
            return (W, T, (M.T @ W) / T[None, :] if right else None,
                    eps * float(lam[0] / lam[-1]))
    F, T, Gt = np.linalg.svd(M, full_matrices=False)
    return F[:, :k], T[:k], Gt[:k].T, 0.0


def factor_gram(G: np.ndarray, thr: float) -> tuple[Any, Any, float]:
    """Rank-revealing (pivoted) Cholesky ``Πᵀ G Π = L Lᵀ`` (LAPACK ``?pstrf``, stops at pivots
    below ``thr``): ``P = Π_r L₁₁^{-ᵀ}`` makes ``Pᵀ G P = I`` and ``EQ = Π L``; ``P`` is applied
    by triangular solves, never formed. About 10x cheaper than the eigen-decomposition for a
    batch of a few hundred rows.

    Returns ``(X ↦ P X, EQ, 1/λ_min)`` like :func:`._svd_update_xp.factor_gram`.
    """
    import scipy.linalg as sl

    s = G.shape[0]
    (pstrf,) = sl.lapack.get_lapack_funcs(("pstrf",), (G,))
    c, piv, rank, info = pstrf(G, tol=thr, lower=1)
    if info < 0:  # pragma: no cover - LAPACK argument error
        raise np.linalg.LinAlgError(f"pivoted Cholesky failed (info={info})")
    r = int(rank) if info > 0 else s
    perm = piv[:s] - 1
    L = np.tril(c)[:, :r]
    EQ = np.zeros((s, r), dtype=G.dtype)
    EQ[perm] = L
    L11 = np.ascontiguousarray(L[:r])
    if r == 0:
        return (lambda X: np.zeros((s, X.shape[1]), dtype=G.dtype)), EQ, 0.0
    # 1/λ_min(L₁₁L₁₁ᵀ) = ‖L₁₁⁻¹‖₂², estimated by the 1-norm (LAPACK trcon, O(r²))
    (trcon,) = sl.lapack.get_lapack_funcs(("trcon",), (L11,))
    rcond, _ = trcon(L11, norm="1", uplo="L")
    inv_norm1 = math.inf if rcond <= 0 else 1.0 / (float(rcond) * float(
        np.abs(L11).sum(axis=0).max()))
    inv_lmin = inv_norm1**2

    def pmul(X: np.ndarray) -> np.ndarray:
        """``P X`` with ``P = Π_r L₁₁^{-ᵀ}``: a triangular solve, ``P`` never formed."""
        out = np.zeros((s, X.shape[1]), dtype=G.dtype)
        out[perm[:r]] = sl.solve_triangular(L11, X, lower=True, trans="T", check_finite=False)
        return out

    return pmul, EQ, inv_lmin


def svds(A: Any, rank: int, gen: Any) -> tuple[Any, Any, Any]:
    """ARPACK's top-``rank`` singular triplets of the SciPy sparse ``A`` (in ARPACK's order);
    a start vector drawn from ``gen`` makes the result reproducible."""
    from scipy.sparse.linalg import svds as arpack_svds

    v0 = gen.uniform(-1.0, 1.0, min(A.shape)).astype(A.dtype)
    return arpack_svds(A, k=rank, v0=v0)
