"""Linear sketches ``S @ A`` whose entries are a pure function of ``(key, row, column)``.

Five distributions, each scaled so that ``E[SᵀS] = I``:

``"gaussian"``
    ``S_rj ~ N(0, 1/m)``, m = size (Johnson–Lindenstrauss). Generated block by block from the
    hash (never stored whole) and applied with GEMM.
``"srht"``
    Subsampled randomized Hadamard transform ``S = m^{-1/2} R H D`` with ``D`` random signs,
    ``H`` the unnormalized ±1 Sylvester–Hadamard matrix of order ``n' = 2^⌈log₂ n⌉`` (``A`` is
    zero-padded) and ``R`` the ``m`` rows with the smallest hash ranks (uniform without
    replacement). Costs O(n' d log n'), not O(n d m) (Tropp 2011; Ailon & Chazelle 2009).
``"countsketch"``
    One ±1 per column of ``S`` in a hashed row (Charikar, Chen & Farach-Colton 2002;
    Clarkson & Woodruff 2013). O(nnz(A)).
``"sparse_sign"``
    ``s`` non-zeros ±1/√s per column in distinct hashed rows (Meng & Mahoney 2013; the default
    sketch of RandBLAS). O(s · nnz(A)).
``"sparse"``
    Very sparse random projection (Li, Hastie & Church, KDD 2006): each entry is
    ±1/√(p m) with probability p (``density``, default 1/√n), else 0. Non-zeros are found by
    geometric skips, so a column costs O(m p + 1) hashes.

Every entry comes from the counter-based hash of :mod:`projkit._backend.random`, so any block
of columns of ``S`` can be generated independently: a matrix can be sketched block by block
(``offset=``, ``n_total=``) and the blocks merged, and the same key gives the same ``S`` with
NumPy/Numba on the CPU and with CuPy on the GPU. On the CPU the hot loops are Numba kernels
(:mod:`._linear_numba`); the vectorized array-namespace versions in this module serve CuPy and
are tested against the kernels on NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import random as prand
from .._backend.namespace import is_cupy_namespace, is_numpy_namespace, is_sparse
from .._backend.random import draw_key
from .._backend.validation import check_array, check_positive_int, check_size, float_dtype
from ._core import Sketch, register

__all__ = ["LINEAR_METHODS", "SketchOperator", "sketch_operator"]

LINEAR_METHODS = ("gaussian", "srht", "countsketch", "sparse_sign", "sparse")
_SPARSE_CODES = {"countsketch": 0, "sparse_sign": 1, "sparse": 2}
# sub-streams of the key, so that methods and roles never share hash words
_STREAM = {"gaussian": 1, "srht_signs": 2, "srht_rows": 3, "countsketch": 4,
           "sparse_sign_rows": 5, "sparse_sign_signs": 6, "sparse_pos": 7, "sparse_signs": 8}
_BLOCK_COLS = 4096  # columns of S generated at a time for the Gaussian sketch
_SRHT_BAND = 256  # columns of a fairly dense sparse input densified at a time by the SRHT


def _subkey(key: int, stream: str) -> int:
    return int(prand.hash2(key, np.uint64(_STREAM[stream]), np.uint64(0)))


@dataclass(frozen=True, eq=False)
class _Params:
    """Everything that fixes S: method, shape, key, options."""

    method: str
    size: int
    n: int  # columns of this block of S
    key: int
    offset: int = 0
    n_total: int = 0
    nnz_per_column: int = 1
    density: float = 1.0
    extra: dict = field(default_factory=dict)

    @property
    def npad(self) -> int:
        return 1 << max(0, (self.n_total - 1).bit_length())

    def options(self) -> dict:
        opts: dict[str, Any] = {}
        if self.method == "sparse_sign":
            opts["nnz_per_column"] = self.nnz_per_column
        if self.method == "sparse":
            opts["density"] = self.density
        if self.n_total != self.n or self.offset:
            opts["n_total"] = self.n_total
        return opts


def _params(method: str, size: int, n: int, key: int, options: dict) -> _Params:
    options = dict(options)
    offset = check_positive_int(options.pop("offset", 0), name="offset", low=0)
    n_total = options.pop("n_total", None)
    n_total = offset + n if n_total is None else check_positive_int(n_total, name="n_total")
    if offset + n > n_total:
        raise ValueError(f"offset: rows offset..offset+n = {offset}..{offset + n} exceed "
                         f"n_total={n_total}")
    if size > n_total:
        raise ValueError(f"size: expected at most {n_total} (the rows of the whole matrix), "
                         f"got {size}")
    s, p = 1, 1.0
    if method == "sparse_sign":
        s = check_positive_int(options.pop("nnz_per_column", min(8, size)),
                               name="nnz_per_column", high=size)
    elif method == "sparse":
        dens = options.pop("density", None)
        p = 1.0 / math.sqrt(n_total) if dens is None else float(dens)
        if not 0.0 < p <= 1.0:
            raise ValueError(f"density: expected a float in (0, 1], got {dens!r}")
    if options:
        raise TypeError(f"unexpected option(s) for method={method!r}: {sorted(options)}")
    return _Params(method, size, n, key, offset, n_total, s, p)


def _sparse_args(p: _Params) -> tuple:
    """Arguments of the Numba kernels / the vectorized column generator for a sparse method."""
    code = _SPARSE_CODES[p.method]
    if code == 0:
        k1, k2, scale = _subkey(p.key, "countsketch"), 0, 1.0
    elif code == 1:
        k1, k2 = _subkey(p.key, "sparse_sign_rows"), _subkey(p.key, "sparse_sign_signs")
        scale = 1.0 / math.sqrt(p.nnz_per_column)
    else:
        k1, k2 = _subkey(p.key, "sparse_pos"), _subkey(p.key, "sparse_signs")
        scale = 1.0 / math.sqrt(p.density * p.size)
    log1mp = math.log1p(-p.density) if p.density < 1.0 else -math.inf
    return (np.int64(code), np.uint64(k1), np.uint64(k2), np.int64(p.size),
            np.int64(p.nnz_per_column), np.float64(log1mp), np.float64(scale))


# ---------------------------------------------------------------------------------------------
# vectorized (array-namespace) generators: CuPy's path, and the reference for the kernels


def _sparse_columns_xp(p: _Params, xp: ModuleType) -> tuple[Any, Any, Any]:
    """(rows, local cols, vals) of the non-zeros of this block of a sparse-family S."""
    code, k1, k2, size, s, log1mp, scale = _sparse_args(p)
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


def _gaussian_block_xp(p: _Params, c0: int, c1: int, dtype: Any, xp: ModuleType) -> Any:
    k = _subkey(p.key, "gaussian")
    r = xp.arange(p.size, dtype=xp.int64)[:, None]
    j = xp.arange(c0 + p.offset, c1 + p.offset, dtype=xp.int64)[None, :]
    g = prand.gaussian_from_bits(prand.hash2(k, r, j, xp), xp)
    return (g / math.sqrt(p.size)).astype(dtype)


def _srht_parts(p: _Params, xp: ModuleType) -> tuple[Any, Any]:
    """Signs of D for this block's columns, and the sampled rows ``sel`` of H (sorted)."""
    gcols = xp.arange(p.offset, p.offset + p.n, dtype=xp.int64)
    signs = prand.sign_from_bits(prand.hash2(_subkey(p.key, "srht_signs"), 0, gcols, xp), xp)
    ranks = prand.hash2(_subkey(p.key, "srht_rows"), 0, xp.arange(p.npad, dtype=xp.int64), xp)
    if p.size == p.npad:
        sel = xp.arange(p.npad, dtype=xp.int64)
    else:
        sel = xp.sort(xp.argpartition(ranks, p.size - 1)[: p.size]).astype(xp.int64)
    return signs, sel


def _fwht_xp(X: Any, xp: ModuleType) -> Any:
    """Unnormalized Walsh–Hadamard transform along axis 0 (length a power of two)."""
    npad, k = X.shape
    h = 1
    while h < npad:
        Y = X.reshape(npad // (2 * h), 2, h, k)
        a, b = Y[:, 0], Y[:, 1]
        X = xp.stack((a + b, a - b), axis=1).reshape(npad, k)
        h *= 2
    return X


def _hadamard_entries_xp(rows: Any, cols: Any, xp: ModuleType) -> Any:
    """(-1)^popcount(rows & cols) for broadcast integer arrays (Sylvester ordering)."""
    x = (rows & cols).astype(xp.uint64)
    for sh in (32, 16, 8, 4, 2, 1):
        x = x ^ (x >> xp.uint64(sh))
    return 1.0 - 2.0 * (x & xp.uint64(1)).astype(xp.float64)


# ---------------------------------------------------------------------------------------------
# the operator


class SketchOperator:
    """The sketching matrix ``S`` (``size × n``), applied without being stored.

    Build one with :func:`sketch_operator`. ``S @ X`` sketches an ``n × k`` array (dense or
    sparse, NumPy or CuPy); ``S.T @ Y`` applies the adjoint to a ``size × k`` array;
    ``S.toarray()`` forms S densely (for tests and small cases) and, for the sparse families,
    ``S.tosparse()`` gives it as a CSR matrix. ``sketch(A, m, method=k, rng=s).matrix`` equals
    ``sketch_operator(A.shape[0], m, method=k, rng=s) @ A`` for an int ``s``.
    """

    __array_priority__ = 1000  # so that ndarray @ S.T defers to us

    def __init__(self, params: _Params, dtype: Any, xp: ModuleType):
        self._p = params
        self.dtype = np.dtype(dtype)
        self._xp = xp

    # -- description --
    @property
    def method(self) -> str:
        return self._p.method

    @property
    def shape(self) -> tuple[int, int]:
        return (self._p.size, self._p.n)

    @property
    def key(self) -> int:
        return self._p.key

    @property
    def options(self) -> dict:
        return self._p.options()

    @property
    def T(self) -> _Adjoint:
        """The adjoint ``Sᵀ`` (supports ``@`` with a ``size × k`` array)."""
        return _Adjoint(self)

    def __repr__(self) -> str:
        return (f"SketchOperator(method={self.method!r}, shape={self.shape}, key={self.key}, "
                f"options={self.options})")

    # -- application --
    def __matmul__(self, X: Any) -> Any:
        X, xp = check_array(X, name="X", ndim=(1, 2), finite=False)
        vec = X.ndim == 1
        if vec:
            X = X[:, None]
        if X.shape[0] != self._p.n:
            raise ValueError(f"X: expected {self._p.n} rows (the columns of S), "
                             f"got shape {tuple(X.shape)}")
        out = _apply(self._p, X, xp)
        return out[:, 0] if vec else out

    def toarray(self) -> Any:
        """S as a dense ``size × n`` array (O(size · n) memory: for tests and small cases)."""
        xp, p, dt = self._xp, self._p, self.dtype
        if p.method == "gaussian":
            return _gaussian_block_xp(p, 0, p.n, dt, xp)
        if p.method == "srht":
            signs, sel = _srht_parts(p, xp)
            gcols = xp.arange(p.offset, p.offset + p.n, dtype=xp.int64)
            H = _hadamard_entries_xp(sel[:, None], gcols[None, :], xp)
            return (H * signs[None, :] / math.sqrt(p.size)).astype(dt)
        return self.tosparse().toarray()

    def tosparse(self) -> Any:
        """S as a ``size × n`` CSR matrix (sparse families only; SciPy or CuPyX)."""
        p = self._p
        if p.method not in _SPARSE_CODES:
            raise TypeError(f"tosparse: S is dense for method={p.method!r}; use toarray()")
        if is_numpy_namespace(self._xp):
            import scipy.sparse as sp

            from . import _linear_numba as nbk

            rows, cols, vals = nbk.sparse_coo(*_sparse_args(p), np.int64(p.offset),
                                              np.int64(p.n))
            return sp.csr_matrix((vals.astype(self.dtype), (rows, cols)), shape=self.shape)
        rows, cols, vals = _sparse_columns_xp(p, self._xp)
        if is_cupy_namespace(self._xp):
            import cupyx.scipy.sparse as csp

            return csp.coo_matrix((vals.astype(self.dtype), (rows, cols)),
                                  shape=self.shape).tocsr()
        raise TypeError(f"tosparse: no sparse format for {self._xp.__name__}")


class _Adjoint:
    """``Sᵀ`` of a :class:`SketchOperator`."""

    __array_priority__ = 1000

    def __init__(self, op: SketchOperator):
        self._op = op

    @property
    def shape(self) -> tuple[int, int]:
        return self._op.shape[::-1]

    @property
    def T(self) -> SketchOperator:
        return self._op

    def __matmul__(self, Y: Any) -> Any:
        Y, xp = check_array(Y, name="Y", ndim=(1, 2), accept_sparse=False, finite=False)
        vec = Y.ndim == 1
        if vec:
            Y = Y[:, None]
        if Y.shape[0] != self._op.shape[0]:
            raise ValueError(f"Y: expected {self._op.shape[0]} rows (the rows of S), "
                             f"got shape {tuple(Y.shape)}")
        out = _apply_adjoint(self._op._p, Y, xp)
        return out[:, 0] if vec else out

    def __rmatmul__(self, X: Any) -> Any:
        """``X @ Sᵀ`` = ``(S @ Xᵀ)ᵀ``."""
        return (self._op @ X.T).T

    def toarray(self) -> Any:
        return self._op.toarray().T


def sketch_operator(n: int, size: int, *, method: str = "gaussian", rng: Any = None,
                    dtype: Any = np.float64, xp: ModuleType | None = None,
                    **options: Any) -> SketchOperator:
    """The ``size × n`` sketching matrix ``S`` of a linear method, as an operator.

    Parameters
    ----------
    n : int
        Columns of S (rows of the matrices it sketches).
    size : int
        Rows of S, ``1 <= size <= n``.
    method : {"gaussian", "srht", "countsketch", "sparse_sign", "sparse"}
    rng : None, int or numpy.random.Generator
        SPEC 7; an int is the key (same int, same S everywhere).
    dtype : float32 or float64
        dtype of the operator's entries when formed (``toarray``/``tosparse``).
    xp : module, optional
        Array namespace for ``toarray``/``tosparse`` (NumPy by default, ``cupy`` for the GPU).
        ``S @ X`` always works on X's own device.
    **options
        ``nnz_per_column``, ``density``, ``offset``, ``n_total`` as in :func:`projkit.sketch`.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> S = projkit.sketch_operator(6, 3, method="countsketch", rng=0)
    >>> S.toarray().shape, bool(np.all(np.abs(S.toarray()).sum(axis=0) == 1))
    ((3, 6), True)
    >>> x, y = np.arange(6.0), np.ones(3)
    >>> bool(np.isclose((S @ x) @ y, x @ (S.T @ y)))
    True
    """
    n = check_positive_int(n, name="n")
    size = check_size(size)
    if method not in LINEAR_METHODS:
        raise ValueError(f"method: expected one of {list(LINEAR_METHODS)}, got {method!r}")
    dtype = float_dtype(dtype)
    return _operator(n, size, method, draw_key(rng), dtype=dtype, xp=xp, **options)


def _operator(n: int, size: int, method: str, key: int, *, dtype: Any = np.float64,
              xp: ModuleType | None = None, **options: Any) -> SketchOperator:
    """The body of :func:`sketch_operator` for validated ``n``, ``size``, ``method`` and an int
    ``key``: what the package's own algorithms call (no re-validation inside their loops)."""
    return SketchOperator(_params(method, size, n, key, options), np.dtype(dtype),
                          np if xp is None else xp)


# ---------------------------------------------------------------------------------------------
# bodies


def _apply(p: _Params, X: Any, xp: ModuleType) -> Any:
    """S @ X for validated X (n × k, dense or CSR) on X's device; result dense size × k."""
    dtype = X.dtype
    sparse = is_sparse(X)
    if is_numpy_namespace(xp):
        from . import _linear_numba as nbk

        if p.method in _SPARSE_CODES:
            args = (*_sparse_args(p), np.int64(p.offset), np.int64(p.n))
            starts = np.zeros(p.size + 1, dtype=np.int64)
            nbk.bucket_counts(*args, starts)
            src = np.empty(int(starts[-1]), dtype=np.int32 if p.n < 2**31 else np.int64)
            vals = np.empty(int(starts[-1]), dtype=dtype)
            nbk.bucket_fill(*args, starts, src, vals)
            out = np.empty((p.size, X.shape[1]), dtype=dtype)
            if sparse:
                X = X.tocsr() if X.format != "csr" else X
                nbk.bucket_apply_csr(starts, src, vals, X.indptr, X.indices, X.data, out)
            else:
                nbk.bucket_apply_dense(starts, src, vals, np.ascontiguousarray(X), out)
            return out
        if sparse and (p.method == "gaussian" or
                       X.nnz * p.size <= 2 * p.npad * X.shape[1] * max(1, p.npad.bit_length())):
            # generate each column of S once per row of A: O(nnz·size), A never densified
            return _dense_columns_csr(p, X, dtype)
        if p.method == "gaussian":
            out = np.zeros((p.size, X.shape[1]), dtype=dtype)
            k = np.uint64(_subkey(p.key, "gaussian"))
            scale = 1.0 / math.sqrt(p.size)
            blk = np.empty((p.size, min(_BLOCK_COLS, p.n)), dtype=dtype)
            for c0 in range(0, p.n, _BLOCK_COLS):
                c1 = min(p.n, c0 + _BLOCK_COLS)
                Sb = blk[:, : c1 - c0]
                nbk.gaussian_block(k, np.int64(c0 + p.offset), np.float64(scale), Sb)
                out += Sb @ X[c0:c1]
            return out
        # srht
        signs, sel = _srht_parts(p, np)
        out = np.empty((p.size, X.shape[1]), dtype=dtype)
        args = (signs.astype(dtype), np.int64(p.offset), np.int64(p.npad), sel,
                dtype.type(1.0 / math.sqrt(p.size)))
        if not sparse:
            nbk.srht_forward(np.ascontiguousarray(X), *args, out)
            return out
        # a sparse input dense enough that the O(n' d log n') transform is cheaper: densify
        # one band of columns at a time (the transform mixes all rows)
        Xc = X.tocsc()
        for c0 in range(0, X.shape[1], _SRHT_BAND):
            c1 = min(X.shape[1], c0 + _SRHT_BAND)
            band = np.empty((p.size, c1 - c0), dtype=dtype)
            nbk.srht_forward(Xc[:, c0:c1].toarray(), *args, band)
            out[:, c0:c1] = band
        return out
    return _apply_xp(p, X, xp)


def _dense_columns_csr(p: _Params, X: Any, dtype: Any) -> Any:
    """Gaussian / SRHT sketch of a CSR matrix without densifying it (Numba kernel)."""
    import numba

    from . import _linear_numba as nbk

    X = X.tocsr() if X.format != "csr" else X
    scale = 1.0 / math.sqrt(p.size)
    if p.method == "gaussian":
        code, key = 0, _subkey(p.key, "gaussian")
        sel = np.zeros(1, dtype=np.int64)
        signs = np.ones(1, dtype=dtype)
    else:
        code, key = 1, 0
        signs, sel = _srht_parts(p, np)
        signs = signs.astype(dtype)
    outT = np.empty((X.shape[1], p.size), dtype=dtype)
    nchunk = max(1, min(numba.get_num_threads(), p.size // 16))
    nbk.dense_columns_csr(np.int64(code), np.uint64(key), sel, signs, np.float64(scale),
                          np.int64(p.offset), X.indptr, X.indices, X.data, outT,
                          np.int64(nchunk))
    return np.ascontiguousarray(outT.T)


def _apply_xp(p: _Params, X: Any, xp: ModuleType) -> Any:
    """S @ X in vectorized array code (CuPy; also runs on NumPy for cross-checks)."""
    dtype = X.dtype
    sparse = is_sparse(X)
    if p.method in _SPARSE_CODES:
        rows, cols, vals = _sparse_columns_xp(p, xp)
        S = _coo_to_csr(rows, cols, vals.astype(dtype), p.size, p.n, xp)
        out = S @ X
        return out.toarray() if is_sparse(out) else xp.asarray(out)
    if p.method == "gaussian":
        out = xp.zeros((p.size, X.shape[1]), dtype=dtype)
        for c0 in range(0, p.n, _BLOCK_COLS):
            c1 = min(p.n, c0 + _BLOCK_COLS)
            Sb = _gaussian_block_xp(p, c0, c1, dtype, xp)
            out += (X[c0:c1].T @ Sb.T).T if sparse else Sb @ X[c0:c1]
        return out
    signs, sel = _srht_parts(p, xp)
    Xd = X.toarray() if sparse else X
    buf = xp.zeros((p.npad, X.shape[1]), dtype=dtype)
    buf[p.offset: p.offset + p.n] = Xd * signs.astype(dtype)[:, None]
    return _fwht_xp(buf, xp)[sel] * dtype.type(1.0 / math.sqrt(p.size))


def _apply_adjoint(p: _Params, Y: Any, xp: ModuleType) -> Any:
    """Sᵀ @ Y for validated dense Y (size × k)."""
    dtype = Y.dtype
    if is_numpy_namespace(xp):
        from . import _linear_numba as nbk

        out = np.empty((p.n, Y.shape[1]), dtype=dtype)
        Yc = np.ascontiguousarray(Y)
        if p.method in _SPARSE_CODES:
            nbk.sparse_apply_t(*_sparse_args(p), np.int64(p.offset), Yc, out)
            return out
        if p.method == "gaussian":
            k = np.uint64(_subkey(p.key, "gaussian"))
            blk = np.empty((p.size, min(_BLOCK_COLS, p.n)), dtype=dtype)
            for c0 in range(0, p.n, _BLOCK_COLS):
                c1 = min(p.n, c0 + _BLOCK_COLS)
                Sb = blk[:, : c1 - c0]
                nbk.gaussian_block(k, np.int64(c0 + p.offset),
                                   np.float64(1.0 / math.sqrt(p.size)), Sb)
                out[c0:c1] = Sb.T @ Yc
            return out
        signs, sel = _srht_parts(p, np)
        nbk.srht_adjoint(Yc, signs.astype(dtype), np.int64(p.offset), np.int64(p.n),
                         np.int64(p.npad), sel, dtype.type(1.0 / math.sqrt(p.size)), out)
        return out
    return _apply_adjoint_xp(p, Y, xp)


def _apply_adjoint_xp(p: _Params, Y: Any, xp: ModuleType) -> Any:
    dtype = Y.dtype
    if p.method in _SPARSE_CODES:
        rows, cols, vals = _sparse_columns_xp(p, xp)
        S = _coo_to_csr(rows, cols, vals.astype(dtype), p.size, p.n, xp)
        return xp.asarray(S.T @ Y)
    if p.method == "gaussian":
        parts = [_gaussian_block_xp(p, c0, min(p.n, c0 + _BLOCK_COLS), dtype, xp).T @ Y
                 for c0 in range(0, p.n, _BLOCK_COLS)]
        return xp.concatenate(parts, axis=0)
    signs, sel = _srht_parts(p, xp)
    buf = xp.zeros((p.npad, Y.shape[1]), dtype=dtype)
    buf[sel] = Y
    out = _fwht_xp(buf, xp)[p.offset: p.offset + p.n]
    return out * (signs.astype(dtype)[:, None] * dtype.type(1.0 / math.sqrt(p.size)))


def _coo_to_csr(rows: Any, cols: Any, vals: Any, m: int, n: int, xp: ModuleType) -> Any:
    if is_cupy_namespace(xp):
        import cupyx.scipy.sparse as csp

        return csp.coo_matrix((vals, (rows, cols)), shape=(m, n)).tocsr()
    import scipy.sparse as sp

    return sp.csr_matrix((np.asarray(vals), (np.asarray(rows), np.asarray(cols))), shape=(m, n))


# ---------------------------------------------------------------------------------------------
# registration with projkit.sketch


def _make_sketcher(method: str):
    def _sketch(A: Any, size: int, key: int, xp: ModuleType, **options: Any) -> Sketch:
        p = _params(method, size, A.shape[0], key, options)
        return Sketch(method=method, size=size, key=key, n_rows=A.shape[0],
                      matrix=_apply(p, A, xp), options=p.options(), offset=p.offset)

    return _sketch


def _linear_matmul(sa: Sketch, sb: Sketch) -> Any:
    return sa.matrix.T @ sb.matrix


def _linear_merge(sketches: Sequence[Sketch]) -> Sketch:
    total = sketches[0].matrix.copy()
    for s in sketches[1:]:
        if s.matrix.shape[1] != total.shape[1]:
            raise ValueError("sketches: the blocks have different numbers of columns "
                             f"({total.shape[1]} vs {s.matrix.shape[1]})")
        total += s.matrix
    n_rows = sum(s.n_rows for s in sketches)
    offset = min(s.offset for s in sketches)
    opts = dict(sketches[0].options)
    if n_rows == sketches[0].n_total and offset == 0:
        opts.pop("n_total", None)
    return replace(sketches[0], matrix=total, n_rows=n_rows, offset=offset, options=opts)


for _m in LINEAR_METHODS:
    register(_m, sketch=_make_sketcher(_m), matmul=_linear_matmul, merge=_linear_merge,
             linear=True)
