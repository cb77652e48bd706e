"""The Dask engine of :func:`projkit.fastrp`: a graph whose adjacency is a chunked
``dask.array`` (NumPy or SciPy sparse chunks), embedded lazily.

Each row block of the very sparse projection ``R`` is generated inside its task from the key
and the block's row offset (the same entries as in memory, see ``linear._operator``), and each
propagation ``N ← D⁻¹ S N`` is one blockwise product with a tree sum over the column chunks
of ``S`` (:func:`projkit.distributed.matmul`). Everything else (degrees, scaling, row
normalization, the weighted sum) is row-local, so the embedding comes out chunked like the
rows of ``S``. A call makes ``len(weights) + 1`` passes over ``S`` (one for the degrees).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _fastrp_xp
from . import linear as _linear


def _nonnegative(block: Any) -> Any:
    data = block.data if hasattr(block, "nnz") else block
    if data.size and float(data.min()) < 0:
        raise ValueError(
            "graph: Negative values in data: negative edge weights are not allowed with "
            "transition=True or beta != 0 (degrees must be non-negative); got a minimum weight "
            f"of {float(data.min())} in a chunk")
    return block


def _initial_block(deg: Any, *, n: int, dim: int, key: int, beta: float, density: float,
                   out_dtype: np.dtype, block_info: Any = None) -> Any:
    """Rows r0..r1 of ``V = diag(deg^β) R`` (dense), ``R``'s rows made from the key."""
    from ..distributed import serial

    r0, r1 = block_info[0]["array-location"][0]
    n_total = dim if dim > n else n  # as in memory: a size > n takes the first n rows

    def block() -> Any:
        op = _linear._operator(r1 - r0, dim, "sparse", key, dtype=out_dtype, density=density,
                               offset=r0, n_total=n_total)
        R = op.tosparse().T.tocsr()
        d = deg[:, 0]
        L = np.ones(r1 - r0, dtype=np.float64)
        L[d > 0] = d[d > 0] ** beta
        return _fastrp_xp.scale_rows(R, L, np).toarray()

    return serial(block)


def _rowscale(deg: Any, *, transition: bool) -> Any:
    d = deg.astype(np.float64)
    if not transition:
        return np.ones_like(d)
    inv = np.zeros_like(d)
    inv[d > 0] = 1.0 / d[d > 0]
    return inv


def _scaled(P: Any, scale: Any, *, out_dtype: np.dtype) -> Any:
    return (P * scale).astype(out_dtype, copy=False)


def _normalized(N: Any) -> Any:
    return _fastrp_xp._row_normalized(N, np)


def fastrp(S: Any, dim: int, key: int, *, alphas: tuple[float, ...], beta: float,
           self_influence: float, transition: bool, normalize: bool, density: float,
           dtype: np.dtype) -> Any:
    """The body for a validated square dask ``S`` and checked options (no features)."""
    import dask.array as da

    from ..distributed import matmul

    n = S.shape[0]
    if transition or beta != 0.0:  # checked inside each chunk's task, when it runs
        S = S.map_blocks(_nonnegative, dtype=S.dtype, meta=S._meta)
    deg = matmul(S, np.ones((n, 1), dtype=S.dtype), name="projkit-fastrp-degree")
    rows = (deg.chunks[0], (dim,))
    meta = np.empty((0, 0), dtype=dtype)
    V = da.map_blocks(_initial_block, deg, n=n, dim=dim, key=key, beta=beta, density=density,
                      out_dtype=dtype, dtype=dtype, chunks=rows, meta=meta)
    scale = da.map_blocks(_rowscale, deg, transition=transition, dtype=np.float64,
                          meta=np.empty((0, 0)))

    def nrm(X: Any) -> Any:
        return da.map_blocks(_normalized, X, dtype=dtype, meta=meta) if normalize else X

    acc: Any = None
    if self_influence != 0.0:
        acc = dtype.type(self_influence) * nrm(V)
    N = V
    for i, alpha in enumerate(alphas):
        P = matmul(S, N, name=f"projkit-fastrp-power{i + 1}")
        N = da.map_blocks(_scaled, P, scale, out_dtype=dtype, dtype=dtype, meta=meta)
        if alpha != 0.0:
            term = dtype.type(alpha) * nrm(N)
            acc = term if acc is None else acc + term
    return da.zeros((n, dim), dtype=dtype, chunks=rows) if acc is None else acc
