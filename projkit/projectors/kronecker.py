"""Dynamic Kronecker projection maintenance: ``P = Bᵀ(BBᵀ)⁻¹B`` with ``B = A(W ⊗ I)`` or
``B = A(W^{1/2} ⊗ W^{1/2})`` while ``W`` receives low-rank updates.

This is the data structure of Song, Yang, Yang & Zhang [1]_ (the Kronecker-product version of the
projection maintenance behind fast interior-point methods [2]_): ``A`` (``m × n²``) holds the
vectorized constraint matrices ``Aᵢ`` of a semidefinite program as rows, ``W`` (``n × n``) is a
positive semidefinite weight that changes by a low-rank symmetric ``U diag(c) Uᵀ`` at each
iteration, and every iteration asks for ``P h``.

Vectorization
-------------
projkit's ``vec`` is NumPy's row-major ``ravel``: the row ``i`` of ``A`` is ``Aᵢ.ravel()`` and a
query ``h`` is ``H.ravel()``. ``B`` is then literally ``A @ numpy.kron(W, I)`` (or
``A @ numpy.kron(S, S)`` with ``S = W^{1/2}``) and is applied without ever forming the
``n² × n²`` Kronecker product through the identity ``(P ⊗ Q) vec(X) = vec(P X Qᵀ)`` (row-major),
so ``(W ⊗ I) vec(X) = vec(W X)`` and ``(S ⊗ S) vec(X) = vec(S X S)``. Because ``B`` is the same
*matrix* in every convention, data vectorized column-major (the paper's ``vec``, Fortran order)
can be passed unchanged: only the internal reshapes depend on the convention, and they are
consistent with ``numpy.kron``. (In column-major terms the same identity reads
``(W ⊗ I) vec(X) = vec(X Wᵀ)``.)
"""

from __future__ import annotations

import contextlib
import math
import warnings
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import check_array, check_input, check_positive_int, check_rng, linalg, select
from .._backend.namespace import array_namespace, is_sparse
from .._backend.threads import serial_blas
from ._kronecker_lapack import CpuEngine
from ._kronecker_linalg import pcg, spectral_norm
from ._kronecker_xp import XpEngine

__all__ = ["KroneckerProjection"]

_FORMS = ("w_kron_i", "sqrt_kron_sqrt")
_MODES = ("exact", "lazy")
# the old name of "lazy" (its plain queries never used a sketch); accepted with a warning
_DEPRECATED_MODES = {"sketched": "lazy"}
# how many times slower a flop of the Numba up/downdate is than a flop of a BLAS-3 product
# (a rough, machine-independent ratio: level-2 loop vs blocked GEMM/POTRF)
_LEVEL2_PENALTY = 8.0
# flop-equivalent cost of one CG iteration per m² (3m² multiply-adds, memory-bound)
_CG_ITER = 48.0
# lazy mode: a drift of at most this rank is refreshed whole (a partial refresh would save
# little of the m²·2n·rank update and cost several n × n eigendecompositions to certify)
_PARTIAL_MIN_RANK = 8


def _engine_of(xp: ModuleType) -> Any:
    """The engine that serves ``xp`` arrays (chosen once per structure): SciPy BLAS and the
    Numba up/downdate on NumPy, plain products and refactoring on CuPy."""
    eng = select(xp, cpu=CpuEngine, gpu=XpEngine, what="KroneckerProjection")
    return eng(xp)


# ----------------------------------------------------------------------------- the structure
class KroneckerProjection:
    """Maintain ``P = Bᵀ(BBᵀ)⁻¹B``, ``B = A(W ⊗ I)`` or ``A(W^{1/2} ⊗ W^{1/2})``, under low-rank
    updates of ``W``, and answer ``P h`` fast.

    The ``n² × n²`` Kronecker product is never formed (see the module docstring for the
    row-major ``vec`` convention: ``B`` equals ``A @ numpy.kron(W, I)`` as a matrix).

    Parameters
    ----------
    A : (m, n²) array or sparse matrix
        Row ``i`` is ``vec(Aᵢ)`` (``Aᵢ.ravel()``). ``B`` must have full row rank ``m``. Sparse
        ``A`` (SciPy or CuPyX; SDP constraints often are) is never densified: every product
        with it is sparse × dense, costing ``nnz(A)`` per column where dense ``A`` costs
        ``mn²`` (``B`` and ``BBᵀ`` themselves are dense).
    W : (n, n) array
        Symmetric positive semidefinite weight.
    form : {"w_kron_i", "sqrt_kron_sqrt"}
        ``B = A(W ⊗ I)`` or ``B = A(W^{1/2} ⊗ W^{1/2})``.
    mode : {"exact", "lazy"}
        ``"exact"``: every update refreshes the maintained factorization of ``BBᵀ``, queries are
        exact to rounding. ``"lazy"``: the paper's lazy updates; the factorization follows a
        lagging ``W̃`` and is refreshed only when ``W`` has drifted so far that the certified
        bound ``‖P(W) − P(W̃)‖₂ ≤ eps`` would fail (see Notes). A plain ``query(h)`` in this
        mode is an *exact* solve with the lagging factorization (*lazy-exact*: no sketch is
        involved); only set queries ``query(h, coords=...)`` use the paper's sketches. The old
        name ``"sketched"`` is accepted with a ``DeprecationWarning``.
    eps : float, optional
        Accuracy parameter of the lazy mode, in ``(0, 1)`` (default 0.05): every plain answer
        satisfies ``‖query(h) − P h‖₂ ≤ eps ‖h‖₂``. Must be None in exact mode.
    sketch_size : int, optional
        Lazy mode: rows ``b`` of each query sketch of the set-query pool (used by
        ``query(h, coords=...)``). Default: the largest ``b`` with ``b ≤ ⌈8/eps²⌉`` (where one
        sketch's estimate of a coordinate is within ``eps‖P̃h‖₂`` with probability ≥ 3/4),
        ``b ≤ n²/8`` (a sketch must compress) and a pool of at most 512 MiB
        (``2·K·b·n²`` entries: the sketches and their products); e.g. ``b = 34`` at
        ``n = 128`` and ``b = 136`` at ``n = 64`` in float64 with the default ``K = 60``. The
        per-estimate accuracy is then ``√(8/b)`` (attribute ``set_query_accuracy``), coarser
        than ``eps`` when the memory cap binds. A pool refresh holds temporaries besides the
        pool: the peak measured by ``benchmarks/compare/kronecker_sketched.py`` (m = 500) was
        796 MiB at ``n = 64`` and 773 MiB at ``n = 128``, within the stated 1 GiB.
    robust : dict, optional
        Lazy mode: the pool's other sizes, passed to its ``RobustSetQuery`` —
        ``per_query`` (``L``, default 15), ``n_sketches`` (``K``, default ``L⌈√T⌉``),
        ``max_queries`` (``T``, default 16: the pool is redrawn after ``T`` set queries),
        ``dp_epsilon`` (``ε₀`` of each private median, default 8) and ``resolution``
        (``γ``, default ``eps/4``). These defaults are *calibrated*, not the parameters of the
        adaptive-robustness argument (see Notes). The pool is allocated at the first set query;
        one that would exceed 1 GiB (an explicit ``sketch_size`` or ``robust``) is refused with
        a ``ValueError``.
    rng : None, int or numpy.random.Generator, optional
        SPEC 7 seed of the query sketches, the per-query subsets and the private medians.

    Attributes
    ----------
    W : (n, n) array
        The current weight (after all updates).
    error_bound : float
        A certified bound on ``‖P_answered − P‖₂`` for the current state (0.0 in exact mode).
    set_query_accuracy : float or None
        Lazy mode: ``√(8/b)``, the radius (in units of ``‖P̃h‖₂``) within which one sketch's
        estimate of a coordinate falls with probability ≥ 3/4; None in exact mode.
    stats : dict
        Counts of what the updates did: ``"updates"``, ``"lowrank"`` (Cholesky up/downdate),
        ``"refactor"`` (``BBᵀ`` updated by a low-rank product and refactored), ``"recompute"``
        (rebuilt from scratch), ``"lazy"`` (lazy mode: update absorbed without touching the
        factorization).

    Raises
    ------
    numpy.linalg.LinAlgError
        ``W`` not positive semidefinite, or ``BBᵀ`` numerically singular (``B`` without full row
        rank: ``A`` rank-deficient, ``m > n²``, or ``W`` of too low rank). The pseudo-inverse
        projector onto ``range(Bᵀ)`` is still available in that case through
        ``projkit.Projector.onto(Bᵀ)``; this structure refuses rather than silently regularize.
    ValueError
        Shapes that do not fit (``A`` must have a square number ``n²`` of columns, ``W`` must be
        ``n × n`` and symmetric), unknown ``form``/``mode``, ``eps`` out of range.

    Notes
    -----
    **Exact mode.** The structure keeps ``M = BBᵀ`` (``m × m``) and its Cholesky factor ``L``.
    For ``B = A(W ⊗ I)``, ``M = A(W² ⊗ I)Aᵀ``, i.e. ``M_ij = tr(Aᵢᵀ W² Aⱼ)``. An update
    ``W' = W + UCUᵀ`` (``C = diag(c)``, ``k`` columns) changes ``W²`` by
    ``UXᵀ + XUᵀ`` with ``X = WUC + ½ UC(UᵀU)C``, a symmetric matrix of rank ``≤ 2k`` whose
    eigen-form ``Σ d_l q_l q_lᵀ`` comes from a QR of ``[U X]``; hence
    ``ΔM = Σ_l d_l G_l G_lᵀ`` with ``(G_l)_{i,:} = q_lᵀ Aᵢ`` (``m × n``): a symmetric update of
    rank ``≤ 2kn``. For ``B = A(W^{1/2} ⊗ W^{1/2})``, ``M_ij = tr(Aᵢᵀ W Aⱼ W)`` and
    ``W'⊗W' − W⊗W = Δ⊗Z + Z⊗Δ`` with ``Z = ½(W + W')`` (positive semidefinite), so
    ``ΔM = Σ_l c_l (G_l Z G_lᵀ + H_l Z H_lᵀ)`` with ``(G_l)_{i,:} = u_lᵀAᵢ``,
    ``(H_l)_{i,:} = (Aᵢ u_l)ᵀ``: again rank ``≤ 2kn``. The ``G_l`` of all ``l`` come from one
    wide ``(2k × n) · (n × mn)`` product (one pass over ``A``). Each update then picks the
    cheapest of (a) rank-``r`` Cholesky up/downdates of ``L`` (:func:`projkit.cholesky_update`,
    ``≈ 2rm²`` level-2 flops), (b) ``M ← M + ΔM`` by two in-place ``syrk`` (``≈ rm²``) and a
    fresh Cholesky (``m³/3``) — for large ``m`` the refactor is deferred and queries solve with
    CG preconditioned by the previous factor until CG has cost as much as a factorization — or
    (c) :meth:`recompute` from scratch (``B`` by the identity, ``BBᵀ``, Cholesky:
    ``≈ m²n² + 2mn³ + m³/3``), by a flop count. A query costs two passes over ``A``, two
    ``n × n`` products per vector and two triangular solves: ``O(mn² + n³ + m²)``.
    (Woodbury's identity gives the same ``ΔM`` corrections for ``M⁻¹``, but its correction's
    rank ``2kn`` exceeds ``m`` quickly, so an updated factor is maintained instead.)

    *What this buys.* Against recomputing ``P`` every iteration (``2mn³`` for ``B``, ``m²n²``
    for ``BBᵀ``, ``m³/3`` for its Cholesky) an exact update must still form a ``ΔM`` of rank
    ``2kn`` (``m²·2kn`` flops) and factor or solve with the new ``M`` (``m³/3``), so no method
    that maintains a factorization of ``BBᵀ`` can beat the recomputation by more than
    ``(2mn³ + m²n² + m³/3) / (2kn·m² + m³/3 + 4kmn²)`` in flops: ``7.8×`` at ``n = 64``,
    ``m = 500``, ``k = 1..5`` (the workload of ``benchmarks/compare/kronecker.py``, which
    prints this ceiling beside the measured ratio). The gain grows like ``n/(2k)`` when ``m`` is
    small against ``n²``. Between updates the structure runs its small and level-2 BLAS calls
    on one thread (:func:`projkit._backend.threads.serial_blas`) when ``m ≤ 1500``. The lazy
    mode is what goes beyond the ceiling: between refreshes an update costs
    ``O(n³)`` and a query ``O(mn² + m²)``.

    **Lazy mode: what of [1]_ is implemented.** Implemented: the *lazy update* of the
    weight — the factorization is built for ``W̃`` and only refreshed when the drift
    ``W − W̃`` is large — and, as in the paper, a refresh moves ``W̃`` only along the drift's
    largest eigen-directions (the fewest that bring the bound below ``eps/2``, so that the next
    updates stay lazy), through the low-rank update of the exact mode. The paper's
    eigenvalue-wise ``ε_mp`` test on ``W̃`` is replaced by a spectral test that certifies the
    projection directly. With ``W = (I + F)W̃`` on ``range(W̃)``,
    ``F = (W − W̃)W̃⁺``, the row space of ``B(W)`` is the image of that of ``B(W̃)`` under
    ``T = I + F ⊗ I`` (form ``w_kron_i``) or ``T = (I + G) ⊗ (I + G)`` with
    ``G = W^{1/2}W̃^{+1/2} − Π̃`` (form ``sqrt_kron_sqrt``, ``Π̃`` the projector onto
    ``range(W̃)``); with ``δ = ‖T − I‖₂`` (``‖F‖₂``, resp. ``≤ 2‖G‖₂ + ‖G‖₂²``), the sine of the
    largest principal angle obeys ``‖P(W) − P(W̃)‖₂ ≤ δ/(1 − δ)``. The structure computes this
    bound after every update (``O(n³)``) and refreshes when it exceeds ``eps`` (or when ``W``
    leaves ``range(W̃)``). Also implemented: the *query sketches* and the *robust set query*.
    ``query(h, coords=C)`` answers coordinates of ``P h`` from a pool of ``K`` Gaussian sketches
    ``R_j`` (``b × n²``) whose products ``S_j = R_j P̃`` are recomputed (one block query of
    ``K·b`` columns) whenever ``W̃`` is refreshed; a set query draws ``L`` of the ``K``
    sketches, forms the coordinate-wise embedding estimates ``R_j[:, C]ᵀ(S_j h)`` (cost
    ``L·b·(n² + |C|)``, against ``O(mn² + m²)`` for the full lazy answer) and releases, per
    coordinate, an ``ε₀``-differentially private median (the exponential mechanism on a grid),
    the paper's device for reusing sketches against adaptively chosen ``h``
    (:class:`projkit.projectors._robust_query.RobustSetQuery` states the argument). The
    argument needs the per-query privacy ``|C|ε₀ ≤ 1`` for its subsampling amplification, so
    ``ε₀ ≤ 1/|C|``, ``L`` growing like ``|C| log(T|C|/δ)`` and ``K`` like ``L|C|√T`` up to
    logarithms; :func:`projkit.projectors._robust_query.robust_parameters` with
    ``constants="theorem", n_coords=|C|`` gives them (``K ≈ 10⁶`` sketches already at
    ``|C| = 1``), which no pool within the memory bound can hold. The defaults here
    (``L = 15``, ``K = L⌈√T⌉ = 60``, ``ε₀ = 8``, a pool that does not grow with ``|C|``) are
    *calibrated*: they violate ``|C|ε₀ ≤ 1`` by a factor ``8|C|`` and carry **no** guarantee
    against an adaptive adversary; what holds for them is the non-adaptive bound below and
    the ``ε₀``-DP of each release. **Not implemented:** the paper's eigenvalue-wise
    ``ε_mp`` bookkeeping (replaced by the spectral certificate above), fast rectangular matrix
    multiplication in the refresh, sketched plain queries (a plain query is the lazy-exact
    solve), and a pool with the proof's constants.
    **Guarantees that hold:** without ``coords`` the answers are deterministic functions of
    the update sequence, and ``‖query(h) − P h‖₂ ≤ eps‖h‖₂`` for *every* ``h`` and every update
    sequence, adaptive adversaries included (no randomness is involved). With ``coords``, for
    queries chosen independently of the pool, each coordinate is within
    ``error_bound·‖h‖₂ + √(8/b)‖P̃h‖₂ + (γ/2)‖h‖₂`` of ``(P h)_i`` except with a probability
    that the median of ``L`` makes small (the defaults measured no failure in 12 960
    releases); each released coordinate is ``ε₀``-DP with respect to one sketch of the pool.
    ``benchmarks/compare/kronecker_sketched.py`` measures the coordinate errors against this
    bound at ``n = 64`` and ``128``. A set query costs ``L·b·n²`` against ``O(mn² + m²)`` for
    the full lazy answer, so it pays only when ``L·b ≲ 2m``; a pool refresh (at every refresh
    of ``W̃``) costs one block query of ``K·b`` columns.

    References
    ----------
    .. [1] Z. Song, X. Yang, Y. Yang and L. Zhang, "Sketching Meets Differential Privacy: Fast
       Algorithm for Dynamic Kronecker Projection Maintenance", ICML 2023, arXiv:2210.11542.
    .. [2] M. B. Cohen, Y. T. Lee and Z. Song, "Solving linear programs in the current matrix
       multiplication time", STOC 2019.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> rng = np.random.default_rng(0)
    >>> n, m = 4, 6
    >>> A = rng.standard_normal((m, n * n)); W = np.eye(n)
    >>> kp = projkit.KroneckerProjection(A, W)
    >>> u = rng.standard_normal(n)
    >>> kp.update(u, 0.5)                       # W <- W + 0.5 u uᵀ
    >>> h = rng.standard_normal(n * n)
    >>> B = A @ np.kron(kp.W, np.eye(n))        # dense reference, small n only
    >>> Ph = B.T @ np.linalg.solve(B @ B.T, B @ h)
    >>> bool(np.allclose(kp.query(h), Ph))
    True
    """

    def __init__(self, A: Any, W: Any, *, form: str = "w_kron_i", mode: str = "exact",
                 eps: float | None = None, sketch_size: int | None = None,
                 robust: dict[str, Any] | None = None, rng: Any = None):
        A, xp, _ = check_input(A, name="A", min_shape=(1, 1))
        W, _, _ = check_input(W, name="W", accept_sparse=False, min_shape=(1, 1))
        array_namespace(A, W)
        eng = _engine_of(xp)
        m, n2 = A.shape
        n = math.isqrt(n2)
        if n * n != n2:
            raise ValueError(
                f"A: expected n² columns (rows are vec(Aᵢ) of n × n matrices), got {n2}"
            )
        if m > n2:
            raise np.linalg.LinAlgError(
                f"A: {m} rows > n² = {n2} columns, so B cannot have full row rank and BBᵀ is "
                "singular; P = Bᵀ(BBᵀ)⁻¹B is undefined — use projkit.Projector.onto(B.T) for "
                "the pseudo-inverse projector onto range(Bᵀ)"
            )
        if tuple(W.shape) != (n, n):
            raise ValueError(f"W: expected shape ({n}, {n}) to match A, got {tuple(W.shape)}")
        if form not in _FORMS:
            raise ValueError(f"form: expected one of {_FORMS}, got {form!r}")
        if mode in _DEPRECATED_MODES:
            warnings.warn(f"mode={mode!r} is deprecated: its plain queries are lazy-exact, not "
                          f"sketched; use mode={_DEPRECATED_MODES[mode]!r}", DeprecationWarning,
                          stacklevel=2)
            mode = _DEPRECATED_MODES[mode]
        if mode not in _MODES:
            raise ValueError(f"mode: expected one of {_MODES}, got {mode!r}")
        if mode == "exact":
            if eps is not None:
                raise ValueError("eps: only the lazy mode takes an accuracy parameter")
            if sketch_size is not None or robust is not None:
                raise ValueError("sketch_size, robust: only the lazy mode keeps query "
                                 "sketches (exact set queries need none)")
        else:
            eps = 0.05 if eps is None else eps
            if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps < 1:
                raise ValueError(f"eps: expected a float in (0, 1), got {eps!r}")
        dt = np.result_type(np.dtype(A.dtype), np.dtype(W.dtype))
        A = A.astype(dt) if is_sparse(A) and A.dtype != dt else A.astype(dt, copy=False)
        W = W.astype(dt, copy=False)
        self._xp = xp
        self._eng = eng
        self._dtype = dt
        self._m, self._n = m, n
        self.form, self.mode = form, mode
        self.eps = None if eps is None else float(eps)
        self._pool_options = self._check_pool_options(sketch_size, robust, n2) \
            if mode == "lazy" else None
        # Chebyshev radius of one sketch's estimate, in units of ‖P̃h‖₂ (probability ≥ 3/4)
        self.set_query_accuracy = (math.sqrt(8.0 / self._pool_options["sketch_size"])
                                   if self._pool_options is not None else None)
        self._rng = check_rng(rng)
        self._pool: Any = None
        self._pool_version = -1
        self._fversion = 0
        self._A = A
        # Aᵢ side by side: _Ar[a, i·n + b] = Aᵢ[a, b], so [Qᵀ Aᵢ]ᵢ is one wide (p × n × mn) GEMM
        # (much faster in BLAS than the skinny (mn × n × p) one); _Ac[b, i·n + a] = Aᵢ[a, b]
        # gives [Qᵀ Aᵢᵀ]ᵢ for the sqrt ⊗ sqrt form
        self._sparse = is_sparse(A)
        if self._sparse:
            # sparse A is never densified: Â (rows (i, a), columns b) and its in-block
            # transpose Âᵗ (rows (i, b), columns a) give B = [W Aᵢ] or [S Aᵢ S] as sparse × dense
            coo = A.tocoo()
            i, a, b = coo.row, coo.col // n, coo.col % n
            coo_matrix = linalg.sparse_module(xp).coo_matrix
            self._Ahat = coo_matrix((coo.data, (i * n + a, b)), shape=(m * n, n)).tocsr()
            self._AhatT = coo_matrix((coo.data, (i * n + b, a)), shape=(m * n, n)).tocsr()
        else:
            A3 = xp.reshape(A, (m, n, n))
            self._Ar = xp.reshape(xp.ascontiguousarray(A3.transpose(1, 0, 2)), (n, m * n))
            if form == "sqrt_kron_sqrt":
                self._Ac = xp.reshape(xp.ascontiguousarray(A3.transpose(2, 0, 1)), (n, m * n))
        W = self._check_symmetric(W, "W")
        lam, Q = self._check_psd(W, "W")
        self._W = W
        self._Weig = (lam, Q)
        self.stats = {"updates": 0, "lowrank": 0, "refactor": 0, "recompute": 0, "lazy": 0,
                      "deferred": 0, "pcg_iterations": 0, "set_queries": 0}
        self.error_bound = 0.0
        self._recompute_body()

    # ------------------------------------------------------------------ properties
    @property
    def W(self) -> Any:
        """The current weight ``W`` (a copy)."""
        return self._W.copy()

    @property
    def shape(self) -> tuple[int, int]:
        """``(n², n²)``: the shape of ``P``."""
        return (self._n * self._n, self._n * self._n)

    def __repr__(self) -> str:
        return (f"KroneckerProjection(m={self._m}, n={self._n}, form={self.form!r}, "
                f"mode={self.mode!r}, eps={self.eps})")

    # ------------------------------------------------------------------ checks
    def _check_symmetric(self, W: Any, name: str) -> Any:
        xp = self._xp
        scale = float(xp.max(xp.abs(W))) if W.size else 0.0
        asym = float(xp.max(xp.abs(W - W.T))) if W.size else 0.0
        if asym > 100 * self._n * linalg.eps(self._dtype) * max(scale, 1e-300):
            raise ValueError(f"{name}: expected a symmetric matrix (max |W - Wᵀ| = {asym:.3g})")
        return (W + W.T) / 2

    def _serial(self) -> Any:
        """One BLAS thread: at the sizes where this structure pays, its calls are small or
        level-2 (see :func:`projkit._backend.threads.serial_blas`); a large ``m`` keeps the
        threads for its ``m × m`` factorizations."""
        if self._m > 1500:
            return contextlib.nullcontext()
        return serial_blas(self._xp)

    def _psd_eig(self, W: Any, what: str) -> Any:
        """``_check_psd``, or ``None`` (eigenpairs not needed) when a Cholesky factorization
        proves ``W`` positive definite and the form (``w_kron_i``) needs no square root: an
        ``n × n`` Cholesky is ~20× cheaper than ``eigh``, and the eigenpairs are computed only
        if ``W`` becomes the factored weight of the lazy mode."""
        if self.form == "w_kron_i":
            try:
                linalg.cholesky(self._xp, W, clean=False)
                return None
            except np.linalg.LinAlgError:
                pass
        return self._check_psd(W, what)

    def _check_psd(self, W: Any, what: str) -> tuple[Any, Any]:
        lam, Q = self._eng.eigh(W)
        lmax = float(self._xp.max(self._xp.abs(lam)))
        lmin = float(lam[0])
        if lmin < -100 * self._n * linalg.eps(self._dtype) * lmax:
            raise np.linalg.LinAlgError(
                f"{what} is not positive semidefinite (smallest eigenvalue {lmin:.3g}, "
                f"largest {lmax:.3g})"
            )
        return lam, Q

    # ------------------------------------------------------------------ B applied
    def _sqrt_from_eig(self, lam: Any, Q: Any, power: float) -> Any:
        """``Q diag(λ₊^power) Qᵀ`` (powers of the positive part; λ below rank tolerance → 0)."""
        xp = self._xp
        lmax = float(xp.max(xp.abs(lam))) if lam.size else 0.0
        tol = 100 * self._n * linalg.eps(self._dtype) * lmax
        keep = lam > tol
        v = xp.where(keep, xp.abs(lam), 1) ** power
        v = xp.where(keep, v, 0)
        return (Q * v) @ Q.T

    def _set_factored_weight(self, W: Any, eig: tuple[Any, Any]) -> None:
        """Record the weight the factorization represents (``W`` or the lagging ``W̃``)."""
        parts = None
        if self.mode == "lazy" and eig is None and self.form == "w_kron_i":
            parts = self._pd_parts(W)
        if eig is None and (self.form == "sqrt_kron_sqrt" or parts is None and
                            self.mode == "lazy"):
            eig = self._check_psd(W, "W")
        self._Wf = W
        self._Wf_eig = eig
        self._fversion = getattr(self, "_fversion", 0) + 1      # the set-query pool is stale
        if self.form == "sqrt_kron_sqrt":
            self._Sf = self._sqrt_from_eig(*eig, 0.5)
        if self.mode == "lazy":
            self._Wf_parts = parts if parts is not None else self._base_parts(eig)

    def _pd_parts(self, W: Any) -> Any:
        """``_base_parts`` of a positive definite ``W̃`` (form ``w_kron_i``) from a Cholesky
        factor, ~10× cheaper than ``eigh``: ``(W̃⁻¹, I)``; None when ``W̃`` is not PD."""
        xp = self._xp
        try:
            L = linalg.cholesky(xp, W, clean=False)
        except np.linalg.LinAlgError:
            return None
        eye = xp.eye(self._n, dtype=self._dtype)
        inv = linalg.cho_solve(xp, L, eye)
        return (inv + inv.T) / 2, eye

    def _base_parts(self, eig: tuple[Any, Any]) -> tuple[Any, Any]:
        """What the lazy bound needs of a base weight ``W̃``: ``(W̃⁺ or W̃^{+1/2}, Π̃)``."""
        lam, Q = eig
        power = -1.0 if self.form == "w_kron_i" else -0.5
        lmax = float(self._xp.max(self._xp.abs(lam)))
        Qk = Q[:, lam > 100 * self._n * linalg.eps(self._dtype) * lmax]
        return self._sqrt_from_eig(lam, Q, power), Qk @ Qk.T

    def _mats(self, H: Any) -> tuple[Any, int]:
        """``(n², p)`` → ``(n, n, p)`` views."""
        p = H.shape[1]
        return self._xp.reshape(H, (self._n, self._n, p)), p

    def _kron_apply(self, H: Any) -> Any:
        """``K H`` with ``K = W̃ ⊗ I`` or ``S̃ ⊗ S̃`` (``H`` is ``n² × p``)."""
        xp, n = self._xp, self._n
        X, p = self._mats(H)
        if self.form == "w_kron_i":
            # (W ⊗ I) vec(X) = vec(W X): contract the row index of every X
            return xp.reshape(self._Wf @ xp.reshape(X, (n, n * p)), (n * n, p))
        S = self._Sf
        Y = xp.reshape(S @ xp.reshape(X, (n, n * p)), (n, n, p))          # S X
        Y = (Y.transpose(0, 2, 1) @ S).transpose(0, 2, 1)                   # (S X) S
        return xp.reshape(xp.ascontiguousarray(Y), (n * n, p))

    def _B_dense(self) -> Any:
        """``B`` for the factored weight, by the identity (``m × n²``)."""
        xp, m, n = self._xp, self._m, self._n
        if self._sparse:
            if self.form == "w_kron_i":
                # (Âᵗ W)[(i, b), a] = Σ_a' Aᵢ[a', b] W[a', a] = (W Aᵢ)[a, b]
                T = xp.reshape(self._AhatT @ self._Wf, (m, n, n)).transpose(0, 2, 1)
                return xp.reshape(xp.ascontiguousarray(T), (m, n * n))
            T = xp.reshape(self._Ahat @ self._Sf, (m, n, n))          # Aᵢ S
            return xp.reshape(xp.matmul(self._Sf, T), (m, n * n))   # S Aᵢ S
        A3 = xp.reshape(self._A, (m, n, n))
        if self.form == "w_kron_i":
            B3 = xp.matmul(self._Wf, A3)
        else:
            B3 = xp.matmul(xp.matmul(self._Sf, A3), self._Sf)
        return xp.reshape(B3, (m, n * n))

    # ------------------------------------------------------------------ (re)factorization
    def _factor_checked(self, M: Any) -> Any:
        xp = self._xp
        try:
            L = linalg.cholesky(xp, M, clean=False)
        except np.linalg.LinAlgError:
            L = None
        if L is not None:
            d = xp.diagonal(L)
            dmax = float(xp.max(xp.diagonal(M)))
            if float(xp.min(d)) ** 2 > self._m * linalg.eps(self._dtype) * dmax:
                return L
        raise np.linalg.LinAlgError(
            "BBᵀ is numerically singular: B = A("
            + ("W ⊗ I" if self.form == "w_kron_i" else "W^1/2 ⊗ W^1/2")
            + ") does not have full row rank (A rank-deficient, m > n², or W of too low rank); "
            "P = Bᵀ(BBᵀ)⁻¹B is undefined — use projkit.Projector.onto(B.T) for the "
            "pseudo-inverse projector onto range(Bᵀ)"
        )

    def _recompute_body(self) -> None:
        self._set_factored_weight(self._W, self._Weig)
        B = self._B_dense()
        M = B @ B.T
        self._set_factor(M, self._factor_checked(M))
        self.error_bound = 0.0
        self.stats["recompute"] += 1

    def _set_factor(self, M: Any, L: Any) -> None:
        self._M, self._L = M, L
        self._stale = False
        self._pcg_work = 0.0

    def _refactor(self) -> None:
        self._set_factor(self._M, self._factor_checked(self._M))
        self.stats["refactor"] += 1

    def _solve(self, b: Any) -> Any:
        """``M⁻¹ b`` for the exact current ``M``: a Cholesky solve, or preconditioned CG with a
        stale factor (ski rental: refactor once CG has cost as much as a factorization)."""
        xp, m = self._xp, self._m
        if not self._stale:
            return linalg.cho_solve(xp, self._L, b)
        y, iters, ok = pcg(xp, self._eng.sym_matmul, self._M, self._L, b,
                             linalg.eps(self._dtype))
        self.stats["pcg_iterations"] += iters
        self._pcg_work += iters * _CG_ITER * m * m * b.shape[1]
        if not ok:
            self._refactor()
            return linalg.cho_solve(xp, self._L, b)
        if self._pcg_work >= m**3 / 3:
            self._refactor()
        return y

    def recompute(self) -> None:
        """Rebuild the factorization of ``BBᵀ`` from scratch for the current ``W``.

        Updates call this themselves when it is the cheapest way forward; calling it by hand
        is only useful to clear accumulated rounding after very many updates, or to make a
        lazy structure exact again.
        """
        self._recompute_body()

    def _cost_recompute(self) -> float:
        m, n = self._m, self._n
        kron = 2 * m * n**3 * (1 if self.form == "w_kron_i" else 2)
        return kron + m * m * n * n + m**3 / 3

    # ------------------------------------------------------------------ ΔM in low-rank form
    def _delta_factors(self, Wold: Any, U: Any, c: Any) -> tuple[Any, Any]:
        """``ΔM = V₊V₊ᵀ − V₋V₋ᵀ`` for ``W_old → W_old + U diag(c) Uᵀ``."""
        xp, m, n = self._xp, self._m, self._n
        if self.form == "w_kron_i":
            UC = U * c
            X = Wold @ UC + 0.5 * (UC @ (U.T @ UC))
            k = U.shape[1]
            Q, R = xp.linalg.qr(xp.concatenate([U, X], axis=1))
            # core = R J Rᵀ with J = [[0, I], [I, 0]]
            core = R[:, :k] @ R[:, k:].T
            core = core + core.T
            d, V = self._eng.eigh(core)
            dmax = float(xp.max(xp.abs(d))) if d.size else 0.0
            keep = xp.abs(d) > 100 * n * linalg.eps(self._dtype) * dmax
            q = (Q @ V) * xp.sqrt(xp.abs(d))
            # V±[i, (l, b)] = (q_lᵀ Aᵢ)[b] √|d_l| for the kept d_l of each sign; one pass
            # over A for both signs (the update is memory-bound at these shapes)
            pos, neg = keep & (d > 0), keep & (d < 0)
            npos = int(xp.sum(pos))
            if self._sparse:
                # A (q ⊗ I): [i, (l, b)] = Σ_a q_l[a] Aᵢ[a, b], already in the (m, p·n) layout
                eye = xp.eye(n, dtype=self._dtype)
                return (xp.asarray(self._A @ xp.kron(q[:, pos], eye)),
                        xp.asarray(self._A @ xp.kron(q[:, neg], eye)))
            G = xp.reshape(xp.concatenate([q[:, pos], q[:, neg]], axis=1).T @ self._Ar,
                           (-1, m, n))
            return (xp.reshape(xp.ascontiguousarray(G[:npos].transpose(1, 0, 2)), (m, -1)),
                    xp.reshape(xp.ascontiguousarray(G[npos:].transpose(1, 0, 2)), (m, -1)))
        # sqrt ⊗ sqrt: ΔM = Σ c_l (G_l Z G_lᵀ + H_l Z H_lᵀ), Z = W + ½Δ = ½(W + W') ⪰ 0
        Z = Wold + 0.5 * ((U * c) @ U.T)
        z, Qz = self._eng.eigh((Z + Z.T) / 2)
        zmax = float(xp.max(xp.abs(z)))
        keepz = z > 100 * n * linalg.eps(self._dtype) * zmax
        Rz = Qz[:, keepz] * xp.sqrt(z[keepz])                      # Z = Rz Rzᵀ
        k = U.shape[1]
        if self._sparse:
            eye = xp.eye(n, dtype=self._dtype)
            G = xp.reshape(xp.asarray(self._A @ xp.kron(U, eye)), (m, k, n)).transpose(1, 0, 2)
            H = xp.reshape(xp.asarray(self._A @ xp.kron(eye, U)), (m, n, k)).transpose(2, 0, 1)
        else:
            G = xp.reshape(U.T @ self._Ar, (k, m, n))              # G[l, i, :] = u_lᵀ Aᵢ
            H = xp.reshape(U.T @ self._Ac, (k, m, n))              # H[l, i, :] = (Aᵢ u_l)ᵀ
        s = xp.sqrt(xp.abs(c))[:, None, None]
        GR = xp.concatenate([(G @ Rz) * s, (H @ Rz) * s], axis=0)  # (2k, m, rz)
        pos = xp.concatenate([c > 0, c > 0])
        Vp = xp.reshape(GR[pos].transpose(1, 0, 2), (m, -1))
        Vm = xp.reshape(GR[~pos].transpose(1, 0, 2), (m, -1))
        return xp.ascontiguousarray(Vp), xp.ascontiguousarray(Vm)

    def _apply_change(self, Wnew: Any, eig: tuple[Any, Any], U: Any, c: Any) -> None:
        """Move the factorization from ``self._Wf`` to ``Wnew = Wf + U diag(c) Uᵀ``."""
        xp, m, n = self._xp, self._m, self._n
        k = U.shape[1]
        if k == 0:
            self._set_factored_weight(Wnew, eig)
            return
        r_est = 2 * k * n
        force = getattr(self, "_force", None)                 # tests pin a strategy
        if force == "recompute" or (force is None and m * m * r_est >= self._cost_recompute()):
            Wf_old, eig_old = self._Wf, self._Wf_eig
            try:
                self._set_factored_weight(Wnew, eig)
                B = self._B_dense()
                M = B @ B.T
                L = self._factor_checked(M)
            except np.linalg.LinAlgError:
                self._set_factored_weight(Wf_old, eig_old)
                raise
            self._set_factor(M, L)
            self.stats["recompute"] += 1
            return
        Vp, Vm = self._delta_factors(self._Wf, U, c)
        r = Vp.shape[1] + Vm.shape[1]
        if r == 0:                                            # W² (or W⊗W) did not change
            self._set_factored_weight(Wnew, eig)
            return
        M = self._eng.sym_rank_update(self._M, Vp, Vm)
        L = None
        cheap = _LEVEL2_PENALTY * 2 * r * m * m < m**3 / 3
        unit = linalg.eps(self._dtype)

        def eager() -> bool:
            # W' numerically singular: B' may lose rank, which only a factorization can tell
            lam = (eig if eig is not None else self._check_psd(Wnew, "the updated W"))[0]
            return float(lam[0]) <= 1e3 * n * unit * float(xp.max(xp.abs(lam)))
        if not self._stale and (force == "lowrank" or (force is None and
                                                       self._eng.lowrank and cheap)):
            try:
                L = self._eng.cholesky_update(self._L, Vp, 1.0)
                L = self._eng.cholesky_update(L, Vm, -1.0)
                d = xp.diagonal(L)
                if float(xp.min(d)) ** 2 <= m * unit * float(xp.max(xp.diagonal(M))):
                    L = None
                else:
                    self.stats["lowrank"] += 1
            except np.linalg.LinAlgError:
                L = None                                       # fall back to a refactor
        # deferring pays only when a factorization costs several CG iterations (each one a
        # memory-bound pass over M and L, counted as _CG_ITER·m² flops)
        defer = (force == "defer" or (force is None and m / 3 >= 4 * _CG_ITER)) and not eager()
        if L is None and not defer:
            L = self._factor_checked(M)
            self.stats["refactor"] += 1
        if L is None:
            # defer: the old factor preconditions CG on the exact M until a refactor pays off
            self._M, self._stale = M, True
            self.stats["deferred"] += 1
        else:
            self._set_factor(M, L)
        self._set_factored_weight(Wnew, eig)

    # ------------------------------------------------------------------ update
    def update(self, U: Any, c: Any = None) -> None:
        """Apply ``W ← W + U diag(c) Uᵀ`` (or ``W ← W + delta_W`` when ``c`` is None).

        Parameters
        ----------
        U : (n,) or (n, k) array, or (n, n) symmetric ``delta_W`` when ``c`` is None
        c : float or (k,) array, optional

        Raises
        ------
        numpy.linalg.LinAlgError
            The update makes ``W`` indefinite, or ``BBᵀ`` singular. The structure is left
            unchanged.
        """
        xp, n = self._xp, self._n
        U, _, _ = check_input(U, name="U", ndim=(1, 2), accept_sparse=False, dtype=self._dtype)
        array_namespace(self._A, U)
        if c is None:
            if tuple(U.shape) != (n, n):
                raise ValueError(
                    f"U: with c=None expected a symmetric ({n}, {n}) delta_W, "
                    f"got shape {tuple(U.shape)}"
                )
            D = self._check_symmetric(U, "delta_W")
            U, c = self._lowrank_of(D)
        else:
            if U.ndim == 1:
                U = xp.reshape(U, (-1, 1))
            if U.shape[0] != n:
                raise ValueError(f"U: expected {n} rows, got shape {tuple(U.shape)}")
            c, _ = check_array(c, name="c", ndim=(0, 1), accept_sparse=False, dtype=self._dtype)
            c = xp.reshape(xp.asarray(c), (-1,))
            if c.shape[0] == 1 and U.shape[1] != 1:
                c = xp.ones((U.shape[1],), dtype=self._dtype) * c[0]
            if c.shape[0] != U.shape[1]:
                raise ValueError(
                    f"c: expected {U.shape[1]} weights (one per column of U), got {c.shape[0]}"
                )
        Wnew = self._W + (U * c) @ U.T
        Wnew = (Wnew + Wnew.T) / 2
        with self._serial():
            eig = self._psd_eig(Wnew, "the updated W")
            self._update_body(Wnew, eig, U, c)

    def _lowrank_of(self, D: Any) -> tuple[Any, Any]:
        """Eigen-form ``D = U diag(c) Uᵀ`` of a symmetric matrix, dropping null directions."""
        xp = self._xp
        lam, Q = self._eng.eigh(D)
        lmax = float(xp.max(xp.abs(lam))) if lam.size else 0.0
        keep = xp.abs(lam) > 100 * self._n * linalg.eps(self._dtype) * max(lmax, 1e-300)
        return Q[:, keep], lam[keep]

    def _update_body(self, Wnew: Any, eig: tuple[Any, Any], U: Any, c: Any) -> None:
        self.stats["updates"] += 1
        if self.mode == "exact":
            self._apply_change(Wnew, eig, U, c)
            self._W, self._Weig = Wnew, eig
            return
        bound = self._lazy_bound(Wnew, eig)
        assert self.eps is not None  # lazy mode always has an accuracy
        if bound <= self.eps:
            self._W, self._Weig = Wnew, eig
            self.error_bound = bound
            self.stats["lazy"] += 1
            return
        Wt, eig_t, Ud, cd, bound = self._partial_refresh(Wnew, eig)
        self._apply_change(Wt, eig_t, Ud, cd)
        self._W, self._Weig = Wnew, eig
        self.error_bound = bound

    def _partial_refresh(self, Wnew: Any, eig: tuple[Any, Any]
                         ) -> tuple[Any, tuple[Any, Any], Any, Any, float]:
        """The paper's lazy refresh: move ``W̃`` along the largest drift directions only.

        With the drift ``W − W̃ = Σ μᵢ vᵢvᵢᵀ`` sorted by ``|μᵢ|``, take the fewest leading terms
        ``j`` such that ``W̃' = W̃ + Σ_{i<j} μᵢvᵢvᵢᵀ`` is positive semidefinite and certifies
        ``‖P(W) − P(W̃')‖₂ ≤ eps/2`` (hysteresis: the next updates stay lazy), found by doubling
        then bisection on ``j`` (``O(n³ log n)``); ``j = rank`` gives ``W̃' = W`` exactly. A
        drift of rank ``≤ _PARTIAL_MIN_RANK`` is refreshed whole.
        """
        xp = self._xp
        Ud, cd = self._lowrank_of(Wnew - self._Wf)
        order = xp.argsort(-xp.abs(cd))
        Ud, cd = Ud[:, order], cd[order]
        r = int(cd.shape[0])
        if r <= _PARTIAL_MIN_RANK:           # too little to drop to pay for the O(n³ log n) search
            return Wnew, eig, Ud, cd, 0.0
        cache: dict[int, Any] = {}

        def trial(j: int) -> Any:
            if j not in cache:
                if j >= r:
                    cache[j] = (Wnew, eig, 0.0)
                else:
                    Wt = self._Wf + (Ud[:, :j] * cd[:j]) @ Ud[:, :j].T
                    Wt = (Wt + Wt.T) / 2
                    lam, Q = self._eng.eigh(Wt)
                    lmax = float(xp.max(xp.abs(lam)))
                    if float(lam[0]) < -100 * self._n * linalg.eps(self._dtype) * lmax:
                        cache[j] = None                        # W̃' indefinite
                    else:
                        b = self._lazy_bound(Wnew, eig, Wt, self._base_parts((lam, Q)))
                        eps = float(self.eps or 0.0)  # set in lazy mode
                        cache[j] = (Wt, (lam, Q), b) if b <= eps / 2 else None
            return cache[j]

        lo, hi = 0, 1                                          # trial(lo) fails
        while hi < r and trial(hi) is None:
            lo, hi = hi, 2 * hi
        hi = min(hi, r)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if trial(mid) is None:
                lo = mid
            else:
                hi = mid
        Wt, eig_t, b = trial(hi)
        return Wt, eig_t, Ud[:, :hi], cd[:hi], b

    def _lazy_bound(self, Wnew: Any, eig: tuple[Any, Any], Wbase: Any = None,
                    parts: Any = None) -> float:
        """Certified ``‖P(W_new) − P(W̃)‖₂`` bound ``δ/(1 − δ)`` (inf when not certifiable);
        ``W̃`` is the factored weight unless ``Wbase`` (with its ``_base_parts``) is given."""
        xp = self._xp
        if Wbase is None:
            Wbase, parts = self._Wf, self._Wf_parts
        pinv, proj = parts
        D = Wnew - Wbase
        scale = max(float(xp.max(xp.abs(Wnew))), 1e-300)
        out = D - proj @ D
        if float(xp.max(xp.abs(out))) > 100 * self._n * linalg.eps(self._dtype) * scale:
            return math.inf                                  # W left range(W̃)
        if self.form == "w_kron_i":
            F = D @ pinv
        else:
            F = self._sqrt_from_eig(*eig, 0.5) @ pinv - proj

        def bound(t: float) -> float:
            delta = t if self.form == "w_kron_i" else 2 * t + t * t
            return delta / (1 - delta) if delta < 1 else math.inf

        # ‖F‖₂ ≤ min(‖F‖_F, √(‖F‖₁‖F‖_∞)): O(n²) bounds settle most lazy steps without an SVD
        eps = float(self.eps or 0.0)
        a = xp.abs(F)
        cheap = min(float(xp.linalg.norm(F)),
                    math.sqrt(float(xp.max(xp.sum(a, axis=0))) * float(xp.max(xp.sum(a, axis=1)))))
        b = bound(cheap)
        return b if b <= eps else bound(spectral_norm(xp, F))

    # ------------------------------------------------------------------ query
    def query(self, h: Any, coords: Any = None) -> Any:
        """``P h`` for one vector ``(n²,)`` or a block ``(n², p)`` (as ``P @ H``), or the
        coordinates ``(P h)[coords]`` of one vector (a *set query*).

        Parameters
        ----------
        h : (n²,) or (n², p) array
        coords : 1-D int array, optional
            Coordinates to return. In exact mode they are exact. In lazy mode they come
            from the robust pool of query sketches (see the class Notes): per coordinate
            ``|answer_i − (P h)_i| ≤ error_bound·‖h‖₂ + ε_s‖P̃h‖₂ + (γ/2)‖h‖₂`` with the
            pool's probability, at a cost of ``L(b n² + b|coords|)`` instead of ``O(mn² + m²)``.

        Returns
        -------
        array
            In exact mode the answer is exact to rounding; in lazy mode without ``coords``
            ``‖query(h) − P h‖₂ ≤ error_bound · ‖h‖₂ ≤ eps ‖h‖₂``, deterministically.
        """
        h, _, back = check_input(h, name="h", ndim=(1, 2), accept_sparse=False, dtype=self._dtype)
        array_namespace(self._A, h)
        n2 = self._n * self._n
        if h.shape[0] != n2:
            raise ValueError(f"h: expected {n2} rows (n²), got shape {tuple(h.shape)}")
        one = h.ndim == 1
        if coords is not None:
            if not one:
                raise ValueError(f"h: a set query (coords given) takes one vector of shape "
                                 f"({n2},), got shape {tuple(h.shape)}")
            if self.mode == "lazy":
                return back(self._set_query(h, coords))
            idx = self._check_coords(coords)
            return back(self.query(h)[idx])
        H = self._xp.reshape(h, (n2, 1)) if one else h
        with self._serial():
            out = self._query_body(H)
        return back(self._xp.reshape(out, (n2,)) if one else out)

    # ------------------------------------------------------------------ robust set queries
    # L = 15 with ε₀ = 8: the mechanism's mass falls by e⁻⁴ per rank away from the median, so
    # a release is wrong only if ~6 of its 15 estimates are (≈ 5e-5 at 2σ per estimate)
    _POOL_DEFAULTS: dict[str, Any] = {"per_query": 15, "n_sketches": None, "max_queries": 16,
                                      "dp_epsilon": 8.0, "resolution": None}
    _POOL_MAX_BYTES = 1 << 30
    # the default sketch size keeps the pool (sketches + products) within this; a refresh
    # holds about as much again in temporaries, so the peak stays within _POOL_MAX_BYTES
    _POOL_DEFAULT_BYTES = 1 << 29

    def _check_pool_options(self, sketch_size: Any, robust: Any, N: int) -> dict[str, Any]:
        """Sizes of the set-query pool (validated here, allocated at the first set query)."""
        assert self.eps is not None
        if sketch_size is not None:
            b = check_positive_int(sketch_size, name="sketch_size")
            if b > N:
                raise ValueError(f"sketch_size: expected at most n² = {N} rows (a larger "
                                 f"sketch costs more than an exact answer), got {b}")
        if robust is not None and not isinstance(robust, dict):
            raise TypeError(f"robust: expected a dict of pool options, got "
                            f"{type(robust).__name__}")
        opts = dict(self._POOL_DEFAULTS)
        unknown = set(robust or ()) - set(opts)
        if unknown:
            raise ValueError(f"robust: unknown options {sorted(unknown)}; expected some of "
                             f"{sorted(opts)}")
        opts.update(robust or {})
        L = check_positive_int(opts["per_query"], name="robust['per_query']")
        T = check_positive_int(opts["max_queries"], name="robust['max_queries']")
        K = (L * math.ceil(math.sqrt(T)) if opts["n_sketches"] is None
             else check_positive_int(opts["n_sketches"], name="robust['n_sketches']"))
        if sketch_size is None:
            # Chebyshev: one estimate ε-good w.p. 3/4 at 8/ε² rows; capped so that a sketch
            # compresses (b ≤ n²/8) and the pool fits the default memory budget
            fit = self._POOL_DEFAULT_BYTES // (2 * K * N * self._dtype.itemsize)
            b = max(1, min(math.ceil(8.0 / self.eps**2), N // 8, fit))
        opts.update(sketch_size=b, per_query=L, max_queries=T, n_sketches=K,
                    resolution=self.eps / 4 if opts["resolution"] is None else opts["resolution"])
        return opts

    def _set_query(self, h: Any, coords: Any) -> Any:
        from ._robust_query import RobustSetQuery

        opts = self._pool_options
        assert opts is not None
        if self._pool is None:
            need = 2 * opts["n_sketches"] * opts["sketch_size"] * h.shape[0] * self._dtype.itemsize
            if need > self._POOL_MAX_BYTES:
                raise ValueError(
                    f"sketch_size: the set-query pool would hold {need / 2**30:.1f} GiB "
                    f"({opts['n_sketches']} sketches of {opts['sketch_size']} × {h.shape[0]} "
                    "and their products); pass a smaller sketch_size (or a larger eps) or "
                    "robust={'n_sketches': ..., 'per_query': ...}"
                )
            self._pool = RobustSetQuery(h.shape[0], norm_bound=1.0, xp=self._xp,
                                        dtype=self._dtype, rng=self._rng, **opts)
        idx = self._check_coords(coords)
        with self._serial():
            if self._pool_version != self._fversion:
                # the pool's products S_j = R_j P̃ follow the factored weight W̃
                self._pool.refresh(self._query_body)
                self._pool_version = self._fversion
            self.stats["set_queries"] += 1
            return self._pool.query(h, idx)

    def _check_coords(self, coords: Any) -> Any:
        xp, n2 = self._xp, self._n * self._n
        c = xp.asarray(coords)
        if c.ndim != 1 or c.shape[0] == 0 or np.dtype(c.dtype).kind not in "iu":
            raise ValueError(f"coords: expected a non-empty 1-D integer index array, got "
                             f"shape {tuple(c.shape)} and dtype {c.dtype}")
        if int(xp.min(c)) < 0 or int(xp.max(c)) >= n2:
            raise ValueError(f"coords: expected indices in [0, {n2}), got range "
                             f"[{int(xp.min(c))}, {int(xp.max(c))}]")
        return c

    def _query_body(self, H: Any) -> Any:
        y = self._A @ self._kron_apply(H)                  # B h
        y = self._solve(y)                                 # (BBᵀ)⁻¹ B h
        return self._kron_apply(self._A.T @ y)             # Bᵀ (BBᵀ)⁻¹ B h

    def projector(self) -> Any:
        """A :class:`projkit.Projector` for ``P`` at the current ``W`` (exact, both modes).

        It stores ``Bᵀ`` (``n² × m``) in factored form, so it costs ``O(m n²)`` memory.
        """
        from .oblique import Projector

        saved, version = (self._Wf, self._Wf_eig), self._fversion
        self._set_factored_weight(self._W, self._Weig)
        try:
            Bt = self._B_dense().T
        finally:
            self._set_factored_weight(*saved)
            self._fversion = version
        return Projector.onto(self._xp.ascontiguousarray(Bt))
