"""The Dask engine of the coordinated sketches (priority and threshold sampling), lazy throughout.

The row hash ``h(i)`` depends on the global row index alone, so every row chunk ranks its own
rows. A sketch of a dask ``A`` is a graph, computed only when asked for:

1. **the row weights**, one task per row chunk (a row chunk with all its columns, so the sums
   are those of the in-memory sketch bit for bit, whatever the chunking);
2. **the rule**: for ``"coordinated"`` each chunk keeps its ``size + 1`` smallest ranks as
   candidates and a merge tree keeps the ``size + 1`` smallest of the union: the ``size``
   smallest are the sample and the next is ``τ``, the very rows and ``τ`` the in-memory sketch
   finds (the global ``size + 1`` smallest ranks are among each chunk's own ``size + 1``
   smallest). For ``"threshold"`` the rule is the threshold ``c`` itself: an explicit
   ``threshold=``, or the water-filling over all row weights (one task holding the ``n``
   weights, 8 bytes a row, not the rows);
3. **the sample**, one task per chunk of ``A``: the chunk's rows that the rule keeps.

So ``indices``, ``weights`` and ``matrix`` are dask arrays chunked like ``A``'s rows, of
unknown (NaN) lengths, and ``threshold`` is a 0-d dask array; :meth:`Sketch.compute` computes
them together. Step 3 reads ``A`` a second time: unless ``A``'s chunks are held in memory
(persisted), it reads a fresh clone of ``A``'s graph bound to the rule
(:func:`projkit.distributed.fresh_pass`), so the scheduler never keeps all of ``A`` between
the two passes. Sparse chunks stay sparse. :func:`matmul` and :func:`merge` (the engines of
:func:`projkit.approx_matmul` and :func:`projkit.merge_sketches`) are lazy too: their rules
and products are tasks over the samples, which have ``O(size)`` rows.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from .._backend.namespace import array_namespace, is_cupy, is_sparse, to_numpy
from ..distributed._blocks import (
    SPLIT_EVERY,
    chunk_offsets,
    fresh_pass,
    materialized,
    serial,
)

__all__ = ["matmul", "merge", "sketch_dask"]


def _weights_chunk(chunk: Any) -> Any:
    from .coordinated import _row_weights

    if is_sparse(chunk) and chunk.format != "csr":
        chunk = chunk.tocsr()
    return serial(_row_weights, chunk, array_namespace(chunk))


def _ranks(w: np.ndarray, key: int, start: int) -> np.ndarray:
    from .coordinated import row_hash

    h = row_hash(key, np.arange(start, start + w.shape[0], dtype=np.int64), np)
    with np.errstate(divide="ignore"):
        return np.where(w > 0, h / np.where(w > 0, w, 1.0), np.inf)


def _candidates(w: Any, key: int, start: int, k1: int) -> tuple:
    """(global rows, ranks, weights, positives) of a chunk's ``k1`` smallest ranks."""
    w = np.asarray(to_numpy(w), dtype=np.float64)
    r = _ranks(w, key, start)
    idx = np.arange(start, start + w.shape[0], dtype=np.int64)
    n_pos = int(np.sum(w > 0))
    if r.shape[0] > k1:
        part = np.argpartition(r, k1 - 1)[:k1]
        idx, r, w = idx[part], r[part], w[part]
    return idx, r, w, n_pos


def _merge_candidates(k1: int, *cands: tuple) -> tuple:
    idx = np.concatenate([c[0] for c in cands])
    r = np.concatenate([c[1] for c in cands])
    w = np.concatenate([c[2] for c in cands])
    n_pos = sum(c[3] for c in cands)
    if r.shape[0] > k1:
        part = np.argpartition(r, k1 - 1)[:k1]
        idx, r, w = idx[part], r[part], w[part]
    return idx, r, w, n_pos


def _reduce(parts: list, k1: int) -> Any:
    import dask

    merge_ = dask.delayed(_merge_candidates, pure=True)
    while len(parts) > 1:
        parts = [merge_(k1, *parts[s:s + SPLIT_EVERY]) for s in range(0, len(parts), SPLIT_EVERY)]
    return parts[0]


def _priority_rule(cands: tuple, size: int, n: int) -> tuple[np.ndarray, float]:
    """The sample's global rows (sorted) and ``τ`` from the merged candidates."""
    idx, r, _, n_pos = cands
    k = min(size, n_pos)
    order = np.argsort(r, kind="stable")
    if k < n:
        return np.sort(idx[order[:k]]), float(r[order[k]])
    return np.sort(idx[order[np.isfinite(r[order])]]), float("inf")


def _threshold_rule(blocks: list, size: int) -> float:
    from .coordinated import _water_fill

    w = np.concatenate([np.asarray(to_numpy(b), dtype=np.float64) for b in blocks])
    return _water_fill(w, size, np)


def _pick(w: Any, rule: Any, key: int, offset: int, what: str, block_info: Any = None) -> Any:
    """What the sample holds of one row chunk (rows ``start:start + len(w)``): the local
    positions, the global rows or the weights of its kept rows. ``rule`` is the sorted global
    rows of a priority sample, or a threshold sample's ``c``."""
    from .coordinated import row_hash

    w = np.asarray(to_numpy(w), dtype=np.float64)
    start = int(block_info[0]["array-location"][0][0]) + offset
    if isinstance(rule, np.ndarray):
        lo, hi = np.searchsorted(rule, [start, start + w.shape[0]])
        local = rule[lo:hi] - start
    elif math.isfinite(rule):
        h = row_hash(key, np.arange(start, start + w.shape[0], dtype=np.int64), np)
        local = np.nonzero((h <= rule * w) & (w > 0))[0]
    else:
        local = np.nonzero(w > 0)[0]
    local = local.astype(np.int64)
    if what == "local":
        return local
    return local + start if what == "rows" else w[local]


def _take(chunk: Any, local: Any) -> Any:
    if is_sparse(chunk) and chunk.format != "csr":
        chunk = chunk.tocsr()
    if is_cupy(chunk):
        local = array_namespace(chunk).asarray(local)
    return chunk[local]


def _rows_of(A: Any, local: Any, name: str) -> Any:
    """The rows ``local`` (a dask array of local positions, one block per row chunk of ``A``)
    of every chunk of ``A``: a dask array chunked like ``local`` by ``A``'s columns."""
    import dask.array as da

    return da.blockwise(_take, "ij", A, "ij", local, "i", align_arrays=False,
                        adjust_chunks={"i": local.chunks[0]}, dtype=A.dtype, meta=A._meta,
                        token=name)


def _scalar(value: Any) -> Any:
    """A 0-d float64 dask array of ``value`` (a float, or a task that gives one)."""
    import dask
    import dask.array as da

    return da.from_delayed(dask.delayed(np.float64, pure=True)(value), shape=(),
                           dtype=np.float64, meta=np.empty((), np.float64))


def sketch_dask(method: str, A: Any, size: int, key: int, options: dict) -> Any:
    """The lazy :class:`~projkit.Sketch` of a validated dask ``A`` (the sampling methods)."""
    import dask

    from ._core import Sketch
    from .coordinated import _options

    n = A.shape[0]
    offset, n_total, c = _options(method, size, n, options)
    full_rows = A.rechunk({1: -1}) if len(A.chunks[1]) > 1 else A
    w_arr = full_rows.map_blocks(_weights_chunk, drop_axis=1, dtype=np.float64,
                                 meta=np.empty(0, dtype=np.float64))
    opts: dict[str, Any] = {}
    if n_total != n or offset:
        opts["n_total"] = n_total
    # the weights' own tasks, so that the rule and the sample share them (one pass for both)
    blocks = _blocks(w_arr)
    if method == "coordinated":
        k1 = size + 1
        starts = chunk_offsets(A.chunks[0]) + offset
        cand = dask.delayed(_candidates, pure=True)
        parts = [cand(blk, key, int(starts[i]), k1)
                 for i, blk in enumerate(blocks)]
        sample = dask.delayed(_priority_rule, pure=True, nout=2)(_reduce(parts, k1), size, n)
        rule, tau = sample[0], sample[1]
    else:
        if c is None:
            rule = dask.delayed(_threshold_rule, pure=True)(blocks, size)
        else:
            opts["threshold"] = c
            rule = c
        tau = rule
    unknown = ((math.nan,) * len(A.chunks[0]),)

    def pick(what: str, dtype: Any) -> Any:
        return w_arr.map_blocks(_pick, rule, key, offset, what, chunks=unknown, dtype=dtype,
                                meta=np.empty(0, dtype=dtype), token=f"projkit-sample-{what}")

    local = pick("local", np.int64)
    # the rows: a second pass over A once the rule is known (a fresh read unless A's chunks are
    # held already); an explicit threshold is known now, so each chunk is sampled as it is read
    source = fresh_pass(A, local, c is None and not materialized(A))
    return Sketch(method=method, size=size, key=key, n_rows=n,
                  matrix=_rows_of(source, local, "projkit-sample-matrix"), options=opts,
                  offset=offset, indices=pick("rows", np.int64),
                  weights=pick("weights", np.float64), threshold=_scalar(tau))


def _blocks(arr: Any) -> list:
    """The blocks of a dask array as tasks of its own graph (its keys, not an optimized copy:
    a dask array handed to a task whole is optimized apart from the rest of the graph, and
    the sample it depends on would be computed once more for each such argument)."""
    return list(arr.to_delayed(optimize_graph=False).ravel())


def _estimate_block(idx_a: list, w_a: list, tau_a: Any, rows_a: list, idx_b: list, w_b: list,
                    tau_b: Any, rows_b: list) -> Any:
    from .coordinated import _estimate, _vstack

    ia, wa, ib, wb = (np.concatenate(b) for b in (idx_a, w_a, idx_b, w_b))
    ra, rb = _vstack(rows_a), _vstack(rows_b)
    xp = np
    if is_cupy(ra):  # the samples' rows on the device: their indices and weights too
        xp = array_namespace(ra)
        ia, wa, ib, wb = (xp.asarray(a) for a in (ia, wa, ib, wb))
    return serial(_estimate, ia, wa, float(tau_a), ra, ib, wb, float(tau_b), rb, xp)


def _dask_matrix(sk: Any) -> Any:
    import dask.array as da

    if not isinstance(sk.matrix, da.Array):
        raise TypeError("approx_matmul: expected two sketches of dask arrays, got one of a "
                        f"{type(sk.matrix).__name__}; sketch both inputs the same way")
    return sk.matrix


def matmul(sa: Any, sb: Any) -> Any:
    """The unbiased estimator of ``AᵀB`` (``coordinated._estimate``) from
    two lazy sampling sketches: one task per block of ``W`` (a column chunk of ``A`` by one of
    ``B``), each reading the two samples' rows of those columns, ``O(size)`` rows."""
    import dask
    import dask.array as da

    Ma, Mb = _dask_matrix(sa), _dask_matrix(sb)
    both_sparse = is_sparse(Ma._meta) and is_sparse(Mb._meta)
    dtype = np.result_type(Ma.dtype, Mb.dtype)
    meta = Mb._meta if both_sparse else np.empty((0, 0), dtype=dtype)
    if not both_sparse and is_cupy(Ma._meta):
        meta = Ma._meta
    est = dask.delayed(_estimate_block, pure=True)
    ca, cb = chunk_offsets(Ma.chunks[1]), chunk_offsets(Mb.chunks[1])
    side_a = (_blocks(sa.indices), _blocks(sa.weights), _blocks(sa.threshold)[0])
    side_b = (_blocks(sb.indices), _blocks(sb.weights), _blocks(sb.threshold)[0])
    cols_a = [_blocks(Ma.blocks[:, i]) for i in range(len(Ma.chunks[1]))]
    cols_b = [_blocks(Mb.blocks[:, j]) for j in range(len(Mb.chunks[1]))]
    blocks = [[da.from_delayed(est(*side_a, cols_a[i], *side_b, cols_b[j]),
                               shape=(int(ca[i + 1] - ca[i]), int(cb[j + 1] - cb[j])),
                               dtype=dtype, meta=meta)
               for j in range(len(cols_b))]
              for i in range(len(cols_a))]
    return da.block(blocks)


def _merge_rule(idx: list, w: list, taus: list, key: int, size: int) -> tuple[np.ndarray, float]:
    from .coordinated import _merge_priority

    rows = np.concatenate(idx)
    keep, tau = _merge_priority(rows, np.concatenate(w), [float(t) for t in taus], key, size, np)
    return rows[keep], tau


def _kept(idx: Any, rows: Any, what: Any = None) -> Any:
    """The positions in a sample's block ``idx`` of the rows in ``rows`` (sorted), or the
    entries of ``what`` (aligned with ``idx``) there."""
    from .coordinated import _intersect_sorted

    pos = _intersect_sorted(np.asarray(idx), rows, np)[0]
    return pos if what is None else what[pos]


def merge(sketches: list) -> Any:
    """The lazy merge of sampling sketches of disjoint row blocks, in row order (the engine
    of :func:`projkit.merge_sketches` when their samples are dask arrays)."""
    import dask
    import dask.array as da

    from .coordinated import _merge_frame

    for s in sketches:
        if not isinstance(s.indices, da.Array):
            raise TypeError("sketches: expected sketches of dask arrays only, got one of a "
                            f"{type(s.matrix).__name__}; sketch every block the same way")
    first = sketches[0]
    n_rows, offset, opts = _merge_frame(sketches)

    def cat(name: str) -> Any:
        return da.concatenate([getattr(s, name) for s in sketches], axis=0)

    if first.method == "threshold":  # one explicit threshold: every block's sample is kept
        return replace(first, matrix=cat("matrix"), indices=cat("indices"),
                       weights=cat("weights"), n_rows=n_rows, offset=offset, options=opts)
    idx, w = cat("indices"), cat("weights")
    taus = [_blocks(s.threshold)[0] for s in sketches]
    rule = dask.delayed(_merge_rule, pure=True, nout=2)(_blocks(idx), _blocks(w), taus,
                                                        first.key, first.size)

    def keep(what: Any = None) -> Any:
        args = (idx, "i", rule[0], None) if what is None else (idx, "i", rule[0], None, what, "i")
        dtype = np.int64 if what is None else what.dtype
        return da.blockwise(_kept, "i", *args, align_arrays=False,
                            adjust_chunks={"i": (math.nan,) * idx.numblocks[0]}, dtype=dtype,
                            meta=np.empty(0, dtype=dtype))

    return replace(first, matrix=_rows_of(cat("matrix"), keep(), "projkit-merge-matrix"),
                   indices=keep(idx), weights=keep(w), threshold=_scalar(rule[1]),
                   n_rows=n_rows, offset=offset, options=opts)
