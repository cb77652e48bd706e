"""Array-namespace engine of :mod:`.svd_update` (CuPy/CuPyX and any other namespace).

The twins of :mod:`._svd_update_lapack` (``right_divide``, ``small_svd``, ``factor_gram``) and
of the Numba gather of :mod:`._svd_update_numba`, written against ``xp`` alone. Two functions
are **CuPy only** and say so in their names: :func:`scatter_cupy` (it needs ``cupy.unique``
and a CuPyX CSR matrix) and :func:`svds_cupy` (:func:`cupyx.scipy.sparse.linalg.svds`).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from .._backend.linalg import csr

__all__ = ["factor_gram", "gather", "right_divide", "scatter_cupy", "small_svd", "svds_cupy"]


def right_divide(xp: ModuleType, K: Any, X: Any, kappa_max: float) -> tuple[Any, float]:
    """``X K⁻¹`` and ``κ(K)`` from the singular values of ``K`` and a dense solve; ``None``
    instead of the quotient when ``κ(K) > kappa_max``."""
    sv = xp.linalg.svd(K, compute_uv=False)
    lo = float(sv[-1])
    kappa = math.inf if lo <= 0.0 else float(sv[0]) / lo
    if kappa > kappa_max:
        return None, kappa
    return xp.linalg.solve(K.T, X.T).T, kappa


def small_svd(xp: ModuleType, M: Any, k: int, eps: float) -> tuple[Any, Any, Any, float]:
    """Top-``k`` SVD ``F T Gᵀ`` of the small core ``M`` by a full SVD (adds no loss)."""
    F, T, Gt = xp.linalg.svd(M, full_matrices=False)
    return F[:, :k], T[:k], Gt[:k].T, 0.0


def factor_gram(xp: ModuleType, G: Any, thr: float) -> tuple[Any, Any, float]:
    """``X ↦ P X`` with ``P = W Λ^{-1/2}``, and ``EQ = W Λ^{1/2}``, over the eigenvalues of
    ``G`` above ``thr``; and ``1/λ_min`` of those kept."""
    lam, W = xp.linalg.eigh(G)
    keep = lam > thr
    lamk, Wk = lam[keep], W[:, keep]
    root = xp.sqrt(lamk)
    inv_lmin = 1.0 / float(lamk[0]) if lamk.shape[0] else 0.0
    P = Wk / root[None, :]
    return (lambda X: P @ X), Wk * root[None, :], inv_lmin


def gather(E: Any, buf: Any, n: int) -> Any:
    """``E @ buf[:n]`` (the library's sparse product reads only the rows ``E`` touches)."""
    return E @ buf[:n]


def scatter_cupy(E: Any, W: Any, buf: Any) -> None:
    """``buf[:n] += Eᵀ W`` writing only the rows in the support of ``E``. CuPy only: ``E`` is a
    CuPyX CSR matrix and ``buf`` a CuPy array."""
    import cupy

    uid = cupy.unique(E.indices)
    pos = cupy.searchsorted(uid, E.indices).astype(E.indices.dtype)
    Es = csr(cupy, (E.data, pos, E.indptr), (E.shape[0], int(uid.shape[0])))
    buf[uid] += Es.T @ W


def svds_cupy(A: Any, rank: int, gen: Any) -> tuple[Any, Any, Any]:
    """The top-``rank`` singular triplets of the CuPyX sparse ``A``. CuPy only (``gen`` is
    unused: CuPyX's Lanczos start is its own)."""
    from cupyx.scipy.sparse.linalg import svds

    return svds(A, k=rank)
