"""The Numba engine of the linear sketches (NumPy/SciPy data): S is generated from the hash
inside the loops.

:func:`apply`, :func:`apply_adjoint` and :func:`tosparse` are the engine's entry points (what
:mod:`projkit.sketching.linear` selects for NumPy input); the compiled kernels below them do
the work. Method codes for the sparse families (one compiled kernel serves all three):
0 = CountSketch, 1 = sparse sign (s non-zeros per column), 2 = very sparse (Li et al.).
Every kernel takes the keys as uint64, sizes as int64 and parameters as float64, so each is
compiled once per array dtype (on first use, nothing at import) and cached on disk.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._backend import linalg
from .._backend._random_numba import (
    gaussian_entry_nb,
    gaussian_row_nb,
    hash_entry_nb,
    hash_row_nb,
    sign_nb,
    uniform_nb,
)
from .._backend.namespace import is_sparse
from .._backend.threads import serial_blas
from ._linear_xp import SRHT_BAND, srht_parts

if TYPE_CHECKING:
    from .linear import _Params

COUNTSKETCH, SPARSE_SIGN, VERY_SPARSE = 0, 1, 2
_SRHT_BAND = SRHT_BAND  # columns of a fairly dense sparse input densified at a time (SRHT)
_TILE_BYTES = 64 << 20  # size of one tile of a Gaussian S (see gaussian_tile_cols)


# ---------------------------------------------------------------------------------------------
# the engine: S @ X, Sᵀ @ Y and S as CSR for NumPy/SciPy data (``xp`` is NumPy)


def apply(p: _Params, X: Any, xp: ModuleType = np) -> Any:
    """S @ X for validated X (n × k, dense or CSR); result dense size × k."""
    dtype = X.dtype
    sparse = is_sparse(X)
    if p.sparse:
        starts, src, vals = _buckets(p, dtype)
        out = np.empty((p.size, X.shape[1]), dtype=dtype)
        if sparse:
            X = X.tocsr() if X.format != "csr" else X
            bucket_apply_csr(starts, src, vals, X.indptr, X.indices, X.data, out)
        else:
            bucket_apply_dense(starts, src, vals, np.ascontiguousarray(X), out)
        return out
    if sparse and (p.method == "gaussian" or
                   X.nnz * p.size <= 2 * p.npad * X.shape[1] * max(1, p.npad.bit_length())):
        # generate each column of S once per row of A: O(nnz·size), A never densified
        return _dense_columns_csr(p, X, dtype)
    if p.method == "gaussian":
        return _gaussian_apply(p, X, dtype)
    # srht
    signs, sel = srht_parts(p, np)
    out = np.empty((p.size, X.shape[1]), dtype=dtype)
    args = (signs.astype(dtype), np.int64(p.offset), np.int64(p.npad), sel,
            dtype.type(1.0 / math.sqrt(p.size)))
    if not sparse:
        srht_forward(np.ascontiguousarray(X), *args, out)
        return out
    # a sparse input dense enough that the O(n' d log n') transform is cheaper: densify
    # one band of columns at a time (the transform mixes all rows)
    Xc = X.tocsc()
    for c0 in range(0, X.shape[1], _SRHT_BAND):
        c1 = min(X.shape[1], c0 + _SRHT_BAND)
        band = np.empty((p.size, c1 - c0), dtype=dtype)
        srht_forward(Xc[:, c0:c1].toarray(), *args, band)
        out[:, c0:c1] = band
    return out


def _buckets(p: _Params, dtype: Any) -> tuple[Any, Any, Any]:
    """The non-zeros of the sparse S grouped by row: ``(starts, src, vals)`` with row ``r``'s
    column indices ``src[starts[r]:starts[r+1]]`` (ascending) and values ``vals[...]``.

    Two passes over the columns (count, fill), each split into ``T`` contiguous ranges of
    columns run in parallel (one count row per range, at most 2²⁴ counts in all); range ``t``'s
    entries of a row go after range ``t − 1``'s, so the grouping is the serial one exactly.
    """
    args = (*p.sparse_args(), np.int64(p.offset), np.int64(p.n))
    T = int(max(1, min(nb.get_num_threads(), p.n // 4096, (1 << 24) // max(1, p.size))))
    idx = np.int32 if p.n < 2**31 else np.int64
    counts = np.zeros((T, p.size), dtype=np.int64)
    bucket_pass(*args, counts, np.empty(0, dtype=idx), np.empty(0, dtype=dtype))  # count
    starts = np.zeros(p.size + 1, dtype=np.int64)
    np.cumsum(counts.sum(axis=0), out=starts[1:])
    fill = starts[:-1] + (np.cumsum(counts, axis=0) - counts)  # each range's first slots
    src = np.empty(int(starts[-1]), dtype=idx)
    vals = np.empty(int(starts[-1]), dtype=dtype)
    bucket_pass(*args, fill, src, vals)  # fill (an empty S fills nothing)
    return starts, src, vals


def gaussian_tile_cols(size: int, n: int) -> int:
    """Columns of S per tile of the Gaussian sketch: about ``_TILE_BYTES`` of float64, a
    multiple of 64, and at least 256 so that each GEMM runs at full speed. GEMM packs its
    operands itself, so the tile need not fit in cache (on the 2-core EPYC dev machine, one
    thread, 1–64 MiB tiles were within 4 % of each other); what costs is each hand-over
    between Numba's threads (generating) and BLAS's (multiplying), which spin a while before
    they sleep: at the default threads on a loaded machine, 4 / 16 / 64 MiB tiles took 2.2 /
    1.7 / 1.4× the GEMM alone (32 768 × 512 → 2048). 64 MiB is 4096 columns at size 2048."""
    w = max(256, (_TILE_BYTES // (8 * max(1, size))) // 64 * 64)
    return int(min(w, max(1, n)))


# One thread's tile of a Gaussian S in the row-owned scheme, and the cap on all threads' tiles
# together. Each tile's product is added into the band by BLAS itself (beta = 1), so small
# tiles cost no extra pass; large ones cost page faults (a fresh allocation of more than
# glibc's 32 MiB mmap threshold is mapped and zero-filled on every call). At 65 536 × 512 →
# 2048 on the 2-core Xeon dev machine (medians of five interleaved runs, ratio to the GEMM
# alone): 2 / 4 / 8 / 64 MiB tiles took 1.10 / 1.07 / 1.06 / 1.14×; with a temporary product
# added in a second pass, 8 / 32 / 64 MiB took 1.16 / 1.15 / 1.39×.
_ROW_TILE_BYTES = 8 << 20
_ROW_TILES_TOTAL = 256 << 20


def _gaussian_apply(p: _Params, X: Any, dtype: Any) -> Any:
    """S @ X for dense X and Gaussian S, generated tile by tile and fed to BLAS GEMM.

    Real dtypes: each of ``T`` threads (Numba's thread count) owns one block of a grid over S:
    a band of its rows (at least 128) × a range of its columns, so a large S is split by rows
    and a small one (``size < 256`` on two threads) by columns, each range summed into its own
    partial result (added at the end). A thread fills its block's next tile
    (:func:`gaussian_rows`, compiled without the GIL) and adds its product into its part of the
    result on one BLAS thread (:func:`projkit._backend.linalg.gemm_into`: ``?gemm`` with
    ``beta = 1``, the GIL released), tile after tile. On the 2-core EPYC dev machine, with
    the earlier 64 MiB tiles and 256-bit generator (not re-measured there since): 0.94-0.98× a
    plain GEMM with S drawn beforehand at 65 536 × 512 → 2048, 0.95× at
    400 000 × 1000 → 200, 1.15× at 100 000 × 1000 → 64; on the 2-core Xeon (AVX-512), with
    the generator at 512-bit vectors, 1.14-1.21× the GEMM alone at 65 536 × 512 → 2048 (the
    generation is about 0.15× the GEMM's work, and both cores are busy). No thread ever waits for
    another, and no idle BLAS or OpenMP worker spins between the generation and the GEMM
    (with a threaded GEMM fed by a parallel generator, OpenBLAS's workers busy-wait through
    every generation step and halve its speed). The entries are those of
    :func:`gaussian_block` (the same stream), so the result does not depend on ``T``
    beyond the rounding of the block sums. Complex dtypes take whole tiles through ``@``.
    """
    k = np.uint64(p.subkey("gaussian"))
    scale = np.float64(1.0 / math.sqrt(p.size))
    if dtype.kind != "f":
        w = gaussian_tile_cols(p.size, p.n)
        blk = np.empty((p.size, w), dtype=np.float64)
        out = np.zeros((p.size, X.shape[1]), dtype=dtype)
        for c0 in range(0, p.n, w):
            c1 = min(p.n, c0 + w)
            Sb = blk[:, : c1 - c0]
            gaussian_block(k, np.int64(c0 + p.offset), scale, Sb)
            out += Sb @ X[c0:c1]
        return out
    n_thr = int(max(1, nb.get_num_threads()))
    # a grid of n_r bands of S's rows × n_c ranges of its columns, one block per thread: bands
    # of at least 128 rows (each band reads all of X, so a small S is split along its columns
    # instead, each range into its own partial result, summed at the end)
    n_r = int(max(1, min(n_thr, p.size // 128)))
    n_c = int(max(1, n_thr // n_r))
    rb = np.linspace(0, p.size, n_r + 1).round().astype(np.int64)
    cb = np.linspace(0, p.n, n_c + 1).round().astype(np.int64)
    outs = [np.empty((p.size, X.shape[1]), dtype=dtype) for _ in range(n_c)]
    tile = min(_ROW_TILE_BYTES, _ROW_TILES_TOTAL // (n_r * n_c))

    def block(t: int) -> None:
        i, j = divmod(t, n_c)
        r0, r1, s0, s1 = int(rb[i]), int(rb[i + 1]), int(cb[j]), int(cb[j + 1])
        o = outs[j][r0:r1]
        if s1 == s0:
            o[...] = 0
            return
        w = int(min(s1 - s0, max(256, (tile // (8 * (r1 - r0))) // 64 * 64)))
        blk = np.empty((r1 - r0, w), dtype=dtype)
        for c0 in range(s0, s1, w):
            c1 = min(s1, c0 + w)
            Sb = blk[:, : c1 - c0]
            gaussian_rows(k, np.int64(r0), np.int64(c0 + p.offset), scale, Sb)
            linalg.gemm_into(Sb, X[c0:c1], o, accumulate=c0 > s0)

    with serial_blas(np):
        if n_r * n_c == 1:
            block(0)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(n_r * n_c, thread_name_prefix="projkit-gaussian") as ex:
                list(ex.map(block, range(n_r * n_c)))
    out = outs[0]
    for o in outs[1:]:
        out += o
    return out


def _dense_columns_csr(p: _Params, X: Any, dtype: Any) -> Any:
    """Gaussian / SRHT sketch of a CSR matrix without densifying it."""
    X = X.tocsr() if X.format != "csr" else X
    scale = 1.0 / math.sqrt(p.size)
    if p.method == "gaussian":
        code, key = 0, p.subkey("gaussian")
        sel = np.zeros(1, dtype=np.int64)
        signs = np.ones(1, dtype=dtype)
    else:
        code, key = 1, 0
        signs, sel = srht_parts(p, np)
        signs = signs.astype(dtype)
    outT = np.empty((X.shape[1], p.size), dtype=dtype)
    nchunk = max(1, min(nb.get_num_threads(), p.size // 16))
    dense_columns_csr(np.int64(code), np.uint64(key), sel, signs, np.float64(scale),
                      np.int64(p.offset), X.indptr, X.indices, X.data, outT, np.int64(nchunk))
    return np.ascontiguousarray(outT.T)


def apply_adjoint(p: _Params, Y: Any, xp: ModuleType = np) -> Any:
    """Sᵀ @ Y for validated dense Y (size × k)."""
    dtype = Y.dtype
    out = np.empty((p.n, Y.shape[1]), dtype=dtype)
    Yc = np.ascontiguousarray(Y)
    if p.sparse:
        sparse_apply_t(*p.sparse_args(), np.int64(p.offset), Yc, out)
        return out
    if p.method == "gaussian":
        k = np.uint64(p.subkey("gaussian"))
        w = gaussian_tile_cols(p.size, p.n)
        blk = np.empty((p.size, w), dtype=dtype)
        with serial_blas(np, work=2.0 * p.size * w * Yc.shape[1]):
            for c0 in range(0, p.n, w):
                c1 = min(p.n, c0 + w)
                Sb = blk[:, : c1 - c0]
                gaussian_block(k, np.int64(c0 + p.offset), np.float64(1.0 / math.sqrt(p.size)),
                               Sb)
                if dtype.kind == "f":
                    np.dot(Sb.T, Yc, out=out[c0:c1])
                else:
                    out[c0:c1] = Sb.T @ Yc
        return out
    signs, sel = srht_parts(p, np)
    srht_adjoint(Yc, signs.astype(dtype), np.int64(p.offset), np.int64(p.n), np.int64(p.npad),
                 sel, dtype.type(1.0 / math.sqrt(p.size)), out)
    return out


def tosparse(p: _Params, dtype: Any, xp: ModuleType = np) -> Any:
    """A sparse-family S as a SciPy CSR matrix (its non-zeros generated column by column)."""
    rows, cols, vals = sparse_coo(*p.sparse_args(), np.int64(p.offset), np.int64(p.n))
    return linalg.csr(np, (vals.astype(dtype), (rows, cols)), shape=(p.size, p.n))


# ---------------------------------------------------------------------------------------------
# compiled kernels


@nb.njit(cache=True)
def _column(code, k1, k2, j, size, s, log1mp, scale, rows, vals):  # pragma: no cover
    """Fill rows/vals with the non-zeros of column ``j`` of S; return how many."""
    if code == 0:
        bits = hash_entry_nb(hash_row_nb(k1, 0), j)
        rows[0] = np.int64(bits % np.uint64(size))
        vals[0] = sign_nb(bits)
        return 1
    if code == 1:
        for t in range(s):
            a = 0
            while True:
                bits = hash_entry_nb(hash_row_nb(k1, t + s * a), j)
                cand = np.int64(bits % np.uint64(size))
                dup = False
                for q in range(t):
                    if rows[q] == cand:
                        dup = True
                        break
                if not dup:
                    rows[t] = cand
                    vals[t] = sign_nb(hash_entry_nb(hash_row_nb(k2, t), j)) * scale
                    break
                a += 1
        return s
    # very sparse: geometric skips between non-zeros (expected size·p + 1 hashes)
    c = 0
    pos = 0.0
    t = 0
    while True:
        u = uniform_nb(hash_entry_nb(hash_row_nb(k1, t), j))
        t += 1
        pos += np.floor(np.log(u) / log1mp)
        if pos >= size:
            return c
        r = np.int64(pos)
        rows[c] = r
        vals[c] = sign_nb(hash_entry_nb(hash_row_nb(k2, r), j)) * scale
        c += 1
        pos += 1.0


@nb.njit(cache=True, parallel=True)
def bucket_pass(code, k1, k2, size, s, log1mp, scale, offset, n, table, src,
                out_vals):  # pragma: no cover
    """One pass of grouping the non-zeros of S[:, offset:offset+n] by row of S, over
    ``T = table.shape[0]`` contiguous ranges of columns in parallel (a counting sort).

    Count pass (``src`` empty): ``table[t, r]`` (zeroed by the caller) gets the number of
    non-zeros in row ``r`` among range ``t``'s columns, from which :func:`_buckets` makes the
    row offsets. Fill pass: ``table[t, r]`` is the first slot of range ``t``'s entries of row
    ``r`` (advanced here), and each non-zero's column goes to ``src``, its value to
    ``out_vals``. Grouping by row lets the application run row by row of the output (in
    cache, in parallel, without write conflicts) at the cost of one index per non-zero of S —
    O(n · nnz per column), small beside A. The caller allocates, so the memory is visible to
    Python.
    """
    T = table.shape[0]
    step = (n + T - 1) // T
    count = src.shape[0] == 0
    for t in nb.prange(T):
        rows = np.empty(size, np.int64)
        vals = np.empty(size, np.float64)
        f = table[t]
        for i in range(t * step, min(n, (t + 1) * step)):
            cnt = _column(code, k1, k2, i + offset, size, s, log1mp, scale, rows, vals)
            for q in range(cnt):
                r = rows[q]
                if not count:
                    src[f[r]] = i
                    out_vals[f[r]] = vals[q]
                f[r] += 1


@nb.njit(cache=True, parallel=True)
def bucket_apply_dense(starts, src, vals, A, out):  # pragma: no cover
    """out (size × d) = S @ A for dense A, one output row per task."""
    size = starts.shape[0] - 1
    d = A.shape[1]
    for r in nb.prange(size):
        for c in range(d):
            out[r, c] = 0
        for q in range(starts[r], starts[r + 1]):
            i = src[q]
            v = vals[q]
            for c in range(d):
                out[r, c] += v * A[i, c]


@intrinsic
def _prefetch(typingctx, arr, idx):  # pragma: no cover - compiled
    """Hint the CPU to load ``arr[idx]`` into cache (``llvm.prefetch``, read, high locality);
    no effect on results, and no fault for any index."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


# Prefetch distances of bucket_apply_csr, in non-zeros of S: indptr of the row of A 32 ahead,
# then the cache lines of that row's indices and data (its first _PF_SPAN entries; the
# hardware prefetcher follows longer rows) 16 ahead. A row of S visits every ~size-th row of
# A, so without them each visit waits on DRAM for indptr, then for indices and data: on the
# 2-core EPYC, 200 000 × 20 000 (0.1 %) → 256 took 64 ms, 40 ms with the first line of each
# prefetched, 23 ms with all of the row's lines (the same sums, in the same order).
_PF_PTR, _PF_ROW, _PF_SPAN = 32, 16, 64


@nb.njit(cache=True, parallel=True)
def bucket_apply_csr(starts, src, vals, indptr, indices, data, out):  # pragma: no cover
    """out (size × d) = S @ A for CSR A, one output row per task (the row stays in cache);
    the rows of A it will read next are prefetched."""
    size = starts.shape[0] - 1
    d = out.shape[1]
    for r in nb.prange(size):
        for c in range(d):
            out[r, c] = 0
        q1 = starts[r + 1]
        for q in range(starts[r], q1):
            if q + _PF_PTR < q1:
                _prefetch(indptr, src[q + _PF_PTR])
            if q + _PF_ROW < q1:
                j = src[q + _PF_ROW]
                p2 = indptr[j]
                for pp in range(p2, min(indptr[j + 1], p2 + _PF_SPAN), 8):  # 64-byte lines
                    _prefetch(indices, pp)
                    _prefetch(data, pp)
            i = src[q]
            v = vals[q]
            for p in range(indptr[i], indptr[i + 1]):
                out[r, indices[p]] += v * data[p]


@nb.njit(cache=True, parallel=True)
def sparse_apply_t(code, k1, k2, size, s, log1mp, scale, offset, Y, out):  # pragma: no cover
    """out (n × k) = S[:, offset:offset+n]ᵀ @ Y for Y (size × k); parallel over rows of out."""
    n, k = out.shape
    for i in nb.prange(n):
        rows = np.empty(size, np.int64)
        vals = np.empty(size, out.dtype)
        cnt = _column(code, k1, k2, i + offset, size, s, log1mp, scale, rows, vals)
        for c in range(k):
            out[i, c] = 0
        for q in range(cnt):
            r = rows[q]
            v = vals[q]
            for c in range(k):
                out[i, c] += v * Y[r, c]


@nb.njit(cache=True)
def sparse_coo(code, k1, k2, size, s, log1mp, scale, offset, n):  # pragma: no cover
    """The non-zeros of S[:, offset:offset+n] as (rows, cols, vals), column by column."""
    rows = np.empty(size, np.int64)
    vals = np.empty(size, np.float64)
    cap = n * min(size, max(s, 1)) + 16
    R = np.empty(cap, np.int64)
    C = np.empty(cap, np.int64)
    V = np.empty(cap, np.float64)
    m = 0
    for i in range(n):
        cnt = _column(code, k1, k2, i + offset, size, s, log1mp, scale, rows, vals)
        if m + cnt > cap:
            cap = 2 * cap + cnt
            R2 = np.empty(cap, np.int64)
            C2 = np.empty(cap, np.int64)
            V2 = np.empty(cap, np.float64)
            R2[:m] = R[:m]
            C2[:m] = C[:m]
            V2[:m] = V[:m]
            R, C, V = R2, C2, V2
        for q in range(cnt):
            R[m] = rows[q]
            C[m] = i
            V[m] = vals[q]
            m += 1
    return R[:m], C[:m], V[:m]


@nb.njit(cache=True, parallel=True, error_model="numpy")
def gaussian_block(key, c0, scale, out):  # pragma: no cover
    """out[r, j] = scale · z(key, r, c0 + j), the paired Gaussian stream
    (:func:`projkit._backend.random.gaussian_entries`): a tile of a Gaussian S."""
    size = out.shape[0]
    for r in nb.prange(size):
        gaussian_row_nb(hash_row_nb(key, r), c0, scale, out[r])


@nb.njit(cache=True, nogil=True, error_model="numpy")
def gaussian_rows(key, r0, c0, scale, out):  # pragma: no cover
    """out[i, j] = scale · z(key, r0 + i, c0 + j): rows ``r0 …`` of a tile of a Gaussian S
    (the stream of :func:`gaussian_block`), serial and without the GIL, for one thread's band."""
    for i in range(out.shape[0]):
        gaussian_row_nb(hash_row_nb(key, r0 + i), c0, scale, out[i])


@nb.njit(cache=True, parallel=True)
def srht_forward(A, signs, offset, npad, sel, scale, out):  # pragma: no cover
    """out = scale · (H · D · [0; A; 0])[sel] with H the unnormalized Sylvester Hadamard matrix.

    Columns are processed in blocks of 8 copied to a contiguous (npad × 8) buffer so that the
    log2(npad) butterfly passes run in cache; blocks run in parallel.
    """
    n, d = A.shape
    bw = 8
    nblk = (d + bw - 1) // bw
    for b in nb.prange(nblk):
        c0 = b * bw
        c1 = min(d, c0 + bw)
        w = c1 - c0
        buf = np.zeros((npad, bw), out.dtype)
        for i in range(n):
            sg = signs[i]
            for c in range(w):
                buf[i + offset, c] = sg * A[i, c0 + c]
        _fwht_inplace(buf, w)
        for q in range(sel.shape[0]):
            for c in range(w):
                out[q, c0 + c] = scale * buf[sel[q], c]


@nb.njit(cache=True, parallel=True)
def srht_adjoint(Y, signs, offset, n, npad, sel, scale, out):  # pragma: no cover
    """out (n × k) = Sᵀ Y: scatter Y's rows to ``sel``, transform, take rows offset:offset+n."""
    k = Y.shape[1]
    bw = 8
    nblk = (k + bw - 1) // bw
    for b in nb.prange(nblk):
        c0 = b * bw
        c1 = min(k, c0 + bw)
        w = c1 - c0
        buf = np.zeros((npad, bw), out.dtype)
        for q in range(sel.shape[0]):
            for c in range(w):
                buf[sel[q], c] = Y[q, c0 + c]
        _fwht_inplace(buf, w)
        for i in range(n):
            sg = signs[i] * scale
            for c in range(w):
                out[i, c0 + c] = sg * buf[i + offset, c]


@nb.njit(cache=True)
def _fwht_inplace(buf, w):  # pragma: no cover
    npad = buf.shape[0]
    h = 1
    while h < npad:
        for i0 in range(0, npad, 2 * h):
            for i in range(i0, i0 + h):
                for c in range(w):
                    a = buf[i, c]
                    bb = buf[i + h, c]
                    buf[i, c] = a + bb
                    buf[i + h, c] = a - bb
        h *= 2


@nb.njit(cache=True, parallel=True, error_model="numpy")
def dense_columns_csr(code, key, sel, signs, scale, offset, indptr, indices, data,
                      outT, nchunk):  # pragma: no cover
    """outT (d × size) = (S @ A)ᵀ for CSR A, generating column ``i`` of S once per row of A.

    code 0: Gaussian S (``key``), entries N(0,1)·scale; code 1: SRHT,
    ``S[q, i] = scale · signs[i] · (−1)^popcount(sel[q] & (i + offset))``. Each data row costs
    ``size`` generated entries plus ``size`` multiply-adds per non-zero into a contiguous row
    of ``outT``; threads split the ``size`` rows of S, so no two write the same entry. Cost
    O(n · size + nnz · size), which beats the O(n' d log n') transform on sparse input.
    """
    n = indptr.shape[0] - 1
    size = outT.shape[1]
    d = outT.shape[0]
    step = (size + nchunk - 1) // nchunk
    for ch in nb.prange(nchunk):
        q0 = ch * step
        q1 = min(size, q0 + step)
        w = q1 - q0
        if w <= 0:
            continue
        for c in range(d):
            for q in range(q0, q1):
                outT[c, q] = 0
        g = np.empty(w, outT.dtype)
        for i in range(n):
            p0 = indptr[i]
            p1 = indptr[i + 1]
            if p0 == p1:
                continue
            gi = i + offset
            if code == 0:
                for q in range(w):
                    g[q] = gaussian_entry_nb(hash_row_nb(key, q0 + q), gi) * scale
            else:
                ug = np.uint64(gi)
                sg = signs[i] * scale
                for q in range(w):
                    x = np.uint64(sel[q0 + q]) & ug
                    x ^= x >> np.uint64(32)
                    x ^= x >> np.uint64(16)
                    x ^= x >> np.uint64(8)
                    x ^= x >> np.uint64(4)
                    x ^= x >> np.uint64(2)
                    x ^= x >> np.uint64(1)
                    g[q] = sg * (1.0 - 2.0 * np.float64(x & np.uint64(1)))
            for p in range(p0, p1):
                a = data[p]
                c = indices[p]
                for q in range(w):
                    outT[c, q0 + q] += g[q] * a
