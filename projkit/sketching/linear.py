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
    A sparse input is either sketched column by column of S on its non-zeros (when that is
    cheaper) or transformed in bands of 256 columns: one dense ``n' × 256`` buffer at a time,
    never the whole matrix.
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
NumPy/Numba on the CPU and with CuPy on the GPU. Two engines apply S, chosen once per call by
:func:`projkit._backend.dispatch.select`: the Numba kernels of :mod:`._linear_numba` on the
CPU, and the vectorized array-namespace code of :mod:`._linear_xp` on CuPy (tested against the
kernels on NumPy). This module holds what fixes S (:class:`_Params`), the operator and the
registration with :func:`projkit.sketch`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import linalg
from .._backend import random as prand
from .._backend.dispatch import select
from .._backend.namespace import is_dask, is_sparse
from .._backend.random import draw_key
from .._backend.validation import check_array, check_positive_int, check_size, float_dtype
from . import _linear_numba, _linear_xp
from ._core import Sketch, register

__all__ = ["LINEAR_METHODS", "SketchOperator", "sketch_operator"]

LINEAR_METHODS = ("gaussian", "srht", "countsketch", "sparse_sign", "sparse")
_SPARSE_CODES = {"countsketch": 0, "sparse_sign": 1, "sparse": 2}
# sub-streams of the key, so that methods and roles never share hash words
_STREAM = {"gaussian": 1, "srht_signs": 2, "srht_rows": 3, "countsketch": 4,
           "sparse_sign_rows": 5, "sparse_sign_signs": 6, "sparse_pos": 7, "sparse_signs": 8}


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

    @property
    def sparse(self) -> bool:
        """Whether S is one of the sparse families (CountSketch, sparse sign, very sparse)."""
        return self.method in _SPARSE_CODES

    def subkey(self, stream: str) -> int:
        """The key of one role's sub-stream (methods and roles never share hash words)."""
        return _subkey(self.key, stream)

    def sparse_args(self) -> tuple:
        """Arguments of the Numba kernels / the vectorized column generator (sparse families)."""
        return _sparse_args(self)

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
    """Validate the options of a block of S (``size`` is the caller's: checked by the public
    functions, :func:`projkit.sketch` and :func:`sketch_operator`, against ``n_total``)."""
    options = dict(options)
    offset = check_positive_int(options.pop("offset", 0), name="offset", low=0)
    n_total = options.pop("n_total", None)
    n_total = offset + n if n_total is None else check_positive_int(n_total, name="n_total")
    if offset + n > n_total:
        raise ValueError(f"offset: rows offset..offset+n = {offset}..{offset + n} exceed "
                         f"n_total={n_total}")
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
    """(code, k1, k2, size, s, log(1 - p), scale) of a sparse-family S, typed for the kernels."""
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
# the operator


class SketchOperator:
    """The sketching matrix ``S`` (``size × n``), applied without being stored.

    Build one with :func:`sketch_operator`. ``S @ X`` sketches an ``n × k`` array (dense or
    sparse, NumPy or CuPy); ``S.T @ Y`` applies the adjoint to a ``size × k`` array;
    ``S.toarray()`` forms S densely (for tests and small cases) and, for the sparse families,
    ``S.tosparse()`` gives it as a CSR matrix. ``sketch(A, m, method=k, rng=s).matrix`` equals
    ``sketch_operator(A.shape[0], m, method=k, rng=s) @ A`` for an int ``s``. A
    ``dask.array.Array`` operand of ``S @`` or ``S.T @`` gives a lazy dask result (one task
    per chunk, each generating its own block of S; not for the SRHT), equal to the in-memory
    product to rounding.
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
        if is_dask(X):  # the blockwise engine: one task per chunk of X, a tree sum
            return _dask_matmul(self._p, X)
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
        if self._p.sparse:
            return self.tosparse().toarray()
        return _linear_xp.toarray(self._p, self.dtype, self._xp)

    def tosparse(self) -> Any:
        """S as a ``size × n`` CSR matrix (sparse families only; SciPy or CuPyX)."""
        p = self._p
        if not p.sparse:
            raise TypeError(f"tosparse: S is dense for method={p.method!r}; use toarray()")
        return _tosparse(p, self.dtype, self._xp)


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
        if is_dask(Y):  # blocks of rows of Sᵀ generated in their own tasks
            return _dask_matmul(self._op._p, Y, adjoint=True)
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
    op = _operator(n, size, method, draw_key(rng), dtype=dtype, xp=xp, **options)
    if size > op._p.n_total:
        raise ValueError(f"size: expected at most {op._p.n_total} (the rows of the whole "
                         f"matrix), got {size}")
    return op


def _operator(n: int, size: int, method: str, key: int, *, dtype: Any = np.float64,
              xp: ModuleType | None = None, **options: Any) -> SketchOperator:
    """The body of :func:`sketch_operator` for validated ``n``, ``size`` (at most ``n_total``),
    ``method`` and an int ``key``: what the package's own algorithms call (no re-validation
    inside their loops; the options are validated, as they are the caller's)."""
    return SketchOperator(_params(method, size, n, key, options), np.dtype(dtype),
                          np if xp is None else xp)


# ---------------------------------------------------------------------------------------------
# the engines: Numba on the CPU, the array-namespace code on CuPy (and as the fallback)


def _apply(p: _Params, X: Any, xp: ModuleType) -> Any:
    """S @ X for validated X (n × k, dense or CSR) on X's device; result dense size × k."""
    return select(xp, cpu=_linear_numba.apply, gpu=_linear_xp.apply,
                  fallback=_linear_xp.apply, what="a linear sketch")(p, X, xp)


def _apply_adjoint(p: _Params, Y: Any, xp: ModuleType) -> Any:
    """Sᵀ @ Y for validated dense Y (size × k)."""
    return select(xp, cpu=_linear_numba.apply_adjoint, gpu=_linear_xp.apply_adjoint,
                  fallback=_linear_xp.apply_adjoint, what="a linear sketch's adjoint")(p, Y, xp)


def _dask_matmul(p: _Params, X: Any, *, adjoint: bool = False) -> Any:
    """``S @ X`` (or ``Sᵀ @ X``) for a dask ``X``, by :mod:`._linear_dask` (lazy)."""
    from ..distributed import check_dask
    from . import _linear_dask

    name = "Y" if adjoint else "X"
    vec = X.ndim == 1
    X = check_dask(X[:, None] if vec else X, name=name, allow_sparse=not adjoint)
    want = p.size if adjoint else p.n
    if X.shape[0] != want:
        what = "the rows of S" if adjoint else "the columns of S"
        raise ValueError(f"{name}: expected {want} rows ({what}), got shape {tuple(X.shape)}")
    out = _linear_dask.apply_adjoint(p, X) if adjoint else _linear_dask.apply(p, X)
    return out[:, 0] if vec else out


def _tosparse(p: _Params, dtype: Any, xp: ModuleType) -> Any:
    """A sparse-family S as CSR: SciPy (Numba-generated) or CuPyX; no other sparse format."""
    return select(xp, cpu=_linear_numba.tosparse, gpu=_linear_xp.tosparse,
                  fallback=_no_sparse_format, what="tosparse")(p, dtype, xp)


def _no_sparse_format(p: _Params, dtype: Any, xp: ModuleType) -> Any:
    raise TypeError(f"tosparse: no sparse format for {xp.__name__}")


# ---------------------------------------------------------------------------------------------
# registration with projkit.sketch


def _make_sketcher(method: str):
    def _sketch(A: Any, size: int, key: int, xp: ModuleType, **options: Any) -> Sketch:
        options = dict(options)
        dense_output = _check_dense_output(options.pop("dense_output", True), method)
        p = _params(method, size, A.shape[0], key, options)
        if not dense_output and is_sparse(A):
            matrix = _sparse_sketch(p, A, xp)
        else:
            matrix = _apply(p, A, xp)
        return Sketch(method=method, size=size, key=key, n_rows=A.shape[0],
                      matrix=matrix, options=p.options(), offset=p.offset)

    return _sketch


def _check_dense_output(dense_output: Any, method: str) -> bool:
    """``dense_output`` (scikit-learn's ``SparseRandomProjection`` name): False asks for a CSR
    ``S @ A`` when ``A`` is sparse; only the sparse families can give one."""
    if not isinstance(dense_output, bool | np.bool_):
        raise TypeError(f"dense_output: expected a bool, got {type(dense_output).__name__}")
    if not dense_output and method not in _SPARSE_CODES:
        raise ValueError(f"dense_output: a sparse result needs a sparse S (method "
                         f"{sorted(_SPARSE_CODES)}), got method={method!r}")
    return bool(dense_output)


def _sparse_sketch(p: _Params, A: Any, xp: ModuleType) -> Any:
    """``S @ A`` as CSR for sparse ``A`` and a sparse-family ``S``: the sparse product of the
    CSR ``S`` (SciPy's SMMP on the CPU, cuSPARSE on CuPy). It stores ``12·nnz`` bytes (float64
    values, int32 indices) against ``8·size·d`` dense, so it pays below about 2/3 density: a
    large ``size`` against the non-zeros per column of ``A``."""
    return linalg.csr(xp, _tosparse(p, A.dtype, xp) @ A)


def _linear_matmul(sa: Sketch, sb: Sketch) -> Any:
    return sa.matrix.T @ sb.matrix


def _linear_merge(sketches: Sequence[Sketch]) -> Sketch:
    total = sketches[0].matrix + 0  # a new array in any library (torch has no .copy())
    for s in sketches[1:]:
        if s.matrix.shape[1] != total.shape[1]:
            raise ValueError("sketches: the blocks have different numbers of columns "
                             f"({total.shape[1]} vs {s.matrix.shape[1]})")
        total = total + s.matrix
    n_rows = sum(s.n_rows for s in sketches)
    offset = min(s.offset for s in sketches)
    opts = dict(sketches[0].options)
    if n_rows == sketches[0].n_total and offset == 0:
        opts.pop("n_total", None)
    return replace(sketches[0], matrix=total, n_rows=n_rows, offset=offset, options=opts)


for _m in LINEAR_METHODS:
    register(_m, sketch=_make_sketcher(_m), matmul=_linear_matmul, merge=_linear_merge,
             linear=True)
