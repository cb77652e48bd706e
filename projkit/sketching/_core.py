"""``projkit.sketch``: one entry point, a registry of methods, and the :class:`Sketch` result.

A sketch compresses the ``n`` rows of an ``n × d`` matrix ``A`` to ``size`` rows so that
products ``AᵀB`` can be estimated from two sketches made with the same method, size and key
(:func:`approx_matmul`). Linear methods store ``S @ A``; sampling methods (coordinated,
threshold) store the sampled rows with what their estimator needs. Each method module registers
itself here with :func:`register`; this module only validates and dispatches.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._backend.estimator import compact_repr
from .._backend.namespace import array_namespace, is_dask, native
from .._backend.random import draw_key
from .._backend.validation import check_input, check_size

__all__ = ["Sketch", "approx_matmul", "merge_sketches", "register", "sketch"]


@dataclass(frozen=True, eq=False)
class Sketch:
    """A sketch of an ``n × d`` matrix ``A`` (frozen; arrays on ``A``'s device).

    Attributes
    ----------
    method : str
        The method that made it (``"gaussian"``, ``"srht"``, ``"countsketch"``, ...).
    size : int
        The sketch size: rows of ``S`` for linear methods, the (target) number of sampled
        rows for sampling methods.
    key : int
        The 64-bit key drawn from ``rng`` that fixes ``S`` or the hash; two sketches combine
        only when their keys agree.
    n_rows : int
        Rows of the sketched matrix (of this block, for a block sketch).
    matrix : array
        ``S @ A`` (``size × d``) for linear methods; the sampled rows of ``A`` for sampling
        methods.
    options : dict
        Method options that change ``S`` (e.g. ``density``, ``nnz_per_column``, ``n_total``).
    offset : int
        First row of this block in the whole matrix (0 unless sketched block by block).
    indices : array or None
        Sampled row indices (sampling methods).
    weights : array or None
        Per-sampled-row data the estimator needs (sampling methods: squared row norms).
    threshold : float or None
        The sampling threshold (τ for priority sampling, T for threshold sampling).

    A sampling sketch of a dask array is lazy: ``matrix``, ``indices`` and ``weights`` are dask
    arrays chunked like the input's rows with unknown (NaN) lengths, and ``threshold`` is a 0-d
    dask array; :meth:`compute` gives the in-memory sketch.
    """

    method: str
    size: int
    key: int
    n_rows: int
    matrix: Any
    options: dict = field(default_factory=dict)
    offset: int = 0
    indices: Any = None
    weights: Any = None
    threshold: float | None = None

    __repr__ = compact_repr  # shapes and dtypes, never the arrays themselves

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`matrix`."""
        return tuple(self.matrix.shape)

    @property
    def nbytes(self) -> int:
        """Bytes the sketch stores (matrix, indices and weights) — for honest comparisons.

        A ``ValueError`` for a lazy sampling sketch of a dask array, whose sample has unknown
        length until computed (``sketch.compute().nbytes``)."""
        total = 0
        for a in (self.matrix, self.indices, self.weights):
            if a is None:
                continue
            if is_dask(a) and any(math.isnan(x) for x in a.shape):
                raise ValueError("nbytes: this sketch of a dask array has a sample of unknown "
                                 "length until computed; use sketch.compute().nbytes")
            if hasattr(a, "nnz") and hasattr(a, "data"):  # sparse storage
                total += a.data.nbytes + a.indices.nbytes + a.indptr.nbytes
            else:
                total += int(a.nbytes)
        return total

    def compute(self, **kwargs: Any) -> Sketch:
        """This sketch with its dask arrays computed (one ``dask.compute`` call, so a sampling
        sketch ranks the rows once for its sample, rows and threshold); ``self`` when nothing
        is lazy. ``kwargs`` go to :func:`dask.compute` (e.g. ``scheduler=``).

        Examples
        --------
        >>> import dask.array as da, numpy as np, projkit
        >>> A = np.random.default_rng(0).standard_normal((100, 3))
        >>> lazy = projkit.sketch(da.from_array(A, chunks=30), 10, method="coordinated", rng=1)
        >>> lazy.matrix.shape
        (nan, 3)
        >>> sk = lazy.compute()
        >>> sk.matrix.shape, bool(np.array_equal(sk.indices,
        ...     projkit.sketch(A, 10, method="coordinated", rng=1).indices))
        ((10, 3), True)
        """
        names = ("matrix", "indices", "weights", "threshold")
        lazy = {k: getattr(self, k) for k in names if is_dask(getattr(self, k))}
        if not lazy:
            return self
        import dask

        values = dict(zip(lazy, dask.compute(*lazy.values(), **kwargs), strict=True))
        if "threshold" in values:
            values["threshold"] = float(values["threshold"])
        return replace(self, **values)

    @property
    def n_total(self) -> int:
        """Rows of the whole matrix this sketch belongs to (``n_rows`` unless blockwise)."""
        return int(self.options.get("n_total", self.n_rows))


@dataclass(frozen=True)
class _Method:
    sketch: Callable[..., Sketch]  # (A, size, key, xp, **options) -> Sketch, unchecked body
    matmul: Callable[[Sketch, Sketch], Any]
    merge: Callable[[Sequence[Sketch]], Sketch]
    linear: bool  # S @ A with S of ``size`` rows (size ≤ n_total); else a row sample


_METHODS: dict[str, _Method] = {}
# modules that register methods, imported on first use (keeps ``import projkit`` light); each
# must exist and register at import: a missing one is an ImportError, not a missing method
_PROVIDERS = ("projkit.sketching.linear", "projkit.sketching.coordinated",
              "projkit.sketching.linf")


def register(name: str, *, sketch: Callable[..., Sketch], matmul: Callable[[Sketch, Sketch], Any],
             merge: Callable[[Sequence[Sketch]], Sketch], linear: bool) -> None:
    """Register a sketching method (used by the method modules at import)."""
    _METHODS[name] = _Method(sketch, matmul, merge, linear)


def _methods() -> dict[str, _Method]:
    for mod in _PROVIDERS:
        importlib.import_module(mod)
    return _METHODS


def _get_method(method: Any) -> _Method:
    methods = _methods()
    if not isinstance(method, str) or method not in methods:
        raise ValueError(f"method: expected one of {sorted(methods)}, got {method!r}")
    return methods[method]


def sketch(A: Any, size: int, *, method: str = "gaussian", rng: Any = None,
           **options: Any) -> Sketch:
    """Sketch the ``n`` rows of ``A`` down to ``size`` rows.

    Parameters
    ----------
    A : array or sparse matrix, shape (n, d)
        NumPy, SciPy sparse, CuPy, CuPyX sparse, or torch (through DLPack). Sparse input is
        never densified whole: ``"countsketch"``, ``"sparse_sign"``, ``"sparse"``,
        ``"gaussian"``, ``"coordinated"`` and ``"threshold"`` touch only its non-zeros;
        ``"srht"`` (and ``"linf"``, whose first stage is an SRHT) transform a fairly dense
        sparse input 256 columns at a time, so they hold at most one dense
        ``n' × 256`` band (``n' = 2^⌈log₂ n⌉``; 2 MiB of float64 per 1024 rows) beyond the
        data and the result. The result lives on ``A``'s device in ``A``'s float dtype.
        A ``dask.array.Array`` (NumPy, SciPy sparse or CuPy chunks, any chunking) gives a
        lazy sketch, chunk-invariant for an int ``rng``: for ``"gaussian"``, ``"countsketch"``,
        ``"sparse_sign"`` and ``"sparse"`` the matrix is a dask array built from one task per
        chunk (each generating its own block of S from the key and the chunk's offset) and a
        tree sum, equal to the in-memory sketch to rounding; for ``"coordinated"`` and
        ``"threshold"`` the sample is lazy too (``matrix``, ``indices`` and ``weights`` are
        dask arrays of unknown length, ``threshold`` a 0-d dask array; :meth:`Sketch.compute`
        computes them together) and is exactly the in-memory one. Computing it takes two
        passes over ``A`` (rank the rows, then gather the sample; a fresh read unless ``A`` is
        persisted), or one for an explicit ``threshold=``. ``"srht"`` and ``"linf"`` raise
        ``ValueError`` on dask arrays.
    size : int
        Rows of the sketch, ``1 <= size <= n``. For ``"threshold"`` it is the *expected*
        number of rows: each row is kept independently, so the sketch has a random number of
        rows with mean ``size`` (about ``size ± 2√size``); ``"coordinated"`` keeps exactly
        ``size``.
    method : {"gaussian", "srht", "countsketch", "sparse_sign", "sparse", "coordinated", \
"threshold", "linf"}
        The sketching distribution. The linear ones compute ``S @ A`` with ``E[SᵀS] = I``.
    rng : None, int or numpy.random.Generator
        SPEC 7. An int is the key itself: the same int gives the same ``S`` (or hash) on every
        call, in every process and on the CPU and GPU, which is what lets separately sketched
        matrices be combined.
    **options
        Method options: ``nnz_per_column`` (``"sparse_sign"``, default 8), ``density``
        (``"sparse"``, default ``1/sqrt(n)``), ``offset`` and ``n_total`` (linear methods: this
        ``A`` is rows ``offset:offset+n`` of a matrix with ``n_total`` rows, so that block
        sketches can be merged with :func:`merge_sketches`), and ``dense_output``
        (``"countsketch"``, ``"sparse_sign"``, ``"sparse"``; default True): False gives a CSR
        ``S @ A`` when ``A`` is sparse (scikit-learn's ``SparseRandomProjection`` option), which
        stores less than the dense result below about 2/3 density (a large ``size``).

    Returns
    -------
    Sketch

    Examples
    --------
    >>> import numpy as np, projkit
    >>> A = np.random.default_rng(0).standard_normal((1000, 5))
    >>> sk = projkit.sketch(A, 200, method="countsketch", rng=42)
    >>> sk.matrix.shape, sk.key
    ((200, 5), 42)
    >>> bool(np.allclose(projkit.approx_matmul(sk, sk), A.T @ A, rtol=0.3, atol=150))
    True
    """
    if is_dask(A):  # the blockwise engines; A is never made one in-memory array
        return _sketch_dask(A, size, method, rng, options)
    A, xp, back = check_input(A, name="A")
    n = A.shape[0]
    if n == 0 and options.get("n_total") is None:
        raise ValueError(f"A: expected at least one row to sketch, got an empty array of shape "
                         f"{tuple(A.shape)}")
    spec = _get_method(method)
    if spec.linear:  # the sampling methods check size against their own options
        n_total = options.get("n_total")
        upper = n_total if isinstance(n_total, int) and n_total >= n else n
        size = check_size(size, upper=upper, upper_name="the rows of A")
    key = draw_key(rng)
    sk = spec.sketch(A, size, key, xp, **options)
    if back is not None and sk.matrix is not None:
        converted = back(sk.matrix)
        if converted is not sk.matrix:
            sk = replace(sk, matrix=converted)
    return sk


def _sketch_dask(A: Any, size: int, method: Any, rng: Any, options: dict) -> Sketch:
    """:func:`sketch` of a ``dask.array.Array``: linear methods in
    :mod:`._linear_dask` (lazy, one task per chunk and a tree sum), sampling methods in
    :mod:`._coordinated_dask` (a lazy sample of unknown length)."""
    from ..distributed import check_dask
    from . import _coordinated_dask, _linear_dask

    A = check_dask(A, name="A")
    spec = _get_method(method)
    if spec.linear:
        _linear_dask.check_method(method)
        n_total = options.get("n_total")
        n = A.shape[0]
        upper = n_total if isinstance(n_total, int) and n_total >= n else n
        size = check_size(size, upper=upper, upper_name="the rows of A")
        return _linear_dask.sketch_dask(method, A, size, draw_key(rng), options)
    if method not in ("coordinated", "threshold"):
        raise ValueError(f"method: {method!r} is not available for dask arrays; use one of "
                         f"{[*_linear_dask.DASK_METHODS, 'coordinated', 'threshold']}")
    return _coordinated_dask.sketch_dask(method, A, size, draw_key(rng), options)


def _check_compatible(sa: Sketch, sb: Sketch, *, what: str) -> None:
    if not isinstance(sa, Sketch) or not isinstance(sb, Sketch):
        raise TypeError(f"{what}: expected two Sketch objects, got "
                        f"{type(sa).__name__} and {type(sb).__name__}")
    for attr in ("method", "size", "key"):
        a, b = getattr(sa, attr), getattr(sb, attr)
        if a != b:
            raise ValueError(f"{what}: the sketches differ in {attr} ({a!r} vs {b!r}); sketch "
                             "both inputs with the same method, size and int rng")
    if sa.n_total != sb.n_total:
        raise ValueError(f"{what}: the sketched matrices have different numbers of rows "
                         f"({sa.n_total} vs {sb.n_total})")
    if sa.options != sb.options:
        raise ValueError(f"{what}: the sketches were made with different options "
                         f"({sa.options} vs {sb.options})")


def approx_matmul(sketch_a: Sketch, sketch_b: Sketch) -> Any:
    """Estimate ``A.T @ B`` from sketches of ``A`` (n × d₁) and ``B`` (n × d₂).

    Both sketches must come from the same method, size and key (an int ``rng`` shared by both
    sides) and from matrices with the same number of rows; a :class:`ValueError` says which of
    these differs. Linear sketches give ``(SA)ᵀ(SB)``, unbiased since ``E[SᵀS] = I``; sampling
    sketches give their own unbiased estimator (see :mod:`projkit.sketching.coordinated`).
    Sketches of dask arrays give a lazy dask result (a tree sum over the sketch's chunks).

    Examples
    --------
    >>> import numpy as np, projkit
    >>> rng = np.random.default_rng(1)
    >>> A, B = rng.standard_normal((500, 3)), rng.standard_normal((500, 2))
    >>> sa = projkit.sketch(A, 100, method="gaussian", rng=7)
    >>> sb = projkit.sketch(B, 100, method="gaussian", rng=7)
    >>> projkit.approx_matmul(sa, sb).shape
    (3, 2)
    """
    _check_compatible(sketch_a, sketch_b, what="approx_matmul")
    spec = _get_method(sketch_a.method)
    if sketch_a.n_rows != sketch_a.n_total or sketch_b.n_rows != sketch_b.n_total:
        raise ValueError("approx_matmul: a sketch covers only a block of rows; merge the "
                         "blocks with projkit.merge_sketches first")
    array_namespace(sketch_a.matrix, sketch_b.matrix)  # same library (raises otherwise)
    if is_dask(sketch_a.matrix):  # lazy products of the chunked sketches
        if spec.linear:
            from ..distributed import transpose_matmul

            return transpose_matmul(sketch_a.matrix, sketch_b.matrix)
        from ._coordinated_dask import matmul

        return matmul(sketch_a, sketch_b)
    # torch / other Array-API matrices: compute on zero-copy NumPy/CuPy views, convert back
    ma, back = native(sketch_a.matrix)
    mb, _ = native(sketch_b.matrix)
    if ma is not sketch_a.matrix or mb is not sketch_b.matrix:
        sketch_a, sketch_b = replace(sketch_a, matrix=ma), replace(sketch_b, matrix=mb)
    return back(spec.matmul(sketch_a, sketch_b))


def merge_sketches(sketches: Sequence[Sketch]) -> Sketch:
    """Combine sketches of disjoint row blocks of one matrix into the sketch of the whole.

    Each block must be sketched with the same method, size and int ``rng``, and (for linear
    methods) with ``offset=`` its first row and ``n_total=`` the rows of the whole matrix;
    the merged sketch equals sketching the whole matrix at once (to rounding of the sums).

    Examples
    --------
    >>> import numpy as np, projkit
    >>> A = np.random.default_rng(2).standard_normal((300, 4))
    >>> parts = [projkit.sketch(A[:100], 50, method="sparse_sign", rng=3, offset=0, n_total=300),
    ...          projkit.sketch(A[100:], 50, method="sparse_sign", rng=3, offset=100, n_total=300)]
    >>> whole = projkit.sketch(A, 50, method="sparse_sign", rng=3)
    >>> bool(np.allclose(projkit.merge_sketches(parts).matrix, whole.matrix))
    True
    """
    sketches = list(sketches)
    if not sketches:
        raise ValueError("sketches: expected at least one Sketch, got an empty sequence")
    first = sketches[0]
    for other in sketches[1:]:
        _check_compatible(first, other, what="merge_sketches")
    spans = sorted((s.offset, s.offset + s.n_rows) for s in sketches)
    for (a0, a1), (b0, _) in zip(spans, spans[1:], strict=False):
        if b0 < a1:
            raise ValueError(f"sketches: row blocks overlap ([{a0}, {a1}) and one starting at "
                             f"{b0}); merge sketches of disjoint blocks only")
    if spans[-1][1] > first.n_total:
        raise ValueError(f"sketches: a block ends at row {spans[-1][1]} beyond n_total="
                         f"{first.n_total}")
    spec = _get_method(first.method)
    sketches.sort(key=lambda s: s.offset)  # the blocks in row order: the samples stay sorted
    if any(is_dask(s.matrix) for s in sketches):
        if spec.linear:
            from ._linear_dask import merge

            return merge(sketches)  # a lazy tree sum
        from ._coordinated_dask import merge as merge_samples

        return merge_samples(sketches)  # a lazy merge of the samples
    return spec.merge(sketches)
