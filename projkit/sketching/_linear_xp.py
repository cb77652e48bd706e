"""The array-namespace engine of the linear sketches: S generated and applied in vectorized code.

This is CuPy's engine (the GPU path of :mod:`projkit.sketching.linear`) and, on NumPy, the
reference the Numba kernels of :mod:`._linear_numba` are tested against. It is written against
the NumPy-like API that NumPy and CuPy share (``.astype``, fancy indexing, ``argpartition``);
the sparse-family products and :func:`tosparse` build a CSR ``S`` and so serve NumPy/SciPy and
CuPy/CuPyX only. Every entry comes from the counter-based hash of
:mod:`projkit._backend.random`, so both engines give the same ``S`` for the same key.

``p`` is the :class:`~projkit.sketching.linear._Params` of a block of ``S``.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .._backend import linalg
from .._backend import random as prand
from .._backend.namespace import is_sparse

if TYPE_CHECKING:
    from .linear import _Params

BLOCK_COLS = 4096  # columns of S generated at a time for the Gaussian sketch (this engine)
SRHT_BAND = 256  # columns of a sparse input densified at a time by the SRHT (both engines)


# ---------------------------------------------------------------------------------------------
# generators


def sparse_columns(p: _Params, xp: ModuleType) -> tuple[Any, Any, Any]:
    """(rows, local cols, vals) of the non-zeros of this block of a sparse-family S."""
    code, k1, k2, size, s, log1mp, scale = p.sparse_args()
    k1, k2, size, s, scale = int(k1), int(k2), int(size), int(s), float(scale)
    cols = xp.arange(p.n, dtype=xp.int64)
    gcols = cols + p.offset
    if code == 0:
        bits = prand.hash2(k1, 0, gcols, xp)
        rows = (bits % xp.uint64(size)).astype(xp.int64)
        return rows, cols, prand.sign_from_bits(bits, xp)
    if code == 1:
        picked = xp.empty((s, p.n), dtype=xp.int64)
        for t in range(s):
            attempt = xp.zeros(p.n, dtype=xp.int64)
            todo = cols
            cand_all = xp.empty(p.n, dtype=xp.int64)
            while todo.size:
                q = t + s * attempt[todo]
                cand = (prand.hash2(k1, q, gcols[todo], xp) % xp.uint64(size)).astype(xp.int64)
                dup = xp.any(picked[:t, todo] == cand[None, :], axis=0) if t else \
                    xp.zeros(todo.shape, dtype=bool)
                cand_all[todo] = cand
                attempt[todo[dup]] += 1
                todo = todo[dup]
            picked[t] = cand_all
        signs = prand.sign_from_bits(prand.hash2(k2, xp.arange(s)[:, None], gcols[None, :], xp),
                                     xp)
        return picked.T.ravel(), xp.repeat(cols, s), (signs * scale).T.ravel()
    # very sparse: geometric skips, vectorized over columns until every column is exhausted
    rows_l, cols_l = [], []
    pos = xp.zeros(p.n, dtype=xp.float64)
    active = cols
    t = 0
    while active.size:
        u = prand.uniform_from_bits(prand.hash2(k1, t, gcols[active], xp), xp)
        t += 1
        pos_a = pos[active] + xp.floor(xp.log(u) / float(log1mp))
        keep = pos_a < size
        active = active[keep]
        r = pos_a[keep].astype(xp.int64)
        rows_l.append(r)
        cols_l.append(active)
        pos[active] = pos_a[keep] + 1.0
    if not rows_l:
        empty = xp.zeros(0, dtype=xp.int64)
        return empty, empty, xp.zeros(0, dtype=xp.float64)
    rows = xp.concatenate(rows_l)
    cols_out = xp.concatenate(cols_l)
    bits = prand.hash_entry(prand.hash_row(k2, rows, xp), cols_out + p.offset, xp)
    return rows, cols_out, prand.sign_from_bits(bits, xp) * scale


def gaussian_block(p: _Params, c0: int, c1: int, dtype: Any, xp: ModuleType) -> Any:
    """Columns ``c0:c1`` of this block of a Gaussian S, in ``dtype``."""
    k = p.subkey("gaussian")
    r = xp.arange(p.size, dtype=xp.int64)[:, None]
    j = xp.arange(c0 + p.offset, c1 + p.offset, dtype=xp.int64)[None, :]
    g = prand.gaussian_entries(k, r, j, xp)
    return (g / math.sqrt(p.size)).astype(dtype)


def srht_parts(p: _Params, xp: ModuleType) -> tuple[Any, Any]:
    """Signs of D for this block's columns, and the sampled rows ``sel`` of H (sorted)."""
    gcols = xp.arange(p.offset, p.offset + p.n, dtype=xp.int64)
    signs = prand.sign_from_bits(prand.hash2(p.subkey("srht_signs"), 0, gcols, xp), xp)
    ranks = prand.hash2(p.subkey("srht_rows"), 0, xp.arange(p.npad, dtype=xp.int64), xp)
    if p.size == p.npad:
        sel = xp.arange(p.npad, dtype=xp.int64)
    else:
        sel = xp.sort(xp.argpartition(ranks, p.size - 1)[: p.size]).astype(xp.int64)
    return signs, sel


def fwht(X: Any, xp: ModuleType) -> Any:
    """Unnormalized Walsh–Hadamard transform along axis 0 (length a power of two)."""
    npad, k = X.shape
    h = 1
    while h < npad:
        Y = X.reshape(npad // (2 * h), 2, h, k)
        a, b = Y[:, 0], Y[:, 1]
        X = xp.stack((a + b, a - b), axis=1).reshape(npad, k)
        h *= 2
    return X


def hadamard_entries(rows: Any, cols: Any, xp: ModuleType) -> Any:
    """(-1)^popcount(rows & cols) for broadcast integer arrays (Sylvester ordering)."""
    x = (rows & cols).astype(xp.uint64)
    for sh in (32, 16, 8, 4, 2, 1):
        x = x ^ (x >> xp.uint64(sh))
    return 1.0 - 2.0 * (x & xp.uint64(1)).astype(xp.float64)


def toarray(p: _Params, dtype: Any, xp: ModuleType) -> Any:
    """A Gaussian or SRHT S formed densely (``size × n``, for tests and small cases)."""
    if p.method == "gaussian":
        return gaussian_block(p, 0, p.n, dtype, xp)
    signs, sel = srht_parts(p, xp)
    gcols = xp.arange(p.offset, p.offset + p.n, dtype=xp.int64)
    H = hadamard_entries(sel[:, None], gcols[None, :], xp)
    return (H * signs[None, :] / math.sqrt(p.size)).astype(dtype)


def tosparse(p: _Params, dtype: Any, xp: ModuleType) -> Any:
    """A sparse-family S as CSR (SciPy on NumPy, CuPyX on CuPy: NumPy/CuPy only)."""
    rows, cols, vals = sparse_columns(p, xp)
    return linalg.csr(xp, (vals.astype(dtype), (rows, cols)), shape=(p.size, p.n))


# ---------------------------------------------------------------------------------------------
# application


def apply(p: _Params, X: Any, xp: ModuleType) -> Any:
    """S @ X in vectorized array code for validated X (n × k, dense or CSR); dense result."""
    dtype = X.dtype
    sparse = is_sparse(X)
    if p.sparse:
        S = tosparse(p, dtype, xp)
        out = S @ X
        return out.toarray() if is_sparse(out) else xp.asarray(out)
    if p.method == "gaussian":
        out = xp.zeros((p.size, X.shape[1]), dtype=dtype)
        for c0 in range(0, p.n, BLOCK_COLS):
            c1 = min(p.n, c0 + BLOCK_COLS)
            Sb = gaussian_block(p, c0, c1, dtype, xp)
            out += (X[c0:c1].T @ Sb.T).T if sparse else Sb @ X[c0:c1]
        return out
    signs, sel = srht_parts(p, xp)
    sg = signs.astype(dtype)[:, None]
    scale = dtype.type(1.0 / math.sqrt(p.size))
    if not sparse:
        buf = xp.zeros((p.npad, X.shape[1]), dtype=dtype)
        buf[p.offset: p.offset + p.n] = X * sg
        return fwht(buf, xp)[sel] * scale
    # sparse X: the transform mixes all rows, so it runs on SRHT_BAND columns at a time (one
    # dense n' × SRHT_BAND buffer, never the whole n × d matrix)
    out = xp.empty((p.size, X.shape[1]), dtype=dtype)
    Xc = X.tocsc()
    for c0 in range(0, X.shape[1], SRHT_BAND):
        c1 = min(X.shape[1], c0 + SRHT_BAND)
        buf = xp.zeros((p.npad, c1 - c0), dtype=dtype)
        buf[p.offset: p.offset + p.n] = Xc[:, c0:c1].toarray() * sg
        out[:, c0:c1] = fwht(buf, xp)[sel] * scale
    return out


def apply_adjoint(p: _Params, Y: Any, xp: ModuleType) -> Any:
    """Sᵀ @ Y in vectorized array code for validated dense Y (size × k)."""
    dtype = Y.dtype
    if p.sparse:
        S = tosparse(p, dtype, xp)
        return xp.asarray(S.T @ Y)
    if p.method == "gaussian":
        parts = [gaussian_block(p, c0, min(p.n, c0 + BLOCK_COLS), dtype, xp).T @ Y
                 for c0 in range(0, p.n, BLOCK_COLS)]
        return xp.concatenate(parts, axis=0)
    signs, sel = srht_parts(p, xp)
    buf = xp.zeros((p.npad, Y.shape[1]), dtype=dtype)
    buf[sel] = Y
    out = fwht(buf, xp)[p.offset: p.offset + p.n]
    return out * (signs.astype(dtype)[:, None] * dtype.type(1.0 / math.sqrt(p.size)))
