"""Cluster-free building blocks of the Dask engines: input checks, chunk offsets, tree sums and
the two blockwise products (``A @ Z`` and ``Aᵀ B``) every chunked algorithm needs.

Nothing here knows an algorithm or a scheduler: the functions build dask graphs (one task per
input chunk plus a reduction tree) that run on the threaded scheduler, a
``distributed.LocalCluster`` or any other Dask scheduler alike. Chunks may be NumPy arrays,
SciPy sparse matrices (kept sparse: only ``@`` and ``.T`` are applied to them) or CuPy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._backend.namespace import is_cupy, is_dask, is_sparse
from .._backend.validation import float_dtype

__all__ = ["check_dask", "check_row_chunks", "chunk_offsets", "fresh_pass", "materialized",
           "matmul", "serial", "transpose_matmul", "tree_sum", "tsqr"]

SPLIT_EVERY = 8  # fan-in of the reduction trees (dask's own default for reductions)


def check_dask(A: Any, *, name: str = "A", ndim: int = 2, allow_sparse: bool = True) -> Any:
    """Validate a ``dask.array.Array`` argument and return it in its working float dtype.

    The checks need no pass over the data: known chunk sizes, ``ndim`` dimensions, a numeric
    real dtype (integers and booleans become float64 lazily, float32 stays float32) and chunks
    that are NumPy, SciPy sparse or CuPy arrays. NaN/inf are *not* looked for (that would be a
    pass over ``A``).

    Raises
    ------
    ValueError
        Unknown (NaN) chunk sizes, or the wrong number of dimensions.
    TypeError
        Not a dask array, an object, string or complex dtype, or chunks of another type.

    Examples
    --------
    >>> import dask.array as da
    >>> from projkit.distributed import check_dask
    >>> check_dask(da.ones((4, 3), chunks=2, dtype=int)).dtype
    dtype('float64')
    """
    if not is_dask(A):
        raise TypeError(f"{name}: expected a dask.array.Array, got {type(A).__name__}")
    if A.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D dask array, got shape {A.shape}")
    if any(math.isnan(c) for dim in A.chunks for c in dim):
        raise ValueError(f"{name}: the dask array has unknown (NaN) chunk sizes; call "
                         f"{name}.compute_chunk_sizes() first")
    try:
        want = float_dtype(A.dtype)
    except TypeError as exc:
        raise TypeError(f"{name}: expected a real numeric dask array, got dtype {A.dtype} "
                        f"({exc})") from None
    meta = getattr(A, "_meta", None)
    if meta is not None and not (isinstance(meta, np.ndarray) or is_sparse(meta)
                                 or is_cupy(meta)):
        raise TypeError(f"{name}: expected chunks that are NumPy, SciPy sparse or CuPy arrays, "
                        f"got {type(meta).__name__}")
    if not allow_sparse and meta is not None and is_sparse(meta):
        raise TypeError(f"{name}: sparse chunks are not supported here; pass dense chunks")
    if A.dtype != want:
        A = A.astype(want)
    return A


def chunk_offsets(chunks: Sequence[int]) -> np.ndarray:
    """First index of each chunk along one axis (``len(chunks) + 1`` values, the last the size).

    >>> chunk_offsets((3, 2, 4)).tolist()
    [0, 3, 5, 9]
    """
    return np.concatenate([[0], np.cumsum(np.asarray(chunks, dtype=np.int64))]).astype(np.int64)


def check_row_chunks(A: Any, B: Any, *, names: tuple[str, str] = ("A", "B")) -> None:
    """``ValueError`` unless the dask arrays ``A`` and ``B`` have the same rows and row chunks."""
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"{names[1]}: expected {A.shape[0]} rows (the rows of {names[0]}), "
                         f"got shape {B.shape}")
    if tuple(A.chunks[0]) != tuple(B.chunks[0]):
        raise ValueError(f"{names[1]}: its row chunks {B.chunks[0]} differ from those of "
                         f"{names[0]} {A.chunks[0]}; rechunk one to the other's rows "
                         f"({names[1]}.rechunk({{0: {names[0]}.chunks[0]}}))")


def materialized(A: Any) -> bool:
    """Whether every chunk of the dask array ``A`` is data already (persisted on the threaded
    scheduler or on a cluster): a pass then reads the held chunks, and re-reading ``A`` from
    its source (:func:`fresh_pass`) is moot.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> from projkit.distributed import materialized
    >>> X = da.from_array(np.ones((6, 2)), chunks=3) + 1
    >>> materialized(X), materialized(X.persist(scheduler="threads"))
    (False, True)
    """
    from dask.core import flatten

    graph = A.__dask_graph__()
    for k in flatten(A.__dask_keys__()):
        v = graph[k]
        if not (isinstance(v, np.ndarray) or is_sparse(v) or is_cupy(v)
                or type(v).__name__ in ("Future", "DataNode")):
            return False
    return True


def _gated(_: Any, value: Any) -> Any:
    return value


def fresh_pass(M: Any, after: Any, reread: bool) -> Any:
    """A fresh read of the dask array ``M`` that starts once ``after`` is computed, or ``M``
    itself when ``reread`` is False (its chunks are held in memory already).

    A graph that reads ``M`` in two passes, the second depending on a reduction of the first,
    would otherwise keep every chunk of ``M`` in memory between the passes (the scheduler does
    not recompute a key). The fresh read is a clone of ``M``'s graph under new keys, every
    task but literal data renamed and the first tasks of the clone held until ``after`` is
    done, so the scheduler reads ``M`` again chunk by chunk; this is what lets a matrix larger
    than the cluster's memory be processed. (:func:`dask.graph_manipulation.bind` does this
    for blockwise layers only: it leaves the tasks of a slice or a rechunk unrenamed, and the
    pass then shares ``M``'s chunks after all.)

    Examples
    --------
    >>> import dask, dask.array as da, numpy as np
    >>> from projkit.distributed import fresh_pass
    >>> X = da.from_array(np.arange(12.0).reshape(6, 2), chunks=3)[1:] * 2
    >>> total = X.sum()
    >>> Y = fresh_pass(X, total, True) / total  # reads X again once the sum is known
    >>> Y.name != X.name, bool(np.allclose(Y.compute(), X.compute() / X.compute().sum()))
    (True, True)
    """
    if not reread:
        return M
    import dask.array as da
    from dask._task_spec import DataNode, Task, TaskRef, convert_legacy_graph
    from dask.base import clone_key, tokenize
    from dask.graph_manipulation import checkpoint
    from dask.highlevelgraph import HighLevelGraph

    gate = checkpoint(after)
    seed = tokenize(M.name, gate.key)
    dsk = convert_legacy_graph(dict(M.__dask_graph__()))
    subs = {k: clone_key(k, seed) for k, node in dsk.items() if not isinstance(node, DataNode)}
    new_keys = set(subs.values())
    layer: dict = {}
    for k, new in subs.items():
        node = dsk[k].substitute(subs, key=new)
        if not node.dependencies & new_keys:  # a first task of the pass waits for ``after``
            node = Task(new, _gated, TaskRef(gate.key), node)
        layer[new] = node
    name = clone_key(M.name, seed)
    deps: list[Any] = [M, gate]
    graph = HighLevelGraph.from_collections(name, layer, dependencies=deps)
    return da.Array(graph, name, M.chunks, dtype=M.dtype, meta=M._meta)


def serial(fn: Callable[..., Any], *args: Any) -> Any:
    """Run one chunk's task ``fn(*args)`` on one BLAS thread and one Numba thread.

    Dask already runs one task per core (threads or worker processes); a multithreaded BLAS or
    Numba kernel inside each task would oversubscribe the cores, which makes tall-skinny
    QRs and thin products on shared cores 10-40× slower. Every task of the Dask engines runs
    under this (the BLAS limit is :func:`projkit._backend.threads.serial_blas`; Numba's thread
    count is per calling thread).
    """
    import sys

    from .._backend.threads import serial_blas

    nb = sys.modules.get("numba")
    saved = None
    if nb is not None:
        saved = nb.get_num_threads()
        nb.set_num_threads(1)
    try:
        with serial_blas(np):
            return fn(*args)
    finally:
        if nb is not None and saved is not None:
            nb.set_num_threads(saved)


def _add(*parts: Any) -> Any:
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def tree_sum(dsk: dict, keys: Sequence[Any], out_key: Any, *, prefix: str,
             split_every: int = SPLIT_EVERY) -> None:
    """Add to ``dsk`` the tasks that sum the blocks ``keys`` into ``out_key`` by a tree of fan-in
    ``split_every`` (depth ⌈log_{split_every} len(keys)⌉; the order of the sums is fixed by the
    order of ``keys``, so a graph gives the same bits every time it runs)."""
    keys = list(keys)
    if not keys:
        raise ValueError("tree_sum: expected at least one block")
    level = 0
    while len(keys) > split_every:
        keys = [_task(dsk, (prefix, level, i), _add, *keys[s:s + split_every])
                for i, s in enumerate(range(0, len(keys), split_every))]
        level += 1
    dsk[out_key] = (_add, *keys)


def _task(dsk: dict, key: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``dsk[key]`` = the task ``fn(*args)`` (run under :func:`serial`); returns ``key``."""
    dsk[key] = (serial, fn, *args)
    return key


def _new_array(dsk: dict, name: str, chunks: tuple, meta: Any, deps: Sequence[Any]) -> Any:
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph

    graph = HighLevelGraph.from_collections(name, dsk, dependencies=list(deps))
    return da.Array(graph, name, chunks=chunks, meta=meta)


def _dense_meta(like: Any, dtype: Any) -> Any:
    """An empty 2-D dense array of ``like``'s library (NumPy for NumPy/SciPy chunks)."""
    meta = getattr(like, "_meta", None)
    if meta is not None and is_cupy(meta) and not is_sparse(meta):
        import cupy

        return cupy.empty((0, 0), dtype=dtype)
    return np.empty((0, 0), dtype=dtype)


def _mm(a: Any, z: Any) -> Any:
    return a @ z


def _tmm(a: Any, b: Any) -> Any:
    return a.T @ b


def _local_qr(Y: Any) -> tuple:
    Q, R = np.linalg.qr(Y)
    return Q, R


def _first(pair: tuple) -> Any:
    return pair[0]


def _second(pair: tuple) -> Any:
    return pair[1]


def _top_qr(Rs: list) -> tuple:
    """QR of the stacked chunk factors, with the signs fixed so that ``R``'s diagonal is
    non-negative (the factor Cholesky-QR gives); returns (the blocks of the top Q, R)."""
    Q2, R = np.linalg.qr(np.concatenate(Rs, axis=0))
    d = np.where(np.diag(R) < 0, -1.0, 1.0).astype(R.dtype)
    Q2, R = Q2 * d[None, :], R * d[:, None]
    offs = chunk_offsets([r.shape[0] for r in Rs])
    return [Q2[offs[i]:offs[i + 1]] for i in range(len(Rs))], R


def _apply_top(Q: Any, top: tuple, i: int) -> Any:
    return Q @ top[0][i]


def _get_r(top: tuple) -> Any:
    return top[1]


def tsqr(Y: Any, *, name: str = "projkit-tsqr") -> tuple[Any, Any]:
    """Tall-and-skinny QR ``Y = Q R`` of a dask ``Y`` with one column chunk (Benson, Gleich &
    Demmel's direct TSQR, two levels): a QR per row chunk, one QR of the stacked ``R``
    factors (``Σ min(rows, l) × l``, small), and ``Q`` chunk by chunk. ``R`` has a
    non-negative diagonal, so ``Q`` is the basis that Cholesky-QR (and the in-memory
    :func:`projkit.rsvd`) gives, to rounding. Every task runs on one BLAS thread.

    Returns
    -------
    Q : dask array chunked like ``Y``
    R : dask array ``l × l`` (one chunk)

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from projkit.distributed import tsqr
    >>> Y = np.random.default_rng(0).standard_normal((50, 3))
    >>> Q, R = tsqr(da.from_array(Y, chunks=(20, 3)))
    >>> bool(np.allclose(Q.compute() @ R.compute(), Y)), bool(np.all(np.diag(R.compute()) > 0))
    (True, True)
    """
    from dask.base import tokenize

    if Y.ndim != 2 or len(Y.chunks[1]) != 1:
        raise ValueError(f"Y: expected a 2-D dask array with one column chunk, got chunks "
                         f"{Y.chunks}")
    l = int(Y.shape[1])
    token = tokenize(Y)
    qname, rname, part, top = f"{name}-q-{token}", f"{name}-r-{token}", f"{name}-local-{token}", \
        (f"{name}-top-{token}",)
    dsk: dict = {}
    nb_i = len(Y.chunks[0])
    for i in range(nb_i):  # the small R factors travel to the top task, the Q factors stay
        _task(dsk, (part, i), _local_qr, (Y.name, i, 0))
        dsk[(part + "-q", i)] = (_first, (part, i))
        dsk[(part + "-r", i)] = (_second, (part, i))
    _task(dsk, top, _top_qr, [(part + "-r", i) for i in range(nb_i)])
    for i in range(nb_i):
        _task(dsk, (qname, i, 0), _apply_top, (part + "-q", i), top, i)
    dsk[(rname, 0, 0)] = (_get_r, top)
    meta = _dense_meta(Y, Y.dtype)
    Q = _new_array(dsk, qname, (Y.chunks[0], (l,)), meta, (Y,))
    R = _new_array(dsk, rname, ((l,), (l,)), meta, (Y,))
    return Q, R


def matmul(A: Any, Z: Any, *, name: str = "projkit-matmul") -> Any:
    """``A @ Z`` for a dask ``A`` (m × n, any chunking, dense or sparse chunks) and a thin
    ``Z`` (n × l, NumPy or dask): one task per chunk of ``A`` and a tree sum over its column
    chunks. The result is a dense dask array chunked like ``A``'s rows, with one column chunk.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from projkit.distributed import matmul
    >>> A = np.arange(12.0).reshape(4, 3)
    >>> Y = matmul(da.from_array(A, chunks=(3, 2)), np.ones((3, 2)))
    >>> Y.chunks, bool(np.allclose(Y.compute(), A @ np.ones((3, 2))))
    (((3, 1), (2,)), True)
    """
    import dask.array as da
    from dask.base import tokenize

    if Z.ndim != 2 or Z.shape[0] != A.shape[1]:
        raise ValueError(f"Z: expected shape ({A.shape[1]}, l), got {Z.shape}")
    l = int(Z.shape[1])
    Zd = Z if is_dask(Z) else da.from_array(Z, chunks=(A.chunks[1], (l,)))
    Zd = Zd.rechunk((A.chunks[1], (l,)))
    out = f"{name}-{tokenize(A, Zd)}"
    dsk: dict = {}
    for i in range(len(A.chunks[0])):
        parts = [_task(dsk, (out + "-part", i, j), _mm, (A.name, i, j), (Zd.name, j, 0))
                 for j in range(len(A.chunks[1]))]
        tree_sum(dsk, parts, (out, i, 0), prefix=f"{out}-sum-{i}")
    dtype = np.result_type(A.dtype, Zd.dtype)
    return _new_array(dsk, out, (A.chunks[0], (l,)), _dense_meta(A, dtype), (A, Zd))


def transpose_matmul(A: Any, B: Any, *, name: str = "projkit-tmatmul") -> Any:
    """``Aᵀ @ B`` for dask arrays with the same row chunks (``A`` m × n, any chunking, dense or
    sparse chunks; ``B`` m × l, one column chunk is best): one task per chunk of ``A`` and a tree
    sum over the row chunks, so no task holds more than one chunk of each.

    Raises
    ------
    ValueError
        When the rows or the row chunks of ``A`` and ``B`` differ.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from projkit.distributed import transpose_matmul
    >>> A = np.arange(12.0).reshape(4, 3)
    >>> G = transpose_matmul(da.from_array(A, chunks=2), da.from_array(A, chunks=(2, 3)))
    >>> bool(np.allclose(G.compute(), A.T @ A))
    True
    """
    from dask.base import tokenize

    check_row_chunks(A, B)
    out = f"{name}-{tokenize(A, B)}"
    dsk: dict = {}
    nb_i = len(A.chunks[0])
    for j in range(len(A.chunks[1])):
        for c in range(len(B.chunks[1])):
            parts = [_task(dsk, (out + "-part", j, c, i), _tmm, (A.name, i, j), (B.name, i, c))
                     for i in range(nb_i)]
            tree_sum(dsk, parts, (out, j, c), prefix=f"{out}-sum-{j}-{c}")
    dtype = np.result_type(A.dtype, B.dtype)
    meta = getattr(A, "_meta", None)
    both_sparse = meta is not None and is_sparse(meta) and is_sparse(getattr(B, "_meta", None))
    out_meta = meta if both_sparse else _dense_meta(B, dtype)
    return _new_array(dsk, out, (A.chunks[1], B.chunks[1]), out_meta, (A, B))
