"""Dense solvers of :class:`~projkit.projectors.kronecker.KroneckerProjection`, engine-agnostic.

Preconditioned CG on ``M = BBᵀ`` with a stale Cholesky factor (the deferred refactorization),
and the spectral norm the lazy mode certifies with. The products with ``M`` come from the
structure's engine (``_kronecker_lapack.py`` / ``_kronecker_xp.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._backend.linalg import cho_solve


def spectral_norm(xp: ModuleType, F: Any) -> float:
    """``‖F‖₂`` (the largest singular value)."""
    return float(xp.linalg.svd(F, compute_uv=False)[0])


def pcg(xp: ModuleType, sym_matmul: Callable[[Any, Any], Any], M: Any, L: Any, b: Any,
        eps: float, maxiter: int = 40) -> tuple[Any, int, bool]:
    """Solve ``M y = b`` (columns of ``b`` at once) by CG preconditioned with ``LLᵀ ≈ M``.

    ``sym_matmul(M, X)`` is ``M X`` (``M`` may hold its lower triangle only). Stops when every
    column's *true* residual is at the level of a backward-stable direct solve,
    ``‖b − My‖ ≤ 8 eps · tr(M) · ‖y‖`` (``tr M ≥ ‖M‖₂`` for ``M ⪰ 0``). Returns
    ``(y, iterations, converged)``.
    """
    scale = 8 * eps * float(xp.sum(xp.diagonal(M)))
    y = cho_solve(xp, L, b)
    r = b - sym_matmul(M, y)
    it = 0
    while True:
        done = xp.linalg.norm(r, axis=0) <= scale * xp.linalg.norm(y, axis=0) + eps * \
            xp.linalg.norm(b, axis=0)
        if bool(xp.all(done)) or it >= maxiter:
            return y, it, bool(xp.all(done))
        z = cho_solve(xp, L, r)
        p = z
        rz = xp.sum(r * z, axis=0)
        # a CG cycle on the recursive residual, then a true-residual check (restart)
        for _ in range(maxiter - it):
            q = sym_matmul(M, p)
            pq = xp.sum(p * q, axis=0)
            alpha = xp.where(done | (pq <= 0), 0, rz / xp.where(pq > 0, pq, 1))
            y = y + alpha * p
            r = r - alpha * q
            it += 1
            rn = xp.linalg.norm(r, axis=0)
            if bool(xp.all(rn <= 0.5 * (scale * xp.linalg.norm(y, axis=0)
                                        + eps * xp.linalg.norm(b, axis=0)))):
                break
            z = cho_solve(xp, L, r)
            rz_new = xp.sum(r * z, axis=0)
            p = z + (rz_new / xp.where(rz != 0, rz, 1)) * p
            rz = rz_new
        r = b - sym_matmul(M, y)
