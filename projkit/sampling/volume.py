"""Volume sampling of rows, and the generalized volume-rescaled sampling of Nouy & Michel.

Volume sampling picks ``k`` rows of ``X`` (``N × d``) with probability proportional to the
squared volume they span. For ``k ≤ rank(X)`` that is ``det(X_S X_Sᵀ)``: the k-DPP of the
L-ensemble ``L = X Xᵀ`` (Deshpande et al.). For ``k ≥ d`` it is ``det(X_Sᵀ X_S)`` (Dereziński &
Warmuth), and by the Cauchy–Binet formula it decomposes into the projection DPP on the column
space of ``X`` (``d`` rows) plus ``k - d`` rows uniformly at random among the others. With a
probability vector ``q`` over rows, *volume-rescaled* sampling draws ``k`` rows with
replacement, with law ∝ ``det(Σ_i x_{j_i} x_{j_i}ᵀ / q_{j_i}) ∏_i q_{j_i}``; it is the projection
DPP (``d`` rows) plus ``k - d`` i.i.d. draws from ``q`` — the paper's generalized
volume-rescaled sampling when ``q`` is the optimal density of weighted least squares.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .._backend import check_input, check_positive_int, draw_key, linalg
from .._backend.random import hash_entry, hash_row, uniform_from_bits
from .dpp import _k_dpp, _projection_dpp

__all__ = ["volume_sample"]

# decorrelates the keys of the extra (non-DPP) draws from those of the DPP part
_EXTRA_KEY = 0x5851F42D4C957F2D


def volume_sample(X: Any, k: int, *, q: Any = None, n_samples: int = 1, rng: Any = None) -> Any:
    """Volume sampling of ``k`` rows of ``X``; volume-rescaled sampling with ``q``.

    Parameters
    ----------
    X : (N, d) array
        Rows are the items (dense NumPy, CuPy or Array-API array).
    k : int
        Number of rows per sample. Without ``q``: ``1 ≤ k ≤ N``, and when ``k`` exceeds the
        rank of ``X`` it must have full column rank. With ``q``: ``k ≥ d = rank(X)``.
    q : (N,) array, optional
        A probability vector over the rows (normalized here; nonnegative, positive on the rows
        that can be drawn). Switches to volume-rescaled sampling with replacement.
    n_samples : int, default 1
    rng : None, int or numpy.random.Generator
        SPEC 7.

    Returns
    -------
    samples : (n_samples, k) int64 array
        Row indices, sorted within each sample; distinct without ``q``, possibly repeated with.

    Raises
    ------
    ValueError
        Bad ``k``, or ``q`` of the wrong length, negative or summing to zero.
    numpy.linalg.LinAlgError
        ``k > rank(X)`` with ``X`` not of full column rank (every subset has volume 0).

    Notes
    -----
    Without ``q``, ``P(S) ∝ det(X_S X_Sᵀ)`` for ``|S| = k ≤ r = rank X`` (a k-DPP with
    ``L = X Xᵀ``, sampled from the SVD ``X = U Σ Wᵀ`` as the k-DPP with eigenpairs
    ``(σ_i², u_i)``) and ``P(S) ∝ det(X_Sᵀ X_S)`` for ``k ≥ d``. Both agree at ``k = d = r``,
    the projection DPP with kernel ``U Uᵀ``. For ``k > d``, Cauchy–Binet gives
    ``det(X_Sᵀ X_S) = Σ_{T ⊂ S, |T| = d} det(X_T)²``: draw ``T`` from the projection DPP and add
    ``k - d`` rows uniformly from the rest.

    With ``q`` (volume-rescaled sampling, Dereziński, Warmuth & Hsu; generalized in Nouy &
    Michel, Sec. 4): the ordered draw ``(j_1, …, j_k)`` has law
    ``∝ det(Σ_i ψ_{j_i} ψ_{j_i}ᵀ) ∏_i q_{j_i}`` with ``ψ_j = x_j / √q_j``; again by Cauchy–Binet it
    is a projection DPP of ``d`` rows (independent of ``q``) and ``k - d`` i.i.d. rows from
    ``q``, in random positions. In weighted least squares with ``q`` the optimal density
    ``q_j = ||U_j||² / d`` this gives quasi-optimal approximation in expectation with
    ``k = O(d log d)`` samples (Nouy & Michel, Thm. 4.4).

    References
    ----------
    .. [1] A. Deshpande, L. Rademacher, S. Vempala, G. Wang, "Matrix approximation and
       projective clustering via volume sampling", Theory of Computing 2 (2006).
    .. [2] M. Dereziński, M. K. Warmuth, "Unbiased estimates for linear regression via volume
       sampling", NeurIPS (2017).
    .. [3] M. Dereziński, M. K. Warmuth, D. Hsu, "Unbiased estimators for random design
       regression", JMLR 23 (2022).
    .. [4] A. Nouy, B. Michel, "Weighted least-squares approximation with determinantal point
       processes and generalized volume sampling", arXiv:2312.14057 (2023).

    Examples
    --------
    >>> import numpy as np
    >>> from projkit import volume_sample
    >>> X = np.random.default_rng(0).standard_normal((20, 3))
    >>> volume_sample(X, 5, n_samples=2, rng=0).shape
    (2, 5)
    >>> q = np.full(20, 1 / 20)
    >>> volume_sample(X, 6, q=q, rng=0).shape
    (1, 6)
    """
    X, xp, back = check_input(X, name="X", accept_sparse=False, min_shape=(1, 1))
    N, d = X.shape
    n_samples = check_positive_int(n_samples, name="n_samples")
    if q is None:
        k = check_positive_int(k, name="k", high=N)
    else:
        k = check_positive_int(k, name="k")
        q, _, _ = check_input(q, name="q", ndim=1)
        if q.shape[0] != N:
            raise ValueError(f"q: expected {N} probabilities (one per row of X), "
                             f"got {q.shape[0]}")
        q = xp.asarray(q, dtype=xp.float64)
        if float(xp.min(q)) < 0 or float(xp.sum(q)) <= 0:
            raise ValueError("q: expected nonnegative weights with a positive sum")
        q = q / xp.sum(q)
    key = draw_key(rng)
    return back(_volume_sample(X.astype(xp.float64), k, q, n_samples, key, xp))


def _volume_sample(X: Any, k: int, q: Any, n_samples: int, key: int, xp: ModuleType) -> Any:
    """Body: ``X`` float64, ``q`` None or normalized float64."""
    d = X.shape[1]
    U, s, _ = linalg.svd(xp, X)
    rank = linalg.numerical_rank(xp, s, X.shape, None, X.dtype)
    if q is None and k <= rank:
        if k == rank:
            return _projection_dpp(U[:, :rank], n_samples, key, xp)
        return _k_dpp(U[:, :rank], s[:rank] ** 2, "L", k, n_samples, key, xp)
    if rank < d:
        raise np.linalg.LinAlgError(
            f"X: rank {rank} is below its {d} columns, so every set of k={k} > {rank} rows "
            "has volume 0")
    if k < d:
        raise ValueError(f"k: volume-rescaled sampling needs k >= d = {d}, got {k}")
    return _rescaled(U, k, q, n_samples, key, xp)


def _rescaled(U: Any, k: int, q: Any, n_samples: int, key: int, xp: ModuleType) -> Any:
    """Projection DPP on ``U`` (``d`` items) plus ``k - d`` extra items per sample: uniform
    without replacement among the others (``q`` None) or i.i.d. from ``q``."""
    N, d = U.shape
    core = _projection_dpp(U, n_samples, key, xp)
    extra = k - d
    if extra == 0:
        return core
    rows = hash_row(key ^ _EXTRA_KEY, xp.arange(n_samples, dtype=xp.uint64), xp)[:, None]
    if q is None:
        u = uniform_from_bits(hash_entry(rows, xp.arange(N, dtype=xp.uint64)[None, :], xp), xp)
        taken = xp.zeros((n_samples, N), dtype=bool)
        taken[xp.arange(n_samples)[:, None], core] = True
        u = xp.where(taken, 2.0, u)  # never among the k - d smallest
        more = xp.argpartition(u, extra - 1, axis=1)[:, :extra] if extra < N else \
            xp.argsort(u, axis=1)[:, :extra]
    else:
        u = uniform_from_bits(hash_entry(rows, xp.arange(extra, dtype=xp.uint64)[None, :], xp),
                              xp)
        cdf = xp.cumsum(q)
        more = xp.searchsorted(cdf, (u * cdf[-1]).reshape(-1), side="right").reshape(u.shape)
        # past the end only by rounding: the last row with positive probability
        last = N - 1 - int(xp.argmax(xp.flip(q > 0).astype(xp.int8)))
        more = xp.minimum(more, last)
    return xp.sort(xp.concatenate([core, more.astype(xp.int64)], axis=1), axis=1)
