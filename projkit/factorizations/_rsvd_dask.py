"""The Dask engine of the randomized SVD and range finder: lazy, chunk by chunk, any chunking.

The algorithm is the in-memory one (:mod:`projkit.factorizations.rsvd`, HMT Algorithm 4.4
with a renormalization after every product); only the hot operations change:

* ``M @ Z`` and ``Mᵀ @ Y`` are the blockwise products of :mod:`projkit.distributed` (one task
  per chunk of ``X``, a tree sum over its row or column chunks), so ``X`` may be chunked along
  the rows only or along both dimensions, and sparse chunks stay sparse;
* the tall block ``Y`` (``X``'s rows × l) of a power iteration is normalized as in memory, by
  one Cholesky-QR step ``Y L⁻ᵀ`` from its tree-summed Gram matrix, applied on the short side
  (``Mᵀ Y L⁻ᵀ``); the short block and the final basis are orthonormalized by TSQR
  (:func:`projkit.distributed.tsqr`, the direct TSQR that :func:`dask.array.linalg.tsqr`
  also implements) with the signs fixed so that ``R`` has a non-negative diagonal: the
  factor the in-memory Cholesky-QR gives, so the bases agree to rounding;
* every task runs on one BLAS thread (:func:`projkit.distributed.serial`): Dask already
  runs a task per core;
* the test matrix ``Ω`` lives on the shorter side (``min(m, n) × l``) and is drawn on the
  client from ``rng`` exactly as in memory, so the same key gives the same factors;
* the ``l × n`` matrix ``B`` is factored in one small task (``_small_svd``, in memory).

Unless ``X`` is persisted already, each pass over ``X`` is a clone of ``X``'s graph bound to
the previous step (:func:`projkit.distributed.fresh_pass`): the scheduler reads ``X`` afresh
chunk by chunk on every pass instead of keeping all of its chunks in memory across the
passes, which is what lets a matrix larger than the cluster's memory be factored. A persisted
``X`` (its chunks held by the workers) is read where it lies; persist ``X`` when it fits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import check_positive_int, device_rng
from .._backend.linalg import real_dtype
from .._backend.random import draw_key
from ..distributed import (
    check_dask,
    fresh_pass,
    materialized,
    matmul,
    serial,
    transpose_matmul,
    tsqr,
)
from ._results import SVD

__all__ = ["range_finder_dask", "rsvd_dask"]


def _orth(Y: Any) -> Any:
    """Orthonormal basis of a tall dask ``Y`` (one column chunk) by TSQR, with the signs of the
    columns fixed so that ``R`` has a positive diagonal (the Cholesky-QR factor)."""
    return tsqr(Y)[0]


def _test_matrix(n: int, size: int, sketch: str, gen: Any, dtype: Any) -> np.ndarray:
    """The in-memory ``Ω`` (n × size) of :func:`projkit.factorizations.rsvd._test_matrix`."""
    if sketch == "gaussian":
        return gen.standard_normal((n, size), dtype=dtype)
    from ..sketching.linear import _operator

    S = _operator(n, size, sketch, draw_key(gen), dtype=dtype, xp=np)
    return S.T @ np.eye(size, dtype=dtype)


def _inv_factor(G: np.ndarray) -> np.ndarray:
    """``L⁻ᵀ`` with ``L Lᵀ = G = YᵀY``: ``Y L⁻ᵀ`` is the in-memory power-iteration
    normalization of ``Y`` (one Cholesky-QR step, accepted on the same condition). Where the
    in-memory code would fall back to LU, a shift ``G + σI`` (shifted Cholesky-QR, Fukaya et
    al. 2020) keeps the factor finite: the iteration needs a well-conditioned block, not an
    orthonormal one, and any triangular factor leaves the span, hence the result, unchanged."""
    import math

    from .._backend.linalg import cholesky, eps, solve_triangular

    l = G.shape[0]
    eye = np.eye(l, dtype=G.dtype)
    u = eps(G.dtype)
    L = None
    try:
        L = cholesky(np, G)
        d = np.abs(np.diag(L))
        ok = np.all(np.isfinite(d)) and d.min() > 0 and d.max() <= 0.1 / math.sqrt(u) * d.min()
        if not ok:
            L = None
    except np.linalg.LinAlgError:
        L = None
    if L is None:
        scale = max(float(np.trace(G)), float(np.finfo(G.dtype).tiny))
        L = cholesky(np, G + (11 * l * (l + 1) * u * scale) * eye)
    return np.ascontiguousarray(solve_triangular(np, L, eye, lower=True).T)


def _inv_factor_task(G: np.ndarray) -> np.ndarray:
    return serial(_inv_factor, G)


def _basis(M: Any, size: int, n_iter: int, sketch: str, gen: Any, reread: bool) -> Any:
    """``orth((M Mᵀ)^q M Ω)`` for a dask ``M``: ``q + 1`` reads of ``M``.

    The tall block ``Y`` is normalized as in memory by a Cholesky-QR step, applied on the
    short side: ``Mᵀ (Y L⁻ᵀ) = (Mᵀ Y) L⁻ᵀ``, where ``L`` comes from the tree-summed Gram
    matrix ``YᵀY``; the short block and the final basis are TSQR. A power iteration's two
    products share one read of ``M``: ``Y = M Z`` and ``Mᵀ Y`` are both formed from the same
    chunks (``Mᵀ Y``'s part for a chunk needs only that chunk's rows of ``Y``, so a chunk is
    released as soon as both of its products are done), and the next read starts once the
    new ``Z`` is known. The arithmetic is that of the in-memory iteration, only grouped by
    chunk."""
    Omega = _test_matrix(M.shape[1], size, sketch, gen, M.dtype)
    Mp = M
    Y = matmul(Mp, Omega, name="projkit-rsvd-sample")
    for _ in range(n_iter):
        G = transpose_matmul(Y, Y, name="projkit-rsvd-gram")
        F = G.map_blocks(_inv_factor_task, dtype=Y.dtype, meta=np.empty((0, 0), dtype=Y.dtype))
        W = transpose_matmul(Mp, Y, name="projkit-rsvd-rmatmat")  # the read that made Y
        Z = _orth(matmul(W, F, name="projkit-rsvd-normalize"))
        Mp = fresh_pass(M, Z, reread)
        Y = matmul(Mp, Z, name="projkit-rsvd-matmat")
    return _orth(Y)


def _operand(A: Any) -> tuple[Any, bool]:
    A = check_dask(A, name="A")
    m, n = A.shape
    return (A.T, True) if m < n else (A, False)


def _small(W: np.ndarray) -> np.ndarray:
    """The SVD ``B = Uh Σ Vt`` of ``B = Wᵀ`` (l × n) packed as one block ``[Uh | s | Vt]``
    (so that the whole factorization stays one array graph, optimized as one)."""
    from .rsvd import _small_svd

    Uh, s, Vt = serial(_small_svd, np, np.ascontiguousarray(W.T))
    return np.concatenate([Uh, s.astype(Uh.dtype)[:, None], Vt], axis=1)


def _check_no_tol(tol: Any) -> None:
    if tol is not None:
        raise ValueError("tol: the adaptive (tol=) mode is not available for dask arrays; "
                         "give a rank (or size) instead")


def rsvd_dask(A: Any, rank: Any, *, oversample: Any, n_iter: Any, sketch: Any, tol: Any,
              rng: Any) -> SVD:
    """:func:`projkit.rsvd` of a dask array (validated here): lazy ``SVD(U, s, Vt)``."""
    import dask.array as da

    from .rsvd import _check_sketch, _resolve_n_iter

    M, adjoint = _operand(A)
    _check_no_tol(tol)
    if rank is None:
        raise TypeError("rsvd: give rank (the tol= mode is not available for dask arrays)")
    k_max = min(M.shape)
    rank = check_positive_int(rank, name="rank", high=k_max)
    oversample = check_positive_int(oversample, name="oversample", low=0)
    sketch = _check_sketch(sketch)
    n_iter = _resolve_n_iter(n_iter, rank, M.shape)
    size = min(rank + oversample, k_max)
    gen = device_rng(rng, np)
    reread = not materialized(A)
    Q = _basis(M, size, n_iter, sketch, gen, reread)
    W = transpose_matmul(fresh_pass(M, Q, reread), Q, name="projkit-rsvd-project")  # Bᵀ, n × l
    dt, rdt = M.dtype, real_dtype(M.dtype)
    n_m = M.shape[1]
    P = W.rechunk(-1).map_blocks(_small, chunks=((size,), (size + 1 + n_m,)),
                                 dtype=dt, meta=np.empty((0, 0), dtype=dt))
    P = P.rechunk(-1)
    Uh = P[:, :size]
    s = P[:rank, size].astype(rdt)
    Vt = P[:rank, size + 1:]
    U = matmul(Q, Uh[:, :rank], name="projkit-rsvd-U")
    if adjoint:  # M = Aᵀ = U S Vᵀ  =>  A = V S Uᵀ
        U, Vt = Vt.T.rechunk((A.chunks[0], (rank,))), U.T
    else:
        Vt = Vt.rechunk(((rank,), A.chunks[1]))
    # signs as sklearn's svd_flip (and the in-memory rsvd): max-|.| entry of each U column > 0
    signs = da.where(U.max(axis=0) >= -U.min(axis=0), 1.0, -1.0).astype(dt)
    return SVD(U * signs[None, :], s, Vt * signs[:, None])


def range_finder_dask(A: Any, size: Any, *, n_iter: Any, sketch: Any, tol: Any,
                      rng: Any) -> Any:
    """:func:`projkit.range_finder` of a dask array: a lazy ``Q`` chunked like ``A``'s rows."""
    from .rsvd import _check_sketch

    A = check_dask(A, name="A")
    _check_no_tol(tol)
    if size is None:
        raise TypeError("range_finder: give size (the tol= mode is not available for dask "
                        "arrays)")
    size = check_positive_int(size, name="size", high=min(A.shape))
    n_iter = check_positive_int(n_iter, name="n_iter", low=0)
    sketch = _check_sketch(sketch)
    return _basis(A, size, n_iter, sketch, device_rng(rng, np), not materialized(A))
