"""Test helpers that projkit ships for its own suite and for code built on it."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._backend.linalg import eps
from ._backend.namespace import array_namespace, to_numpy

__all__ = ["check_adjoint"]


def check_adjoint(op: Any, *, adjoint: Any = None, n_vectors: int = 3, rtol: float | None = None,
                  xp: Any = None, dtype: Any = None, rng: Any = 0) -> float:
    """The dot test ``⟨S x, y⟩ = ⟨x, Sᴴ y⟩`` for a linear operator ``S``; raise if it fails.

    Parameters
    ----------
    op : linear operator
        Anything with ``shape`` (``m × n``) and ``op @ X`` for an ``n × k`` block ``X``
        (a :class:`~projkit.SketchOperator`, a :class:`~projkit.Projector`, a dense or sparse
        matrix, ...).
    adjoint : callable, optional
        ``Y ↦ Sᴴ Y`` for an ``m × k`` block; by default ``op.T @ Y`` (real operators).
    n_vectors : int
        Columns ``k`` of the random test blocks.
    rtol : float, optional
        Allowed ``|⟨Sx, y⟩ − ⟨x, Sᴴy⟩|`` relative to ``‖Sx‖‖y‖ + ‖x‖‖Sᴴy‖``; by default
        ``100 · sqrt(m + n) · eps``, a rounding bound for two length-``m``/``n`` inner products
        with a safety factor of 100.
    xp : module, optional
        Namespace of the test blocks (NumPy by default; ``cupy`` for a GPU operator).
    dtype : dtype, optional
        dtype of the test blocks (``op.dtype`` when it has one, else float64).
    rng : None, int or numpy.random.Generator

    Returns
    -------
    float
        The largest relative defect seen (for reporting).

    Raises
    ------
    AssertionError
        When the defect exceeds ``rtol`` for some column.

    Examples
    --------
    >>> import projkit
    >>> from projkit.testing import check_adjoint
    >>> check_adjoint(projkit.sketch_operator(50, 8, method="countsketch", rng=1)) < 1e-12
    True
    """
    m, n = (int(d) for d in op.shape)
    if dtype is None:
        dtype = getattr(op, "dtype", None)
    dt = np.dtype(dtype) if dtype is not None else np.dtype(np.float64)
    gen = np.random.default_rng(rng)
    x = gen.standard_normal((n, n_vectors)).astype(dt, copy=False)
    y = gen.standard_normal((m, n_vectors)).astype(dt, copy=False)
    if xp is not None:
        x, y = xp.asarray(x), xp.asarray(y)
    sx = op @ x
    sty = adjoint(y) if adjoint is not None else op.T @ y
    array_namespace(sx)  # a usable array came back
    sx, sty = np.asarray(to_numpy(sx)), np.asarray(to_numpy(sty))
    xh, yh = np.asarray(to_numpy(x)), np.asarray(to_numpy(y))
    if sx.shape != (m, n_vectors) or sty.shape != (n, n_vectors):
        raise AssertionError(f"check_adjoint: S @ x has shape {sx.shape} and Sᴴ @ y shape "
                             f"{sty.shape}; expected {(m, n_vectors)} and {(n, n_vectors)}")
    lhs = np.einsum("ik,ik->k", sx, np.conj(yh))
    rhs = np.einsum("ik,ik->k", xh, np.conj(sty))
    scale = (np.linalg.norm(sx, axis=0) * np.linalg.norm(yh, axis=0)
             + np.linalg.norm(xh, axis=0) * np.linalg.norm(sty, axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    defect = float(np.max(np.abs(lhs - rhs) / scale))
    if rtol is None:
        rtol = 100.0 * float(np.sqrt(m + n)) * eps(dt)
    if not defect <= rtol:
        raise AssertionError(f"check_adjoint: ⟨Sx, y⟩ and ⟨x, Sᴴy⟩ differ by {defect:.3g} "
                             f"(relative), more than rtol={rtol:.3g}")
    return defect


def __dir__() -> list[str]:
    return list(__all__)
