"""Weighted least-squares approximation from DPP, volume-rescaled and optimal i.i.d. samples.

Approximate ``f`` in the span ``V_m`` of ``m`` features ``φ_1..φ_m`` (orthonormal in
``L²(μ)``) from ``n`` evaluations ``f(x_1)..f(x_n)`` at random points, by the weighted least
squares ``min_c Σ_i w(x_i) (f(x_i) - φ(x_i)ᵀ c)²`` with ``w(x) = m / k_m(x, x)``,
``k_m(x, x) = Σ_j φ_j(x)²``. The schemes of Nouy & Michel differ in how the points are drawn:

* ``"iid_optimal"``: i.i.d. from the optimal density ``ρ_m = k_m(x, x) / m`` (Cohen–Migliorati);
* ``"projection_dpp"``: ``n = m`` points from the projection DPP with kernel ``k_m``;
* ``"volume"``: generalized volume-rescaled sampling, a projection DPP of ``m`` points plus
  ``n - m`` i.i.d. points from ``ρ_m``;
* ``"repeated_dpp"``: independent repetitions of the projection DPP (``n / m`` of them).

Each point has marginal density ``ρ_m`` in all four, so the weighted empirical Gram matrix is
unbiased; the DPP schemes add repulsion between the points and reach the quasi-optimal error
with fewer samples. The measure ``μ`` is represented by a finite candidate set (a fine grid or
a large i.i.d. pool) with equal weights, on which the features are re-orthonormalized (thin QR)
so the sampled laws are exact for that discrete measure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import check_input, check_positive_int, draw_key, select
from .._backend.random import hash_entry, hash_row, uniform_from_bits
from .dpp import _orthonormal_basis, _projection_dpp
from .volume import _rescaled

__all__ = ["DPPLstsq", "dpp_lstsq", "legendre_features", "trigonometric_features"]

_SCHEMES = ("projection_dpp", "volume", "repeated_dpp", "iid_optimal")
_IID_KEY = 0x2545F4914F6CDD1D
_DEFAULT_GRID = 10_000


@dataclass(frozen=True)
class DPPLstsq:
    """Result of :func:`dpp_lstsq`.

    Attributes
    ----------
    coefficients : (m,) array
        Coefficients of the approximation in the given features: ``f ≈ φ(x)ᵀ c``.
    sample : (n,) int64 array
        Indices of the sampled points in the candidate set.
    points : array
        The sampled points, ``candidates[sample]``.
    weights : (n,) array
        Least-squares weights ``w(x_i) = m / k_m(x_i, x_i)``.
    """

    coefficients: Any
    sample: Any
    points: Any
    weights: Any


def legendre_features(x: Any, m: int) -> Any:
    """Legendre polynomials ``√(2j+1) P_j(x)``, ``j < m``: orthonormal for ``dx/2`` on [-1, 1].

    Parameters
    ----------
    x : (n,) array
        Points of [-1, 1].
    m : int
        Number of features (polynomial degree ``m - 1``).

    Returns
    -------
    (n, m) array in the dtype of ``x`` (float64 for integer input).

    Notes
    -----
    Three-term recurrence ``(j+1) P_{j+1} = (2j+1) x P_j - j P_{j-1}``, stable on [-1, 1].

    Examples
    --------
    >>> import numpy as np
    >>> x, w = np.polynomial.legendre.leggauss(10)
    >>> P = legendre_features(x, 4)
    >>> bool(np.allclose(P.T @ (w[:, None] / 2 * P), np.eye(4)))
    True
    """
    x, xp, back = check_input(x, name="x", ndim=1, accept_sparse=False)
    m = check_positive_int(m, name="m")
    return back(_legendre(x, m, xp))


def _legendre(x: Any, m: int, xp: ModuleType) -> Any:
    cols = [xp.ones_like(x)]
    if m > 1:
        cols.append(x)
    for j in range(1, m - 1):
        cols.append(((2 * j + 1) * x * cols[j] - j * cols[j - 1]) / (j + 1))
    P = xp.stack(cols, axis=1)
    scale = xp.asarray([math.sqrt(2 * j + 1) for j in range(m)], dtype=x.dtype)
    return P * scale[None, :]


def trigonometric_features(x: Any, m: int) -> Any:
    """Trigonometric basis ``1, √2 cos 2πjx, √2 sin 2πjx, …`` (first ``m``), orthonormal on [0, 1].

    Parameters
    ----------
    x : (n,) array
        Points of [0, 1] (the functions are 1-periodic).
    m : int
        Number of features.

    Returns
    -------
    (n, m) array in the dtype of ``x`` (float64 for integer input).

    Examples
    --------
    >>> import numpy as np
    >>> x = (np.arange(64) + 0.5) / 64
    >>> T = trigonometric_features(x, 5)
    >>> bool(np.allclose(T.T @ T / 64, np.eye(5)))
    True
    """
    x, xp, back = check_input(x, name="x", ndim=1, accept_sparse=False)
    m = check_positive_int(m, name="m")
    return back(_trigonometric(x, m, xp))


def _trigonometric(x: Any, m: int, xp: ModuleType) -> Any:
    cols = [xp.ones_like(x)]
    s2 = math.sqrt(2.0)
    j = 1
    while len(cols) < m:
        cols.append(s2 * xp.cos(2 * math.pi * j * x))
        if len(cols) < m:
            cols.append(s2 * xp.sin(2 * math.pi * j * x))
        j += 1
    return xp.stack(cols, axis=1)


_NAMED: dict[str, tuple[Callable[..., Any], float, float]] = {
    "legendre": (_legendre, -1.0, 1.0),
    "trigonometric": (_trigonometric, 0.0, 1.0),
}


def dpp_lstsq(f: Any, features: Any, m: int, *, n_samples: int | None = None,
              scheme: str = "projection_dpp", candidates: Any = None,
              rng: Any = None) -> DPPLstsq:
    """Weighted least-squares approximation of ``f`` in ``m`` features from random samples.

    Parameters
    ----------
    f : callable or (N,) array
        ``f(points)`` evaluated (vectorized) at the sampled points only, or the values of ``f``
        at all candidates.
    features : {"legendre", "trigonometric"} or callable
        The feature map: ``features(x, m)`` returns the ``(len(x), m)`` matrix
        ``[φ_1(x) … φ_m(x)]``, orthonormal (or nearly) for the candidates' measure. The names
        select :func:`legendre_features` (``[-1, 1]``, uniform measure) and
        :func:`trigonometric_features` (``[0, 1]``).
    m : int
        Dimension of the approximation space.
    n_samples : int, optional
        Number of evaluation points ``n``. ``"projection_dpp"`` uses exactly ``m``; the others
        default to ``max(m, ⌈m log m⌉)``. ``"volume"`` needs ``n ≥ m``; ``"repeated_dpp"``
        rounds ``n`` up to a multiple of ``m`` (``⌈n/m⌉`` independent DPPs).
    scheme : {"projection_dpp", "volume", "repeated_dpp", "iid_optimal"}
    candidates : int or array, optional
        The finite set that represents the measure ``μ`` (equal weights): an array of points
        (``(N,)`` or ``(N, dim)``; a fine grid or an i.i.d. pool from ``μ``), or, for named
        features, the size of a midpoint grid of the interval (default 10 000).
    rng : None, int or numpy.random.Generator
        SPEC 7.

    Returns
    -------
    DPPLstsq
        ``coefficients`` (in the given features), ``sample`` (candidate indices), ``points``
        and ``weights``.

    Raises
    ------
    ValueError
        Unknown scheme or features, bad sizes, ``f`` of the wrong length.
    numpy.linalg.LinAlgError
        The features are linearly dependent on the candidates.

    Notes
    -----
    On the candidates ``x_1..x_N`` with ``μ_N = (1/N) Σ δ_{x_j}``, let ``Φ`` (``N × m``) hold the
    features and ``Φ = Q R`` (thin QR). ``Q`` is an orthonormal basis of ``V_m`` in ``L²(μ_N)``
    up to the factor ``√N``, so ``k_m(x_j, x_j) = N ||Q_j||²``, the optimal density is
    ``ρ_m(x_j) = ||Q_j||² / m`` and the weights ``w_j = m / (N ||Q_j||²)``. The projection DPP
    has kernel ``Q Qᵀ`` (marginal ``||Q_j||² = ρ_m(x_j) · m``). The coefficients solve
    ``min_c Σ_i w(x_i) (f(x_i) - φ(x_i)ᵀ c)²`` (``lstsq``, minimum-norm if rank deficient).

    References
    ----------
    .. [1] A. Nouy, B. Michel, "Weighted least-squares approximation with determinantal point
       processes and generalized volume sampling", arXiv:2312.14057 (2023).
    .. [2] A. Cohen, G. Migliorati, "Optimal weighted least-squares methods", SMAI J. Comput.
       Math. 3 (2017).

    Examples
    --------
    >>> import numpy as np
    >>> from projkit import dpp_lstsq
    >>> res = dpp_lstsq(np.exp, "legendre", 6, scheme="volume", n_samples=12,
    ...                 candidates=2000, rng=0)
    >>> res.coefficients.shape, res.sample.shape
    ((6,), (12,))
    >>> x = np.linspace(-1, 1, 5)
    >>> bool(np.max(np.abs(legendre_features(x, 6) @ res.coefficients - np.exp(x))) < 1e-2)
    True
    """
    m = check_positive_int(m, name="m")
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme: expected one of {_SCHEMES}, got {scheme!r}")
    if isinstance(features, str):
        if features not in _NAMED:
            raise ValueError(f"features: expected 'legendre', 'trigonometric' or a callable, "
                             f"got {features!r}")
        fmap, lo, hi = _NAMED[features]
        if candidates is None or isinstance(candidates, int | np.integer):
            N = _DEFAULT_GRID if candidates is None else check_positive_int(
                candidates, name="candidates")
            candidates = lo + (hi - lo) * (np.arange(N) + 0.5) / N
        X, xp, back = check_input(candidates, name="candidates", ndim=1, accept_sparse=False)
        Phi = fmap(X, m, xp)
    elif callable(features):
        if candidates is None or isinstance(candidates, int | np.integer):
            raise ValueError("candidates: expected an array of points for a callable feature map")
        X, xp, back = check_input(candidates, name="candidates", ndim=(1, 2),
                                  accept_sparse=False)
        Phi, _, _ = check_input(features(X, m), name="features(candidates, m)",
                                accept_sparse=False)
    else:
        raise TypeError(f"features: expected a name or a callable, got {type(features).__name__}")
    N = X.shape[0]
    if tuple(Phi.shape) != (N, m):
        raise ValueError(f"features: expected a ({N}, {m}) matrix on the candidates, "
                         f"got shape {tuple(Phi.shape)}")
    if m > N:
        raise ValueError(f"m: expected at most the {N} candidates, got {m}")
    if n_samples is None:
        n = m if scheme == "projection_dpp" else max(m, math.ceil(m * math.log(m)))
    else:
        n = check_positive_int(n_samples, name="n_samples")
        if scheme == "projection_dpp" and n != m:
            raise ValueError(f"n_samples: a projection DPP draws exactly m = {m} points, got {n};"
                             " use scheme='repeated_dpp' or 'volume' for more")
        if scheme == "volume" and n < m:
            raise ValueError(f"n_samples: volume sampling needs at least m = {m}, got {n}")
    values = None
    if not callable(f):
        values, _, _ = check_input(f, name="f", ndim=1, accept_sparse=False)
        if values.shape[0] != N:
            raise ValueError(f"f: expected {N} values (one per candidate), got {values.shape[0]}")
    key = draw_key(rng)
    res = _dpp_lstsq(f, values, X, Phi, m, n, scheme, key, xp)
    return DPPLstsq(*(back(a) for a in res))


def _dpp_lstsq(f: Any, values: Any, X: Any, Phi: Any, m: int, n: int, scheme: str, key: int,
               xp: ModuleType) -> tuple[Any, Any, Any, Any]:
    """Body: sample, weight and solve. Returns (coefficients, sample, points, weights)."""
    N = X.shape[0]
    try:
        Q = _orthonormal_basis(Phi.astype(xp.float64), xp)
    except np.linalg.LinAlgError as exc:
        raise np.linalg.LinAlgError("features: linearly dependent on the candidate set") from exc
    lev = xp.sum(Q * Q, axis=1)  # leverage, sums to m
    q = lev / m  # optimal density on the candidates
    if scheme == "projection_dpp":
        idx = _projection_dpp(Q, 1, key, xp)[0]
    elif scheme == "repeated_dpp":
        idx = _projection_dpp(Q, -(-n // m), key, xp).reshape(-1)
    elif scheme == "volume":
        idx = _rescaled(Q, n, q, 1, key, xp)[0]
    else:
        rows = hash_row(key ^ _IID_KEY, xp.zeros((1,), dtype=xp.uint64), xp)[:, None]
        u = uniform_from_bits(hash_entry(rows, xp.arange(n, dtype=xp.uint64)[None, :], xp), xp)
        cdf = xp.cumsum(q)
        idx = xp.searchsorted(cdf, u[0] * cdf[-1], side="right")
        last = N - 1 - int(xp.argmax(xp.flip(q > 0).astype(xp.int8)))
        idx = xp.minimum(idx, last).astype(xp.int64)
    w = (1.0 / (N * q[idx])).astype(Phi.dtype)
    pts = X[idx]
    y = f(pts) if values is None else values[idx]
    y = xp.asarray(y, dtype=Phi.dtype)
    if tuple(y.shape) != (idx.shape[0],):
        raise ValueError(f"f: expected {idx.shape[0]} values at the sampled points, "
                         f"got shape {tuple(y.shape)}")
    sw = xp.sqrt(w)
    A = sw[:, None] * Phi[idx]
    lstsq = select(xp, cpu=_lstsq_lapack, fallback=_lstsq_xp, what="least squares")
    return lstsq(xp, A, sw * y), idx, pts, w


def _lstsq_lapack(xp: ModuleType, A: Any, b: Any) -> Any:
    """Minimum-norm least-squares solution on NumPy (LAPACK ``gelsd``)."""
    import scipy.linalg

    return scipy.linalg.lstsq(A, b, check_finite=False)[0]


def _lstsq_xp(xp: ModuleType, A: Any, b: Any) -> Any:
    """Minimum-norm least-squares solution on any other namespace (CuPy: SVD-based)."""
    return xp.linalg.lstsq(A, b, rcond=None)[0]
