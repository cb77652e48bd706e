"""The Dask engine of the linear sketches: ``S @ X`` and ``Sᵀ @ Y`` for chunked dask arrays.

Each task generates its own block of ``S`` from the key and the chunk's global row offset
(a :class:`~projkit.sketching.linear._Params` with ``offset`` and ``n_total``, the block-sketch
parameters that :func:`projkit.merge_sketches` already uses) and applies it with the in-memory
engine of its chunk (Numba for NumPy/SciPy chunks, the array-namespace code for CuPy). So S is
never stored or shipped, the graph has one task per chunk of X plus a tree sum over the row
chunks, and the result equals the in-memory sketch to rounding of the block sums, whatever the
chunking. Sparse chunks stay sparse (the kernels read CSR directly).

The SRHT is not served: its Hadamard transform mixes every row, so a block of ``S X`` needs a
transform of length ``n'`` per chunk (a task as large as the whole input).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .._backend.namespace import array_namespace, is_sparse
from ..distributed import _blocks
from ..distributed._blocks import chunk_offsets

__all__ = ["DASK_METHODS", "apply", "apply_adjoint", "check_method"]

DASK_METHODS = ("gaussian", "countsketch", "sparse_sign", "sparse")


def check_method(method: str) -> None:
    """``ValueError`` for a linear method that has no Dask engine (the SRHT)."""
    if method not in DASK_METHODS:
        raise ValueError(f"method: {method!r} is not available for dask arrays (its transform "
                         f"mixes all rows, so it cannot run chunk by chunk); use one of "
                         f"{list(DASK_METHODS)}, or the sampling methods 'coordinated' and "
                         "'threshold'")


def _sketch_chunk(chunk: Any, p: Any) -> Any:
    """``S_block @ chunk`` for one chunk: the in-memory engine of the chunk's library."""
    from .linear import _apply

    if is_sparse(chunk) and chunk.format != "csr":
        chunk = chunk.tocsr()
    return _apply(p, chunk, array_namespace(chunk))


def _adjoint_chunk(Y: Any, p: Any) -> Any:
    from .linear import _apply_adjoint

    return _apply_adjoint(p, Y, array_namespace(Y))


def apply(p: Any, X: Any) -> Any:
    """``S @ X`` for a validated dask ``X`` (``p.n`` rows, any chunking): a lazy dense dask array
    ``size × k`` with one row chunk and ``X``'s column chunks."""
    from dask.base import tokenize

    check_method(p.method)
    offs = chunk_offsets(X.chunks[0])
    token = tokenize(X, p.key, p.size, p.offset, p.n_total, p.nnz_per_column, p.density)
    out = f"projkit-sketch-{p.method}-{token}"
    dsk: dict = {}
    for j in range(len(X.chunks[1])):
        parts = []
        for i, rows in enumerate(X.chunks[0]):
            bp = replace(p, n=int(rows), offset=p.offset + int(offs[i]))
            parts.append(_blocks._task(dsk, (out + "-part", j, i), _sketch_chunk,
                                       (X.name, i, j), bp))
        _blocks.tree_sum(dsk, parts, (out, 0, j), prefix=f"{out}-sum-{j}")
    meta = _blocks._dense_meta(X, X.dtype)
    return _blocks._new_array(dsk, out, ((p.size,), X.chunks[1]), meta, (X,))


def apply_adjoint(p: Any, Y: Any, row_chunks: Any = "auto") -> Any:
    """``Sᵀ @ Y`` for a validated dask ``Y`` (``size × k``): a lazy dask array ``p.n × k`` chunked
    along the rows by ``row_chunks`` (dask's ``"auto"`` by default), each block of rows of ``Sᵀ``
    generated in its own task from the key and the block's offset."""
    import dask.array as da
    from dask.base import tokenize

    check_method(p.method)
    Y = Y.rechunk({0: -1})
    rows = da.core.normalize_chunks(row_chunks, shape=(p.n, Y.shape[1]), dtype=Y.dtype)[0] \
        if row_chunks == "auto" else tuple(row_chunks)
    offs = chunk_offsets(rows)
    out = f"projkit-sketch-adjoint-{p.method}-{tokenize(Y, p.key, p.size, p.offset, rows)}"
    dsk: dict = {}
    for i, r in enumerate(rows):
        bp = replace(p, n=int(r), offset=p.offset + int(offs[i]))
        for j in range(len(Y.chunks[1])):
            _blocks._task(dsk, (out, i, j), _adjoint_chunk, (Y.name, 0, j), bp)
    meta = _blocks._dense_meta(Y, Y.dtype)
    return _blocks._new_array(dsk, out, (tuple(int(r) for r in rows), Y.chunks[1]), meta, (Y,))


def sketch_dask(method: str, A: Any, size: int, key: int, options: dict) -> Any:
    """The :class:`~projkit.Sketch` of a validated dask ``A`` (the linear methods)."""
    from ._core import Sketch
    from .linear import _params

    check_method(method)
    p = _params(method, size, A.shape[0], key, options)
    return Sketch(method=method, size=size, key=key, n_rows=A.shape[0], matrix=apply(p, A),
                  options=p.options(), offset=p.offset)


def merge(sketches: Any) -> Any:
    """:func:`projkit.merge_sketches` for linear sketches whose matrices are dask arrays: a
    tree sum (lazy) instead of the in-place sum of the in-memory merge."""
    first = sketches[0]
    for s in sketches[1:]:
        if s.matrix.shape[1] != first.matrix.shape[1]:
            raise ValueError("sketches: the blocks have different numbers of columns "
                             f"({first.matrix.shape[1]} vs {s.matrix.shape[1]})")
    n_rows = sum(s.n_rows for s in sketches)
    offset = min(s.offset for s in sketches)
    opts = dict(first.options)
    if n_rows == first.n_total and offset == 0:
        opts.pop("n_total", None)
    return replace(first, matrix=_tree_add([s.matrix for s in sketches]), n_rows=n_rows,
                   offset=offset, options=opts)


def _tree_add(mats: list) -> Any:
    while len(mats) > 1:
        mats = [mats[k] + mats[k + 1] if k + 1 < len(mats) else mats[k]
                for k in range(0, len(mats), 2)]
    return mats[0]
