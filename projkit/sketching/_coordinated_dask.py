"""The Dask engine of the coordinated sketches (priority and threshold sampling).

The row hash ``h(i)`` depends on the global row index alone, so every row chunk ranks its own
rows. For ``"coordinated"`` each chunk keeps its ``size + 1`` smallest ranks as candidates and a
merge tree keeps the ``size + 1`` smallest of the union: the ``size`` smallest are the sample
and the next is ``τ``, the very rows and ``τ`` the in-memory sketch finds (the global
``size + 1`` smallest ranks are among each chunk's own ``size + 1`` smallest). For
``"threshold"`` with an explicit ``threshold=`` each chunk selects its rows by itself; the
automatic threshold is a water-filling over all row weights, so the ``n`` weights (8 bytes a
row, not the rows) are gathered for it.

Row weights are summed over a whole row at once (a row chunk of ``A`` with all its columns, as
in memory), so the ranks, the sample and ``τ`` are bit-for-bit those of the in-memory sketch
whatever the chunking. The sample (indices, weights, ``τ``) is computed when the sketch is
made: one pass over ``A`` that ships ``O(size)`` numbers per chunk to the client; the sampled
rows stay lazy (``A[indices]``, read when computed) and sparse chunks stay sparse.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend.namespace import array_namespace, is_sparse, to_numpy
from ..distributed._blocks import SPLIT_EVERY, chunk_offsets, serial, transpose_matmul

__all__ = ["matmul", "sketch_dask"]


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

    merge = dask.delayed(_merge_candidates, pure=True)
    while len(parts) > 1:
        parts = [merge(k1, *parts[s:s + SPLIT_EVERY]) for s in range(0, len(parts), SPLIT_EVERY)]
    return parts[0]


def sketch_dask(method: str, A: Any, size: int, key: int, options: dict) -> Any:
    """The :class:`~projkit.Sketch` of a validated dask ``A`` (the sampling methods)."""
    import dask

    from ._core import Sketch
    from .coordinated import _options, _water_fill

    n = A.shape[0]
    offset, n_total, c = _options(method, size, n, options)
    full_rows = A.rechunk({1: -1}) if len(A.chunks[1]) > 1 else A
    w_arr = full_rows.map_blocks(_weights_chunk, drop_axis=1, dtype=np.float64,
                                 meta=np.empty(0, dtype=np.float64))
    starts = chunk_offsets(A.chunks[0]) + offset
    opts: dict[str, Any] = {}
    if n_total != n or offset:
        opts["n_total"] = n_total
    if method == "coordinated":
        k1 = size + 1
        cand = dask.delayed(_candidates, pure=True)
        parts = [cand(blk, key, int(starts[i]), k1)
                 for i, blk in enumerate(w_arr.to_delayed().ravel())]
        (idx, r, w, n_pos), = dask.compute(_reduce(parts, k1))
        k = min(size, n_pos)
        order = np.argsort(r, kind="stable")
        if k < n:
            tau = float(r[order[k]])
            sel = order[:k]
        else:
            sel = order[np.isfinite(r[order])]
            tau = float("inf")
        sel = sel[np.argsort(idx[sel])]  # the sample in row order, as in memory
        rows, w_keep = idx[sel], w[sel]
    else:
        w_all = np.asarray(to_numpy(w_arr.compute()), dtype=np.float64)
        if c is None:
            c = _water_fill(w_all, size, np)
        else:
            opts["threshold"] = c
        from .coordinated import row_hash

        h = row_hash(key, np.arange(offset, offset + n, dtype=np.int64), np)
        keep = np.nonzero((h <= c * w_all) & (w_all > 0))[0] if np.isfinite(c) else \
            np.nonzero(w_all > 0)[0]
        rows, w_keep, tau = keep.astype(np.int64) + offset, w_all[keep], c
    rows = rows.astype(np.int64)
    return Sketch(method=method, size=size, key=key, n_rows=n, matrix=A[rows - offset],
                  options=opts, offset=offset, indices=rows, weights=w_keep, threshold=tau)


def _scale_rows(chunk: Any, inv: Any) -> Any:
    if is_sparse(chunk):
        return chunk.multiply(inv[:, None]).tocsr()
    return chunk * inv[:, None]


def matmul(sa: Any, sb: Any) -> Any:
    """The unbiased estimator of ``AᵀB`` from two sampling sketches whose rows are dask arrays
    (the estimator of :func:`projkit.sketching.coordinated._sampling_matmul`, lazily)."""
    from .coordinated import _intersect_sorted

    ia, ib = _intersect_sorted(np.asarray(sa.indices), np.asarray(sb.indices), np)
    p = np.minimum(np.minimum(sa.weights[ia] * sa.threshold, sb.weights[ib] * sb.threshold), 1.0)
    Ra = sa.matrix[ia].rechunk({0: -1})
    Rb = sb.matrix[ib].rechunk({0: -1})
    inv = (1.0 / p).astype(Rb.dtype)
    Rb_scaled = Rb.map_blocks(_scale_rows, inv, dtype=Rb.dtype, meta=Rb._meta)
    return transpose_matmul(Ra, Rb_scaled, name="projkit-sampling-matmul")
