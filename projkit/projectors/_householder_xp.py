"""Array-namespace code of the Householder projector (the CuPy engine; NumPy runs it in tests).

``larfg_columns`` (vectorized ``dlarfg``/``dlarfgp``) also serves every engine in
:meth:`~projkit.HouseholderProjector.random`. The CPU engine is the Numba squared-norm kernel
of ``_householder_numba.py`` and LAPACK ``geqrf`` in ``_householder_lapack.py``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

__all__ = ["householder_qr", "larfg_columns", "sq_norms"]


def sq_norms(vectors: Any, lapack: bool, xp: ModuleType) -> Any:
    """``||v_i||^2`` of every reflector (NaN/inf propagate) by masked column blocks."""
    k = vectors.shape[-1]
    out = []
    for j0 in range(0, k, 512):
        j1 = min(k, j0 + 512)
        if lapack:
            B = xp.tril(vectors[..., j0:, j0:j1], -1)
            out.append(1.0 + xp.sum(B * B, axis=-2))
        else:
            B = vectors[..., :, j0:j1]
            out.append(xp.sum(B * B, axis=-2))
    return xp.concatenate(out, axis=-1)


def larfg_columns(alpha: Any, sigma2: Any, positive: bool, xp: ModuleType
                  ) -> tuple[Any, Any, Any]:
    """Vectorized ``dlarfg``/``dlarfgp``: for ``x = [alpha; x2]`` with ``sigma2 = ||x2||^2``,
    ``(beta, tau, scale)`` such that ``H x = beta e_1`` with ``v = [1; scale · x2]``.

    ``positive=True`` is ``dlarfgp`` (``beta >= 0``; ``alpha - beta`` computed as
    ``-sigma2 / (alpha + beta)`` when ``alpha > 0`` to avoid cancellation); ``positive=False`` is
    ``dlarfg`` (``beta = -sign(alpha) ||x||``, the convention of ``geqrf`` and ``numpy.linalg.qr``).
    """
    norm = xp.sqrt(alpha * alpha + sigma2)
    flat = sigma2 == 0
    if positive:
        beta = norm
        safe = xp.where(alpha > 0, alpha + beta, 1.0)
        delta = xp.where(alpha > 0, -sigma2 / safe, alpha - beta)  # alpha - beta
    else:
        beta = xp.where(alpha >= 0, -norm, norm)
        delta = alpha - beta
    safe_beta = xp.where(beta == 0, 1.0, beta)
    safe_delta = xp.where(delta == 0, 1.0, delta)
    tau = -delta / safe_beta
    scale = 1.0 / safe_delta
    if positive:
        # x2 = 0: H = I (alpha >= 0) or H = I - 2 e_1 e_1^T (alpha < 0) so that beta = |alpha|
        tau = xp.where(flat, xp.where(alpha < 0, 2.0, 0.0), tau)
    else:
        tau = xp.where(flat, 0.0, tau)  # LAPACK: x2 = 0 gives H = I and beta = alpha
        beta = xp.where(flat, alpha, beta)
    scale = xp.where(flat, 0.0, scale)
    return beta, tau.astype(alpha.dtype), scale.astype(alpha.dtype)


def householder_qr(A: Any, positive: bool, xp: ModuleType) -> tuple[Any, Any]:
    """Unblocked Householder QR (``geqrf``/``geqrfp`` layout) written once for NumPy and CuPy.

    Returns ``(qr, tau)``: ``R`` on and above the diagonal, the vectors below it.
    """
    A = xp.array(A, copy=True)
    n, mcols = A.shape[-2:]
    k = min(n, mcols)
    taus = []
    for j in range(k):
        x = A[..., j:, j]
        alpha = x[..., 0]
        sigma2 = xp.sum(x[..., 1:] * x[..., 1:], axis=-1)
        beta, tau, scale = larfg_columns(alpha, sigma2, positive, xp)
        A[..., j + 1 :, j] = x[..., 1:] * scale[..., None]
        A[..., j, j] = beta
        if j + 1 < mcols:
            v = xp.concatenate([xp.ones_like(alpha)[..., None], A[..., j + 1 :, j]], axis=-1)
            C = A[..., j:, j + 1 :]
            w = (v[..., None, :] @ C)  # 1 × rest
            C -= (tau[..., None, None] * v[..., :, None]) @ w
        taus.append(tau)
    return A, xp.stack(taus, axis=-1)
