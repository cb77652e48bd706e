"""A pool of Gaussian sketches answering coordinate queries of ``P h`` robustly to adaptivity.

This is the "robust set query" layer of the sketched Kronecker projection maintenance of Song,
Yang, Yang & Zhang (2023): the owner keeps ``S_j = R_j P`` for a pool of independent sketches
``R_j`` and answers a query ``h`` by the coordinates of ``R_jᵀ S_j h ≈ P h``. Reusing one sketch
for adaptively chosen ``h`` is unsafe (an adversary who sees the answers learns the sketch and
finds ``h`` it gets wrong), so each query combines a random subset of the pool through a
differentially private median, following Hassidim et al. (2020) and Beimel et al. (2022).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import check_input, check_positive_int
from .._backend.random import check_rng, device_rng
from .._backend.validation import check_real

__all__ = ["RobustSetQuery", "robust_parameters"]

# Chebyshev: Var(est_i - g_i) = (‖g‖² + g_i²)/b ≤ 2‖g‖²/b, so P(|err| > eps‖g‖) ≤ 2/(b eps²),
# which is ≤ 1/4 for b ≥ 8/eps² (a theorem, no calibration).
_C_SKETCH = 8.0
# Median trick with a rank slack tau: one estimate is bad w.p. ≤ 1/4, the median is bad only if
# ≥ L/2 - tau are bad; with tau ≤ L/8 Hoeffding gives P ≤ exp(-2 L (1/8)²) = exp(-L/32).
_C_MEDIAN = 32.0
_TAU_FRACTION = 8.0
# Generalization transfer (Bassily et al. 2016, as used by Hassidim et al. 2020): an
# (eps*, delta*)-DP choice of a predicate on K i.i.d. sketches moves its empirical frequency by
# ≤ 10 eps*; eps* = 1/80 keeps ≥ 5/8 of the pool good for every adaptively chosen query. The
# subsample of L then has ≤ 3/8 bad in expectation: tau ≤ L/16 and exp(-2 L (1/16)²) = exp(-L/128).
_C_MEDIAN_ADAPTIVE = 128.0
_TAU_FRACTION_ADAPTIVE = 16.0
_EPS_STAR = 1.0 / 80.0


def robust_parameters(eps: float, delta: float, max_queries: int, *, n_coords: int = 1,
                      dp_epsilon: float = 1.0, constants: str = "calibrated") -> dict[str, Any]:
    """Sketch size, subset size and pool size for an accuracy target (see :class:`RobustSetQuery`).

    Parameters
    ----------
    eps : float in (0, 1]
        Per-coordinate error target in units of ``‖P h‖₂``.
    delta : float in (0, 1)
        Failure probability over all ``max_queries`` queries.
    max_queries : int
        Number ``T`` of (adaptive) queries the pool serves before it is redrawn.
    n_coords : int
        Coordinates released per query (the union bound and the privacy composition run over
        them).
    dp_epsilon : float
        Privacy parameter ``ε₀`` of each per-coordinate private median. With
        ``constants="theorem"`` it is capped at ``1/n_coords``: the subsampling amplification
        the adaptive argument uses needs the per-query privacy ``|C|ε₀ ≤ 1``, so ``ε₀`` shrinks
        and ``L`` (through ``τ ∝ 1/ε₀``) and ``K`` grow with the number of coordinates.
    constants : {"calibrated", "theorem"}
        ``"theorem"``: every constant from the adaptive derivation in the Notes of
        :class:`RobustSetQuery` (``L`` and, above all, ``K`` are then very large);
        ``"calibrated"``: ``b``, the grid and ``L`` of the *non-adaptive* theorem (proven), and
        a pool ``K = ⌈L √T⌉`` of the adaptive theorem's shape with its constant set to 1 (not a
        proven bound; see the Notes).

    Returns
    -------
    dict
        ``sketch_size`` (b), ``per_query`` (L), ``n_sketches`` (K), ``resolution`` (γ),
        ``dp_epsilon`` (ε₀) and ``rank_slack`` (τ).
    """
    eps = check_real(eps, name="eps", high=1.0)
    delta = check_real(delta, name="delta", high=1.0, high_open=True)
    T = check_positive_int(max_queries, name="max_queries")
    m = check_positive_int(n_coords, name="n_coords")
    eps0 = check_real(dp_epsilon, name="dp_epsilon")
    if constants not in ("calibrated", "theorem"):
        raise ValueError(f"constants: expected 'calibrated' or 'theorem', got {constants!r}")
    if constants == "theorem":
        eps0 = min(eps0, 1.0 / m)        # amplification by subsampling needs |C| ε₀ ≤ 1
    b = math.ceil(_C_SKETCH / eps**2)
    resolution = eps / 4.0
    G = 2 * math.ceil(1.0 / resolution) + 1
    releases = T * m
    # exponential mechanism utility, union bound over all T·m releases at level delta/2
    tau = 2.0 / eps0 * math.log(2.0 * G * releases / delta)
    c_tau, c_med = ((_TAU_FRACTION_ADAPTIVE, _C_MEDIAN_ADAPTIVE) if constants == "theorem"
                    else (_TAU_FRACTION, _C_MEDIAN))
    L = math.ceil(max(c_tau * tau, c_med * math.log(4.0 * releases / delta)))
    L += 1 - L % 2  # odd, so the median is one order statistic
    if constants == "theorem":
        # per query: basic composition over the m coordinates (ε_q = m ε₀); subsampling L of
        # K amplifies to ≤ 2 (L/K) ε_q (for ε_q ≤ 1); advanced composition over T queries gives
        # ε' ≈ 2 (L/K) ε_q √(2 T ln(2/δ)), and ε' ≤ ε* = 1/80 needs the K below; the
        # generalization transfer also needs K ≥ ln(2 ε*/δ')/ε*².
        eps_q = m * eps0
        K = math.ceil(max(2.0 * L * eps_q * math.sqrt(2.0 * T * math.log(2.0 / delta)) / _EPS_STAR,
                          math.log(4.0 / (_EPS_STAR * delta)) / _EPS_STAR**2))
    else:
        K = math.ceil(L * math.sqrt(T))
    return {"sketch_size": b, "per_query": L, "n_sketches": max(K, L), "resolution": resolution,
            "dp_epsilon": eps0, "rank_slack": tau}


def _private_median(xp: ModuleType, X: Any, step: Any, half: int, eps0: float, gen: Any) -> Any:
    """ε₀-DP median of each column of ``X`` (L × m) over the grid ``{k·step : |k| ≤ half}``.

    ``step`` has shape (m,) (or is a scalar). Each value is rounded to the grid and clipped to
    it (a per-value map, so neighbouring inputs stay neighbours); a grid point ``y`` is output
    with probability ∝ ``exp(ε₀ u(y)/2)``, ``u(y) = -max(#{x < y}, #{x > y})`` (sensitivity 1
    under replacing one value). The score is constant on the ``2L + 1`` pieces the sorted
    values cut the grid into, so a piece is chosen by the Gumbel-max trick with weight
    ``count · exp(ε₀ u / 2)`` and a grid point uniformly inside it.
    """
    L, m = X.shape
    k = xp.clip(xp.rint(X / step), -half, half).astype(xp.int64)
    k = xp.sort(k, axis=0)
    # number of values <= each sorted value (ties share the piece of their first occurrence)
    if L * L * m <= 1 << 24:
        le = xp.sum(k[:, None, :] <= k[None, :, :], axis=0)
    else:  # O(L m) memory
        le = xp.zeros((L, m), dtype=xp.int64)
        for i in range(L):
            le += k[i][None, :] <= k
    first = xp.ones((L, m), dtype=bool)
    if L > 1:
        first[1:] = k[1:] != k[:-1]
    j = xp.arange(L)[:, None]
    n_pieces = 2 * L + 1
    start = xp.empty((n_pieces, m), dtype=xp.int64)
    count = xp.empty((n_pieces, m), dtype=xp.int64)
    score = xp.empty((n_pieces, m), dtype=xp.float64)
    # piece 0: grid points below every value; piece 2L: above every value
    start[0] = -half
    count[0] = k[0] + half
    score[0] = -L
    start[-1] = k[-1] + 1
    count[-1] = half - k[-1]
    score[-1] = -L
    # odd pieces 1, 3, ..: the grid points holding a value (once per distinct value)
    start[1::2] = k
    count[1::2] = first.astype(xp.int64)
    score[1::2] = -xp.maximum(j, L - le).astype(xp.float64)
    if L > 1:
        # even inner pieces: strictly between consecutive values, j + 1 values below
        start[2:-1:2] = k[:-1] + 1
        count[2:-1:2] = xp.maximum(k[1:] - k[:-1] - 1, 0)
        jj = xp.arange(1, L)[:, None]
        score[2:-1:2] = -xp.maximum(jj, L - jj).astype(xp.float64)
    logits = xp.where(count > 0, xp.log(xp.maximum(count, 1).astype(xp.float64)), -xp.inf)
    logits = logits + 0.5 * eps0 * score
    u = gen.random((n_pieces, m))
    u = xp.clip(u, 1e-300, 1.0)
    piece = xp.argmax(logits - xp.log(-xp.log(u)), axis=0)
    cols = xp.arange(m)
    c = count[piece, cols]
    off = xp.minimum(xp.floor(gen.random(m) * c).astype(xp.int64), c - 1)
    return (start[piece, cols] + off) * step


class RobustSetQuery:
    """Coordinates of ``P h`` from a pool of reused Gaussian sketches, safe for adaptive ``h``.

    The pool holds ``K`` sketches ``R_j`` (``b × N``, entries ``N(0, 1/b)``) and, after
    :meth:`refresh`, their products ``S_j = R_j P`` with a symmetric ``N × N`` map ``P``. A
    :meth:`query` draws ``L`` of the ``K`` sketches without replacement, forms for each the
    estimate ``R_j[:, C]ᵀ (S_j h)`` of ``(P h)_C`` and releases, per coordinate, an
    ``ε₀``-differentially private median of the ``L`` estimates.

    Parameters
    ----------
    N : int
        Dimension of ``h``.
    sketch_size : int
        Rows ``b`` of each sketch.
    n_sketches : int
        Pool size ``K``.
    per_query : int
        Sketches ``L ≤ K`` combined per query (odd values make the median one order statistic).
    dp_epsilon : float
        Privacy parameter ``ε₀ > 0`` of each per-coordinate private median. Large values make
        it the plain median of the grid-rounded estimates.
    max_queries : int
        Queries ``T`` served by one pool; the next query after ``T`` redraws the pool.
    resolution : float in (0, 1]
        Grid step ``γ`` of the private median, relative to ``norm_bound · ‖h‖₂`` (default
        0.01): answers are multiples of ``γ · norm_bound · ‖h‖₂`` in
        ``[-norm_bound ‖h‖₂, norm_bound ‖h‖₂]``.
    norm_bound : float
        A bound on ``‖P‖₂`` (1 for an orthogonal projector): ``|(P h)_i| ≤ norm_bound ‖h‖₂``
        fixes the median's (public, data-independent) output range.
    xp : module
        Array namespace of the pool (``numpy`` or ``cupy``).
    dtype : dtype
        ``float32`` or ``float64``; the sketches, products and answers use it.
    rng : None, int or numpy.random.Generator
        SPEC 7. Every random draw (sketches, subsets, the mechanism's noise, redraws) comes
        from it; a CuPy pool draws on the device from a generator seeded by one draw of it.

    Attributes
    ----------
    n_queries : int
        Queries answered so far (over all pools).
    n_refreshes : int
        Block calls of ``apply_P`` made (one per :meth:`refresh` and per redraw).
    n_redraws : int
        Times the pool was redrawn after ``max_queries`` queries.
    queries_left : int
        Queries the current pool serves before it is redrawn.
    nbytes : int
        Memory of the pool (sketches and products).

    Notes
    -----
    **Estimator.** For a fixed ``g = P h`` and ``R`` with i.i.d. ``N(0, 1/b)`` entries,
    ``(RᵀR g)_i = Σ_k R_{ki} (R g)_k`` is unbiased for ``g_i`` with variance
    ``(‖g‖₂² + g_i²)/b ≤ 2‖g‖₂²/b`` (the coordinate-wise embedding of the paper). By
    Chebyshev, ``b ≥ 8/ε²`` makes one estimate ε-good (``|est_i − g_i| ≤ ε‖g‖₂``) with
    probability ``≥ 3/4``. Cost per sketch: ``bN`` for ``S_j h`` and ``b|C|`` for the
    coordinates ``C``.

    **Private median.** Per coordinate the ``L`` estimates are rounded to the grid
    ``{kΔ : |k| ≤ ⌈1/γ⌉}``, ``Δ = γ · norm_bound · ‖h‖₂`` and clipped to it (rounding moves a
    value by ``≤ Δ/2``; clipping never moves it away from ``g_i``, which lies in the range).
    The exponential mechanism with score ``u(y) = −max(#{x < y}, #{x > y})`` outputs grid
    point ``y`` with probability ``∝ exp(ε₀ u(y)/2)``. Replacing one sketch of the pool changes
    at most one of the ``L`` values, so ``u`` has sensitivity 1 and each released coordinate is
    ``ε₀``-DP with respect to the pool, a "data element" being one sketch ``R_j``. With
    ``G = 2⌈1/γ⌉ + 1`` grid points, with probability ``≥ 1 − β`` the output has at least
    ``L/2 − τ`` rounded values on each side, ``τ = (2/ε₀) ln(G/β)``; so if fewer than
    ``L/2 − τ`` estimates are bad the output is within ``ε‖g‖₂ + Δ/2`` of ``g_i``.

    **Median trick.** With each estimate bad with probability ``≤ 1/4`` independently and
    ``τ ≤ L/8``, the median is bad with probability ``≤ exp(−L/32)`` (Hoeffding). Hence, for
    queries chosen *independently of the pool*, every coordinate of every one of ``T`` answers
    satisfies ``|answer_i − (P h)_i| ≤ ε‖P h‖₂ + (γ/2)·norm_bound·‖h‖₂`` with probability
    ``≥ 1 − δ`` when ``b ≥ 8/ε²``, ``τ = (2/ε₀) ln(2GT|C|/δ) ≤ L/8`` and
    ``L ≥ 32 ln(4T|C|/δ)`` (union bound over the ``T|C|`` releases). These are
    :func:`robust_parameters`'s ``b``, ``L`` and ``γ = ε/4``: proven, not calibrated.

    **Adaptive queries.** If ``h_t`` depends on earlier answers, the argument above fails for a
    reused sketch. The answer to one query is ``|C|ε₀``-DP with respect to the pool (basic
    composition over its coordinates); sampling ``L`` of ``K`` sketches amplifies this to
    ``≤ 2(L/K)|C|ε₀`` (for ``|C|ε₀ ≤ 1``), and advanced composition over ``T`` queries makes
    the whole transcript ``(ε', δ')``-DP with ``ε' ≈ 2(L/K)|C|ε₀ √(2T ln(1/δ'))``. By the
    DP → generalization transfer (Bassily et al. 2016, in the form Hassidim et al. 2020 use),
    if ``ε' ≤ ε* = 1/80`` and ``K ≥ ln(4/(ε*δ))/ε*²``, the fraction of the pool that is
    ε-good for each adaptively chosen query stays ``≥ 3/4 − 10ε* = 5/8``, and the median
    argument goes through on the subsample with ``τ ≤ L/16`` and ``L ≥ 128 ln(4T|C|/δ)``
    (Hoeffding holds for sampling without replacement). This is the ``K = Õ(√T)`` of the
    paper; the proof's constants (``constants="theorem"`` in :func:`robust_parameters`, which
    caps ``ε₀`` at ``1/|C|`` so that the amplification bound applies) make ``K`` very large —
    e.g. ``eps = 0.5, δ = 0.1, T = 10, |C| = 1`` gives ``L = 767`` and ``K ≈ 9.5·10⁵``
    sketches of ``b = 32`` rows (``constants="calibrated"``: ``L = 193``, ``K = 611``), and
    both grow about linearly with ``|C|``. We state this argument as a sketch following those
    papers, not as a checked proof.
    The ``"calibrated"`` choice ``K = ⌈L√T⌉`` keeps the theorem's shape with constant 1 and is
    **not** a proven guarantee; the test suite checks it against a concrete adaptive attack
    that breaks a single reused sketch. What *is* guaranteed for any parameters: each released
    coordinate is ``ε₀``-DP with respect to one sketch of the pool, and the pool is never used
    for more than ``T`` queries.

    **Redraws.** :meth:`refresh` stores ``apply_P``; after ``T`` queries the sketches are
    redrawn at once and the products ``S_j`` are recomputed lazily, by the stored ``apply_P``,
    at the next query (or by the next :meth:`refresh`, whichever comes first), so a query is
    always answered from a consistent pool. The owner must call :meth:`refresh` whenever ``P``
    changes (or pass an ``apply_P`` that always applies the current ``P``).

    References
    ----------
    .. [1] Z. Song, X. Yang, Y. Yang, L. Zhang, "Sketching Meets Differential Privacy: Fast
       Algorithm for Dynamic Kronecker Projection Maintenance", ICML 2023, arXiv:2210.11542.
    .. [2] A. Beimel, H. Kaplan, Y. Mansour, K. Nissim, T. Saranurak, U. Stemmer, "Dynamic
       algorithms against an adaptive adversary: generic constructions and lower bounds",
       STOC 2022.
    .. [3] A. Hassidim, H. Kaplan, Y. Mansour, Y. Matias, U. Stemmer, "Adversarially robust
       streaming algorithms via differential privacy", NeurIPS 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from projkit.projectors._robust_query import RobustSetQuery
    >>> Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((50, 5)))
    >>> rq = RobustSetQuery(50, sketch_size=40, n_sketches=9, per_query=5, dp_epsilon=50.0,
    ...                     max_queries=3, xp=np, dtype=np.float64, rng=0)
    >>> rq.refresh(lambda X: Q @ (Q.T @ X))
    >>> h = Q[:, 0] + 0.1 * Q[:, 1]
    >>> ans = rq.query(h, np.array([0, 1, 2]))
    >>> bool(np.all(np.abs(ans - (Q @ (Q.T @ h))[:3]) < 0.6))
    True
    >>> rq.n_queries, rq.queries_left
    (1, 2)
    """

    def __init__(self, N: int, *, sketch_size: int, n_sketches: int, per_query: int,
                 dp_epsilon: float, max_queries: int, resolution: float = 0.01,
                 norm_bound: float = 1.0, xp: ModuleType = np, dtype: Any = np.float64,
                 rng: Any = None) -> None:
        self.N = check_positive_int(N, name="N")
        self.sketch_size = check_positive_int(sketch_size, name="sketch_size")
        self.n_sketches = check_positive_int(n_sketches, name="n_sketches")
        self.per_query = check_positive_int(per_query, name="per_query")
        if self.per_query > self.n_sketches:
            raise ValueError(f"per_query: expected at most n_sketches={self.n_sketches}, "
                             f"got {self.per_query}")
        self.dp_epsilon = check_real(dp_epsilon, name="dp_epsilon")
        self.max_queries = check_positive_int(max_queries, name="max_queries")
        self.resolution = check_real(resolution, name="resolution", high=1.0)
        self.norm_bound = check_real(norm_bound, name="norm_bound")
        if not isinstance(xp, ModuleType) or not hasattr(xp, "asarray"):
            raise TypeError(f"xp: expected an array namespace module, got {type(xp).__name__}")
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {dt}")
        self.xp = xp
        self.dtype = dt
        self._half = math.ceil(1.0 / self.resolution)
        self._host_rng = check_rng(rng)
        # NumPy: the host generator itself; CuPy: a device generator seeded by one draw of it
        self._gen = device_rng(self._host_rng, xp)
        self.n_queries = 0
        self.n_refreshes = 0
        self.n_redraws = 0
        self.queries_left = self.max_queries
        self._apply_P: Callable[[Any], Any] | None = None
        self._S: Any = None
        self._draw()

    @classmethod
    def for_accuracy(cls, N: int, eps: float, delta: float, max_queries: int, *,
                     n_coords: int = 1, dp_epsilon: float = 1.0, constants: str = "calibrated",
                     norm_bound: float = 1.0, xp: ModuleType = np, dtype: Any = np.float64,
                     rng: Any = None) -> RobustSetQuery:
        """A pool sized by :func:`robust_parameters` for error ``eps`` w.p. ``1 − delta``.

        ``n_coords`` is the number of coordinates released per query (``N`` for whole
        vectors). The sketch size ``b`` is capped at ``N`` (beyond it an exact answer is
        cheaper than a sketch).
        """
        N = check_positive_int(N, name="N")
        p = robust_parameters(eps, delta, max_queries, n_coords=n_coords,
                              dp_epsilon=dp_epsilon, constants=constants)
        return cls(N, sketch_size=min(p["sketch_size"], N), n_sketches=p["n_sketches"],
                   per_query=p["per_query"], dp_epsilon=p["dp_epsilon"],
                   max_queries=max_queries, resolution=p["resolution"],
                   norm_bound=norm_bound, xp=xp, dtype=dtype, rng=rng)

    # -----------------------------------------------------------------------------------------

    @property
    def nbytes(self) -> int:
        """Bytes held by the sketches and their products."""
        return int(self._R.nbytes) + (int(self._S.nbytes) if self._S is not None else 0)

    @property
    def needs_refresh(self) -> bool:
        """Whether the products ``S_j`` are missing (never refreshed, or redrawn since)."""
        return self._S is None

    def __repr__(self) -> str:
        return (f"RobustSetQuery(N={self.N}, sketch_size={self.sketch_size}, "
                f"n_sketches={self.n_sketches}, per_query={self.per_query}, "
                f"dp_epsilon={self.dp_epsilon}, max_queries={self.max_queries})")

    def _draw(self) -> None:
        K, b, N = self.n_sketches, self.sketch_size, self.N
        R = self._gen.standard_normal((K, b, N), dtype=self.dtype)
        R *= self.dtype.type(1.0 / math.sqrt(b))
        self._R = R
        self._S = None

    def refresh(self, apply_P: Callable[[Any], Any]) -> None:
        """Recompute ``S_j = R_j P`` for the whole pool in one block call of ``apply_P``.

        Parameters
        ----------
        apply_P : callable
            ``apply_P(X)`` returns ``P @ X`` for an ``(N, p)`` block ``X``, ``P`` symmetric;
            it is called once with the ``N × Kb`` block ``[R_1ᵀ … R_Kᵀ]`` and kept for the
            lazy recomputation after a redraw.
        """
        if not callable(apply_P):
            raise TypeError(f"apply_P: expected a callable, got {type(apply_P).__name__}")
        self._apply_P = apply_P
        self._refresh_body()

    def _refresh_body(self) -> None:
        xp = self.xp
        K, b, N = self.n_sketches, self.sketch_size, self.N
        assert self._apply_P is not None
        Y = self._apply_P(self._R.reshape(K * b, N).T)
        if tuple(getattr(Y, "shape", ())) != (N, K * b):
            raise ValueError(f"apply_P: expected a result of shape {(N, K * b)}, "
                             f"got {getattr(Y, 'shape', type(Y).__name__)}")
        # P symmetric: (P Rᵀ)ᵀ = R P
        self._S = xp.ascontiguousarray(xp.asarray(Y, dtype=self.dtype).T).reshape(K, b, N)
        self.n_refreshes += 1

    def _coords(self, coords: Any) -> Any:
        xp = self.xp
        if coords is None:
            return None
        c = xp.asarray(coords)
        if c.ndim != 1:
            raise ValueError(f"coords: expected a 1-D index array, got shape {tuple(c.shape)}")
        if c.size == 0:
            raise ValueError("coords: expected at least one coordinate, got none")
        if np.dtype(c.dtype).kind not in "iu":
            raise TypeError(f"coords: expected an integer index array, got dtype {c.dtype}")
        lo, hi = int(c.min()), int(c.max())
        if lo < 0 or hi >= self.N:
            raise ValueError(f"coords: expected indices in [0, {self.N}), got range [{lo}, {hi}]")
        return c

    def query(self, h: Any, coords: Any = None) -> Any:
        """Private-median estimate of ``(P h)[coords]`` from ``per_query`` pooled sketches.

        Parameters
        ----------
        h : array of shape (N,)
            The query vector (same namespace as the pool; cast to the pool's dtype).
        coords : int array, optional
            Coordinates to answer (default: all ``N``).

        Returns
        -------
        array of shape (len(coords),) (or (N,)), in the pool's dtype
        """
        h, hxp, back = check_input(h, name="h", ndim=1, accept_sparse=False, dtype=self.dtype)
        if hxp.__name__.split(".")[-1] != self.xp.__name__.split(".")[-1]:
            raise TypeError(f"h: expected a {self.xp.__name__} array (the pool's), "
                            f"got one from {hxp.__name__}")
        if h.shape[0] != self.N:
            raise ValueError(f"h: expected shape ({self.N},), got {tuple(h.shape)}")
        c = self._coords(coords)
        if self._S is None:
            if self._apply_P is None:
                raise RuntimeError("query: call refresh(apply_P) before the first query")
            self._refresh_body()
        return back(self._query_body(h, c))

    def _estimates(self, h: Any, c: Any, idx: Any) -> Any:
        """The ``len(idx) × |C|`` estimates ``R_j[:, C]ᵀ (S_j h)`` (no privacy, no counting)."""
        xp = self.xp
        # one sketch at a time: views of the pool, never a copy of L·b·N entries
        # (a column gather of b × |C| beats the full b × N product only for few coordinates)
        gather = c is not None and 8 * c.shape[0] <= self.N
        rows = []
        for j in (int(v) for v in idx):
            s = self._S[j] @ h  # (b,)
            if gather:
                rows.append(s @ self._R[j][:, c])
            else:
                full = s @ self._R[j]
                rows.append(full if c is None else full[c])
        return xp.stack(rows)

    def _query_body(self, h: Any, c: Any) -> Any:
        xp = self.xp
        idx = self._host_rng.choice(self.n_sketches, size=self.per_query, replace=False)
        est = self._estimates(h, c, idx).astype(xp.float64)
        step = self.resolution * self.norm_bound * float(xp.linalg.norm(h))
        if step == 0.0:
            out = xp.zeros(est.shape[1], dtype=self.dtype)
        else:
            out = _private_median(xp, est, step, self._half, self.dp_epsilon,
                                  self._gen).astype(self.dtype)
        self.n_queries += 1
        self.queries_left -= 1
        if self.queries_left == 0:
            self._draw()
            self.n_redraws += 1
            self.queries_left = self.max_queries
        return out
