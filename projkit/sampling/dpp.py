"""Exact sampling of finite determinantal point processes (DPPs), many samples at once.

A DPP on the ground set ``{0, …, N-1}`` with correlation kernel ``K`` (symmetric, eigenvalues in
``[0, 1]``) draws a random subset ``Y`` with ``P(S ⊆ Y) = det(K_S)``; an L-ensemble with
likelihood kernel ``L ⪰ 0`` draws ``P(Y = S) = det(L_S) / det(L + I)``; a k-DPP conditions an
L-ensemble on ``|Y| = k``. Every such law is a mixture of *projection* DPPs (``K = V Vᵀ``,
``VᵀV = I``), and that is where the time goes. projkit samples a projection DPP by the chain
rule with each conditional drawn by rejection from the fixed law ``p_j = ||V_j||² / r``, which
costs ``O(r³ log r)`` per sample instead of the ``O(N r²)`` of the Gram–Schmidt sampler, and it
runs all samples of a batch in parallel (a Numba kernel on the CPU, batched matrix products on
CuPy).

Robustness: eigenvalues of ``K`` within a tolerance outside ``[0, 1]`` (``L``: below ``0``) are
clipped, residual probabilities below ``rtol·||V_j||²`` are treated as zero, directions are
re-orthogonalized (two Gram–Schmidt passes) and the conditionals are never normalized, so the
"probabilities do not sum to 1" failure of samplers that call ``choice(p=...)`` cannot occur.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import (
    array_namespace,
    check_input,
    check_positive_int,
    draw_key,
    linalg,
    select,
    to_numpy,
)
from . import _dpp_xp

__all__ = ["sample_dpp", "sample_projection_dpp"]

# max |VᵀV - I| accepted as "orthonormal" when orthonormalize=False, by input dtype
_ORTHO_TOL = {np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-6}
# residual probabilities below RTOL * ||V_j||² are rounding noise of items already spanned
_RTOL = 1e-10
# relative tolerance on kernel eigenvalues outside [0, 1] (K) or below 0 (L) before clipping
_EIG_TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-8}


# ---------------------------------------------------------------------------------------------
# engines


def _numba_engine() -> ModuleType:
    from . import _dpp_numba  # imported on first use: Numba loads only when NumPy data arrive

    return _dpp_numba


def _xp_engine() -> ModuleType:
    return _dpp_xp


def _kernels(xp: ModuleType) -> Any:
    """The kernel module serving ``xp``'s arrays: :mod:`._dpp_numba` (Numba kernels) on NumPy,
    :mod:`._dpp_xp` (batched array-namespace code) on CuPy and elsewhere. Both offer
    ``projection_dpp``, ``spectral_dpp`` and ``k_dpp`` with the same signatures."""
    return select(xp, cpu=_numba_engine, fallback=_xp_engine, what="DPP sampling")()


def _poulson(xp: ModuleType) -> Callable[..., list[Any]] | None:
    """Poulson's sampler for ``xp``'s arrays, or None: it has a CPU engine only."""
    try:
        return select(xp, cpu=_cholesky_dpp, what="Poulson's sampler")
    except TypeError:
        return None


# ---------------------------------------------------------------------------------------------
# projection DPP


def sample_projection_dpp(V: Any, *, n_samples: int = 1, orthonormalize: bool = False,
                          rng: Any = None) -> Any:
    """Exact samples of the projection DPP with kernel ``K = V Vᵀ``.

    Parameters
    ----------
    V : (N, r) array
        Orthonormal columns spanning the range of the projection (NumPy, CuPy or another
        Array-API array). Items are the ``N`` rows.
    n_samples : int, default 1
        Number of independent samples, drawn as one batch.
    orthonormalize : bool, default False
        Replace ``V`` by an orthonormal basis of its column space first (thin QR). Without it,
        ``V`` must satisfy ``max |VᵀV - I| ≤ 1e-6`` (``1e-3`` for float32); deviations above
        rounding level are removed by a QR re-orthonormalization.
    rng : None, int or numpy.random.Generator
        SPEC 7. An int gives the same samples on every call, whatever the number of threads.

    Returns
    -------
    samples : (n_samples, r) int64 array
        Each row holds ``r`` distinct items, sorted.

    Raises
    ------
    ValueError
        ``V`` not orthonormal (and ``orthonormalize=False``), or ``r > N``.
    numpy.linalg.LinAlgError
        ``V`` has rank below ``r`` (with ``orthonormalize=True``).

    Notes
    -----
    A projection DPP has ``P(Y = S) = det(V_S)²`` for ``|S| = r``. The chain rule picks item
    ``j`` at step ``t`` with probability ``||(I - Q_t Q_tᵀ) V_j||² / (r - t)``, ``Q_t`` an
    orthonormal basis of the rows already chosen. projkit draws it by rejection: propose
    ``j ~ ||V_j||² / r`` (binary search in the running sum), accept with probability
    ``||(I - Q_t Q_tᵀ) V_j||² / ||V_j||² ≤ 1``. The acceptance rate is exactly
    ``(r - t) / r``, so a sample takes ``r H_r ≈ r ln r`` proposals of cost ``O(r t)`` each —
    ``O(r³ log r)``, independent of ``N``. After a cap on the number of proposals a step
    falls back to computing every residual (``O(N r t)``), which keeps the law exact.

    References
    ----------
    .. [1] J. B. Hough, M. Krishnapur, Y. Peres, B. Virág, "Determinantal processes and
       independence", Probability Surveys 3 (2006). (Chain rule / Algorithm 18.)
    .. [2] A. Nouy, B. Michel, "Weighted least-squares approximation with determinantal point
       processes and generalized volume sampling", arXiv:2312.14057 (2023).
    .. [3] G. Gautier, G. Polito, R. Bardenet, M. Valko, "DPPy: DPP sampling with Python",
       JMLR 20(180) (2019).

    Examples
    --------
    >>> import numpy as np
    >>> from projkit import sample_projection_dpp
    >>> V, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((50, 4)))
    >>> S = sample_projection_dpp(V, n_samples=3, rng=0)
    >>> S.shape, all(len(set(row)) == 4 for row in S)
    ((3, 4), True)
    """
    V, xp, back = check_input(V, name="V", accept_sparse=False, min_shape=(1, 1))
    N, r = V.shape
    if r > N:
        raise ValueError(f"V: expected at most as many columns as rows (N x r, r <= N), "
                         f"got shape {tuple(V.shape)}")
    n_samples = check_positive_int(n_samples, name="n_samples")
    in_dtype = np.dtype(str(V.dtype))
    V = V.astype(xp.float64)
    V = _orthonormal(V, xp, force=bool(orthonormalize), tol=_ORTHO_TOL[in_dtype])
    key = draw_key(rng)
    return back(_projection_dpp(V, n_samples, key, xp))


def _orthonormal(V: Any, xp: ModuleType, *, force: bool, tol: float) -> Any:
    """``V`` itself, or an orthonormal basis of its range (thin QR)."""
    r = V.shape[1]
    if not force:
        dev = float(xp.max(xp.abs(V.T @ V - xp.eye(r, dtype=V.dtype))))
        if dev > tol:
            raise ValueError(
                f"V: expected orthonormal columns (max |V^T V - I| <= {tol:g}), got {dev:.3g}; "
                "pass orthonormalize=True to sample the projection onto the span of V")
        if dev <= 64 * r * linalg.eps(V.dtype):
            return V
    try:
        return _orthonormal_basis(V, xp)
    except np.linalg.LinAlgError as exc:
        raise np.linalg.LinAlgError(
            f"V: rank is below its {r} columns; a projection DPP of size {r} does not exist"
        ) from exc


def _orthonormal_basis(Phi: Any, xp: ModuleType) -> Any:
    """Orthonormal basis of the range of ``Phi`` (N × m, N ≫ m) by Cholesky-QR twice.

    The features are (nearly) orthonormal already, so the Gram matrix is well conditioned and
    CholeskyQR2 is as accurate as Householder QR while costing two ``m × m`` factorizations and
    BLAS-3 products (LAPACK's tall-skinny QR was 1000× slower here). Falls back to Householder
    QR when a step breaks down (the Gram matrix is not numerically positive definite, or its
    Cholesky diagonal spans more than ``1e6``: ``cond(G) > 1e12``, too ill-posed).
    """
    m = Phi.shape[1]
    Q = Phi
    for _ in range(2):
        step = linalg.cholesky_qr_step(xp, Q, 1e6)
        if step is None:
            break
        Q = step[0]
    else:
        return Q
    Q, R = xp.linalg.qr(Phi)  # Householder; R's diagonal tells the rank
    d = xp.abs(xp.diagonal(R))
    if float(xp.min(d)) <= m * linalg.eps(Phi.dtype) * float(xp.max(d)):
        raise np.linalg.LinAlgError("columns are linearly dependent")
    return Q


def _projection_dpp(V: Any, n_samples: int, key: int, xp: ModuleType) -> Any:
    """Body: ``V`` float64 with orthonormal columns. Sorted (n_samples, r) int64 samples."""
    return _kernels(xp).projection_dpp(xp, V, n_samples, key, _RTOL)


# ---------------------------------------------------------------------------------------------
# general DPPs and k-DPPs


def sample_dpp(*, K: Any = None, L: Any = None, eigen: Any = None, k: int | None = None,
               n_samples: int = 1, eigen_of: str = "L", method: str = "auto",
               rng: Any = None) -> Any:
    """Exact samples of a DPP given by ``K``, by ``L``, or by an eigendecomposition; k-DPPs.

    Every argument is keyword-only (``sample_dpp(K=...)``, ``sample_dpp(L=...)``): a kernel
    passed positionally would be ambiguous between the two.

    Parameters
    ----------
    K : (N, N) array, optional
        Correlation (marginal) kernel: symmetric, eigenvalues in ``[0, 1]``.
    L : (N, N) array, optional
        Likelihood kernel of an L-ensemble: symmetric positive semi-definite.
    eigen : tuple (eigenvalues, eigenvectors), optional
        ``(w, U)`` with ``U`` (N × M) orthonormal columns, the eigendecomposition of ``L``
        (or of ``K`` with ``eigen_of="K"``); skips the ``O(N³)`` setup, so pass it when the
        same kernel is sampled repeatedly.
    k : int, optional
        Sample a k-DPP: the L-ensemble conditioned on ``|Y| = k``.
    n_samples : int, default 1
    eigen_of : {"L", "K"}, default "L"
        Which kernel ``eigen`` decomposes.
    method : {"auto", "spectral", "cholesky"}, default "auto"
        ``"spectral"`` eigendecomposes the kernel once and then samples every draw in
        ``O(N r + r³ log r)`` (``r`` = the draw's size); ``"cholesky"`` is Poulson's
        eigendecomposition-free LDLᵀ sampler, ``O(N³)`` per draw, for one draw of a general DPP
        (not a k-DPP, not from ``eigen``). ``"auto"`` takes ``"cholesky"`` for a single draw
        from ``K`` or ``L`` with ``N ≤ 3000``, else ``"spectral"``.
    rng : None, int or numpy.random.Generator
        SPEC 7.

    Returns
    -------
    samples : (n_samples, k) int64 array for a k-DPP, else a list of ``n_samples`` sorted
        1-D int64 arrays (sizes vary).

    Raises
    ------
    ValueError
        Not exactly one of ``K``, ``L``, ``eigen``; a kernel not symmetric, with eigenvalues
        outside ``[0, 1]`` (``K``) or negative (``L``, not positive semi-definite) beyond the
        tolerance ``1e-8·max(1, |λ|max)`` (``1e-4`` in float32); ``k`` above the kernel's
        rank. The spectrum is checked for every ``method`` (``"cholesky"`` included, at the
        cost of one ``eigvalsh``, the same ``O(N³)`` as its draw).

    Notes
    -----
    Spectral method (Hough et al. [1]_): with ``K = Σ μ_i u_i u_iᵀ``, keep eigenvector ``i``
    independently with probability ``μ_i`` (for ``L``: ``μ_i = λ_i / (1 + λ_i)``), then draw
    the projection DPP on the kept eigenvectors (see :func:`sample_projection_dpp`). For a
    k-DPP exactly ``k`` eigenvectors are kept, set ``J`` with probability ∝ ``∏_{i∈J} λ_i``,
    by the backward recursion of Kulesza & Taskar [2]_ on the elementary symmetric polynomials
    ``e_l(λ_1..λ_n)``, computed in log space (no overflow for large ``λ`` or ``k``).
    Eigenvalues outside the valid range by less than the tolerance are clipped.

    Cholesky method (Poulson [3]_): for ``i = 1..N``, keep ``i`` with probability ``D_ii`` of the
    running LDLᵀ factorization of ``K`` and eliminate with pivot ``D_ii`` (kept) or
    ``D_ii - 1`` (not kept); ``L`` is first turned into ``K = I - (I + L)⁻¹``.

    References
    ----------
    .. [1] J. B. Hough, M. Krishnapur, Y. Peres, B. Virág, "Determinantal processes and
       independence", Probability Surveys 3 (2006).
    .. [2] A. Kulesza, B. Taskar, "Determinantal point processes for machine learning",
       Foundations and Trends in ML 5 (2012), Algorithms 1 and 8.
    .. [3] J. Poulson, "High-performance sampling of generic determinantal point processes",
       Phil. Trans. R. Soc. A 378 (2020).
    .. [4] A. Nouy, B. Michel, "Weighted least-squares approximation with determinantal point
       processes and generalized volume sampling", arXiv:2312.14057 (2023).

    Examples
    --------
    >>> import numpy as np
    >>> from projkit import sample_dpp
    >>> X = np.random.default_rng(0).standard_normal((30, 5))
    >>> S = sample_dpp(L=X @ X.T, k=3, n_samples=4, rng=1)
    >>> S.shape
    (4, 3)
    >>> len(sample_dpp(L=X @ X.T, n_samples=2, rng=1))
    2
    """
    given = [name for name, a in (("K", K), ("L", L), ("eigen", eigen)) if a is not None]
    if len(given) != 1:
        raise ValueError(f"expected exactly one of K, L, eigen; got {given or 'none'}")
    n_samples = check_positive_int(n_samples, name="n_samples")
    if method not in ("auto", "spectral", "cholesky"):
        raise ValueError(f"method: expected 'auto', 'spectral' or 'cholesky', got {method!r}")
    if eigen_of not in ("L", "K"):
        raise ValueError(f"eigen_of: expected 'L' or 'K', got {eigen_of!r}")
    key = draw_key(rng)
    back = None
    if eigen is not None:
        if not isinstance(eigen, tuple | list) or len(eigen) != 2:
            raise TypeError("eigen: expected a tuple (eigenvalues, eigenvectors)")
        w, U = eigen
        U, xp, back = check_input(U, name="eigen[1]", accept_sparse=False, min_shape=(1, 1))
        w, _, _ = check_input(w, name="eigen[0]", ndim=1)
        if array_namespace(w, U) is not xp:
            raise TypeError("eigen: eigenvalues and eigenvectors live in different libraries")
        if w.shape[0] != U.shape[1]:
            raise ValueError(f"eigen: expected {U.shape[1]} eigenvalues for eigenvectors of "
                             f"shape {tuple(U.shape)}, got {w.shape[0]}")
        kind = eigen_of
        N = U.shape[0]
        tol = _EIG_TOL[np.dtype(str(U.dtype))]
        if method == "cholesky":
            raise ValueError("method: 'cholesky' needs K or L, not eigen")
    else:
        name = "K" if K is not None else "L"
        A, xp, back = check_input(K if K is not None else L, name=name, accept_sparse=False,
                                  min_shape=(1, 1))
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"{name}: expected a square matrix, got shape {tuple(A.shape)}")
        tol = _EIG_TOL[np.dtype(str(A.dtype))]
        A = A.astype(xp.float64)
        scale = max(1.0, float(xp.max(xp.abs(A))))
        if float(xp.max(xp.abs(A - A.T))) > tol * scale:
            raise ValueError(f"{name}: expected a symmetric matrix")
        kind = name
        N = A.shape[0]
    if k is not None:
        k = check_positive_int(k, name="k", high=N)
    poulson = _poulson(xp)
    if method == "auto":
        method = ("cholesky" if n_samples == 1 and k is None and eigen is None and N <= 3000
                  and poulson is not None else "spectral")
    if method == "cholesky":
        if poulson is None:
            raise ValueError("method: 'cholesky' runs on NumPy input only; use 'spectral'")
        if k is not None:
            raise ValueError("method: 'cholesky' samples DPPs, not k-DPPs; use 'spectral'")
        # the same spectrum check as the spectral path (K in [0, 1], L ⪰ 0, within tol)
        _clip_spectrum(xp.linalg.eigvalsh((A + A.T) / 2), kind, tol, xp)
        return [back(s) for s in poulson(A, kind, n_samples, key, xp)]
    if eigen is None:
        A = (A + A.T) / 2
        w, U = xp.linalg.eigh(A)
    w = w.astype(xp.float64)
    U = U.astype(xp.float64)
    lam = _clip_spectrum(w, kind, tol, xp)
    if k is not None:
        out = _k_dpp(U, lam, kind, k, n_samples, key, xp)
        return back(out)
    return [back(s) for s in _spectral_dpp(U, lam, kind, n_samples, key, xp)]


def _clip_spectrum(w: Any, kind: str, tol: float, xp: ModuleType) -> Any:
    """Eigenvalues checked against their valid range (with ``tol``) and clipped into it."""
    scale = max(1.0, float(xp.max(xp.abs(w)))) if w.shape[0] else 1.0
    lo = float(xp.min(w)) if w.shape[0] else 0.0
    if lo < -tol * scale:
        what = "K: expected" if kind == "K" else "L: expected a positive semi-definite matrix,"
        raise ValueError(f"{what} eigenvalues >= 0 (tolerance {tol:g}·max(1, |λ|max)), "
                         f"got {lo:.3g}")
    if kind == "K":
        hi = float(xp.max(w)) if w.shape[0] else 0.0
        if hi > 1 + tol * scale:
            raise ValueError(f"K: expected eigenvalues <= 1 (tolerance {tol:g}), got {hi:.6g}; "
                             "for a likelihood kernel pass L=")
        return xp.clip(w, 0.0, 1.0)
    w = xp.where(w < tol * scale, 0.0, w)
    return w


def _spectral_dpp(U: Any, lam: Any, kind: str, n_samples: int, key: int,
                  xp: ModuleType) -> list[Any]:
    """Body of the spectral sampler for a DPP (random size)."""
    mu = lam if kind == "K" else lam / (1.0 + lam)
    keep = mu > 0
    U = U[:, keep]
    mu = mu[keep]
    return _kernels(xp).spectral_dpp(xp, U, mu, n_samples, key, _RTOL)


def _log_esp(log_lam: np.ndarray, k: int) -> np.ndarray:
    """``log e_l(λ_1..λ_n)`` for ``l ≤ k``, ``n ≤ M`` (shape (k+1, M+1)), in log space."""
    M = log_lam.shape[0]
    E = np.full((k + 1, M + 1), -np.inf)
    E[0, :] = 0.0
    for n in range(1, M + 1):
        E[1:, n] = np.logaddexp(E[1:, n - 1], log_lam[n - 1] + E[:-1, n - 1])
    return E


def _k_dpp(U: Any, lam: Any, kind: str, k: int, n_samples: int, key: int,
           xp: ModuleType) -> Any:
    """Body of the k-DPP sampler: (n_samples, k) sorted int64 samples."""
    lam_h = np.asarray(to_numpy(lam), dtype=np.float64)
    if kind == "K":
        if np.any(lam_h >= 1.0):
            raise ValueError("K: has eigenvalue 1, so the L-ensemble of a k-DPP does not "
                             "exist; pass L= or eigen= of L")
        lam_h = lam_h / (1.0 - lam_h)
    keep_h = lam_h > 0
    if int(keep_h.sum()) < k:
        raise ValueError(f"k: expected at most the kernel's rank {int(keep_h.sum())}, got {k}")
    keep = xp.asarray(keep_h)
    U = U[:, keep]
    lam_h = lam_h[keep_h]
    with np.errstate(divide="ignore"):
        log_lam = np.log(lam_h)
    log_e = _log_esp(log_lam, k)
    return _kernels(xp).k_dpp(xp, U, lam_h, log_lam, log_e, k, n_samples, key, _RTOL)


def _cholesky_dpp(A: Any, kind: str, n_samples: int, key: int, xp: ModuleType) -> list[Any]:
    """Body of Poulson's sampler, the CPU engine (NumPy only): list of sorted int64 samples."""
    from . import _dpp_numba

    A = np.asarray(A, dtype=np.float64)
    N = A.shape[0]
    if kind == "L":
        try:
            C = linalg.cholesky(np, A + np.eye(N))
        except np.linalg.LinAlgError as exc:
            raise ValueError("L: expected a positive semi-definite matrix") from exc
        A = np.eye(N) - linalg.cho_solve(np, C, np.eye(N))
        A = (A + A.T) / 2
    res = []
    for s in range(n_samples):
        keep = _dpp_numba.cholesky_dpp(np.array(A, order="C"), np.uint64(key), s)
        res.append(np.flatnonzero(keep).astype(np.int64))
    return res
