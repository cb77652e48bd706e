"""Array-namespace engine of the CUR / ID index selection and triangular solve (CuPy, and
NumPy-like namespaces with integer-array assignment); the CPU twin is :mod:`._cur_lapack`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

__all__ = ["pivoted_qr_r", "solve_upper"]


def pivoted_qr_r(xp: ModuleType, W: Any, k: int) -> tuple[Any, Any]:
    """First ``k`` rows of ``R`` and the column permutation of a column-pivoted QR of ``W``.

    Greedy column-pivoted modified Gram–Schmidt (CuPy has no pivoted QR), ``O(k · size(W))``:
    at step ``j`` the remaining column of largest residual norm is swapped in, normalized and
    projected out of the others. Returns ``R`` (k × n, columns in pivoted order) and ``piv``.
    """
    W = xp.array(W, copy=True)
    mW, n = W.shape
    piv = xp.arange(n)
    R = xp.zeros((k, n), dtype=W.dtype)
    norms = xp.sum(xp.abs(W) ** 2, axis=0)
    for j in range(k):
        p = int(xp.argmax(norms[j:])) + j
        if p != j:
            sw = xp.asarray([p, j])
            dst = xp.asarray([j, p])
            W[:, dst] = W[:, sw]
            R[:, dst] = R[:, sw]
            norms[dst] = norms[sw]
            piv[dst] = piv[sw]
        nrm = float(xp.linalg.norm(W[:, j]))
        if nrm == 0.0:
            break
        q = W[:, j] / nrm
        proj = xp.conj(q) @ W[:, j:]
        R[j, j:] = proj
        W[:, j:] -= q[:, None] * proj[None, :]
        norms[j:] -= xp.abs(proj) ** 2
        norms[j] = 0
    return R, piv


def solve_upper(xp: ModuleType, R11: Any, R12: Any) -> Any:
    """``R11⁻¹ R12`` for a well-conditioned upper-triangular ``R11`` (a dense solve)."""
    return xp.linalg.solve(R11, R12)
