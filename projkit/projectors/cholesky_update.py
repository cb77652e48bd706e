"""Rank-``k`` up- and downdates of a lower Cholesky factor: :func:`cholesky_update`.

The engines sit beside it: ``_cholesky_numba.py`` (CPU: in-place plane/hyperbolic rotations,
``O(k m²)``) and ``_cholesky_xp.py`` (CuPy and other namespaces: one refactorization).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._backend import check_input, select
from .._backend.namespace import array_namespace
from ._cholesky_xp import refactor_update

__all__ = ["cholesky_update"]


def cholesky_update(L: Any, U: Any, sign: int | float = 1) -> Any:
    """Rank-``k`` update or downdate of a lower Cholesky factor.

    Returns the lower factor ``L'`` with ``L' L'ᵀ = L Lᵀ + sign · U Uᵀ`` in ``O(k m²)`` work,
    without refactoring. The input is not modified.

    Parameters
    ----------
    L : (m, m) array
        Lower-triangular Cholesky factor with a positive diagonal (its strict upper triangle is
        ignored).
    U : (m,) or (m, k) array
        The update vectors (columns).
    sign : {1, -1}
        ``+1`` for an update ``LLᵀ + UUᵀ``, ``-1`` for a downdate ``LLᵀ − UUᵀ``.

    Returns
    -------
    L_new : (m, m) array
        Lower triangular, same dtype and namespace as ``L``.

    Raises
    ------
    numpy.linalg.LinAlgError
        When a downdate makes the matrix lose positive definiteness.
    ValueError
        Wrong shapes, a non-positive diagonal in ``L``, a ``sign`` other than ±1, NaN/inf.

    Notes
    -----
    Each rank-1 step ``LLᵀ ± xxᵀ`` sweeps the columns once with a plane rotation (update) or a
    hyperbolic rotation (downdate): with ``r = √(l_jj² ± x_j²)``, ``c = r/l_jj``,
    ``s = x_j/l_jj``, the column becomes ``(l_ij ± s x_i)/c`` and ``x_i ← c x_i − s l'_ij``
    (LINPACK ``dchud``/``dchdd``, [1]_ §6.5.4). On the CPU a Numba kernel does this in place on a
    copy (about ``2 k m²`` flops; row-outer, so the factor is streamed from memory once for all
    ``k`` vectors: at ``m = 2000`` a rank-1 update takes ~13 ms against ~110 ms to refactor);
    on CuPy the factor is recomputed as ``chol(LLᵀ ± UUᵀ)``, which a GPU does faster than ``m``
    sequential sweeps.

    References
    ----------
    .. [1] G. H. Golub and C. F. Van Loan, *Matrix Computations*, 4th ed., Johns Hopkins, 2013.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> L = np.linalg.cholesky(np.array([[4.0, 2.0], [2.0, 3.0]]))
    >>> u = np.array([1.0, 1.0])
    >>> L1 = projkit.cholesky_update(L, u, 1)
    >>> bool(np.allclose(L1 @ L1.T, L @ L.T + np.outer(u, u)))
    True
    >>> L2 = projkit.cholesky_update(L1, u, -1)
    >>> bool(np.allclose(L2, L))
    True
    """
    L, xp, back = check_input(L, name="L", accept_sparse=False, min_shape=(1, 1))
    m = L.shape[0]
    if L.shape[1] != m:
        raise ValueError(f"L: expected a square matrix, got shape {tuple(L.shape)}")
    U, _, _ = check_input(U, name="U", ndim=(1, 2), accept_sparse=False, dtype=L.dtype)
    array_namespace(L, U)
    if U.shape[0] != m:
        raise ValueError(f"U: expected {m} rows (as L), got shape {tuple(U.shape)}")
    if isinstance(sign, bool) or sign not in (1, -1):
        raise ValueError(f"sign: expected +1 (update) or -1 (downdate), got {sign!r}")
    if not bool(xp.all(xp.diagonal(L) > 0)):
        raise ValueError("L: expected a Cholesky factor with a positive diagonal")
    if U.ndim == 1:
        U = xp.reshape(U, (m, 1))
    return back(_cholesky_update(xp, L, U, float(sign)))


def _cholesky_update(xp: ModuleType, L: Any, U: Any, sign: float) -> Any:
    """Body of :func:`cholesky_update` (trusts its inputs; ``U`` is ``m × k``)."""
    body = select(xp, cpu=_rank_update_numba, gpu=refactor_update, fallback=refactor_update,
                  what="cholesky_update")
    return body(xp, L, U, sign)


def _rank_update_numba(xp: ModuleType, L: Any, U: Any, sign: float) -> Any:
    """The CPU engine, imported on first use (Numba loads only when a CPU update runs)."""
    from ._cholesky_numba import rank_update

    return rank_update(L, U, sign)
