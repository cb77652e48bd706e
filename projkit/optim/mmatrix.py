"""Euclidean projections onto the M-matrix cones of Gaussian graphical models under total
positivity.

A Gaussian distribution is multivariate totally positive of order two (MTP2) exactly when its
precision matrix is an *M-matrix*: symmetric positive definite with non-positive off-diagonal
entries (Karlin & Rinott, 1983). Ying, Cardoso and Palomar (ICML 2023) estimate such precision
matrices -- and *diagonally dominant* M-matrices -- by projected gradient descent
(:mod:`projkit.optim.mtp2`). This module holds the two Euclidean projections that solver uses:

* :func:`project_mmatrix`, onto the closure of the M-matrix set (a clip of the off-diagonal);
* :func:`project_dd_mmatrix`, onto the closure of the diagonally dominant M-matrix set (a
  projected Newton method on the p-dimensional Lagrange dual).

Both are written once against the array namespace, so the arrays never leave their device.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

from .._backend import check_input, check_positive_int, linalg
from .._backend.validation import NotConvergedWarning

__all__ = ["project_dd_mmatrix", "project_mmatrix"]


# --------------------------------------------------------------------------------------------
# small xp helpers (NumPy and CuPy share these; other Array-API inputs arrive as NumPy/CuPy
# views through ``check_input``); the MTP2 solver uses them too
# --------------------------------------------------------------------------------------------
def _eye_mask(xp: ModuleType, p: int) -> Any:
    return xp.eye(p, dtype=bool)


def _sym(A: Any) -> Any:
    return (A + A.T) * 0.5


def _fro(xp: ModuleType, A: Any) -> float:
    return float(xp.sqrt(xp.sum(A * A)))


def _inner(xp: ModuleType, A: Any, B: Any) -> float:
    return float(xp.sum(A * B))


def _square(T: Any, name: str, *, min_p: int = 1) -> tuple[Any, ModuleType, Any, Any]:
    """Validate a square matrix argument; returns (T as NumPy/CuPy, xp, back, out dtype)."""
    T, xp, back = check_input(T, name=name, ndim=2, accept_sparse=False)
    p, q = T.shape
    if p != q:
        raise ValueError(f"{name}: expected a square matrix, got shape {tuple(T.shape)}")
    if p < min_p:
        raise ValueError(
            f"{name}: expected at least {min_p} variables (a {min_p}x{min_p} matrix), "
            f"got shape {tuple(T.shape)}"
        )
    return T, xp, back, T.dtype


# --------------------------------------------------------------------------------------------
# projections
# --------------------------------------------------------------------------------------------
def project_mmatrix(T: Any) -> Any:
    """Euclidean projection onto the closed set of symmetric matrices with non-positive
    off-diagonal entries (the closure of the M-matrix cone used by the MTP2 solver).

    Parameters
    ----------
    T : (p, p) array
        Any square matrix (NumPy, CuPy, or an Array-API array such as a torch tensor).

    Returns
    -------
    (p, p) array
        :math:`P(T)`, same library, device and dtype as ``T`` (integers become float64).

    Notes
    -----
    The set
    :math:`\\mathcal{Z} = \\{\\Theta \\in \\mathbb{S}^p : \\Theta_{ij} \\le 0,\\ i \\ne j\\}`
    is a product of half-lines and a copy of :math:`\\mathbb{R}` per diagonal entry inside the
    symmetric subspace, so with :math:`\\bar T = (T + T^\\top)/2`

    .. math:: P(T)_{ii} = \\bar T_{ii}, \\qquad P(T)_{ij} = \\min(\\bar T_{ij}, 0)\\ (i \\ne j).

    The M-matrix set
    :math:`\\mathcal{M}^p = \\mathcal{Z} \\cap \\{\\Theta \\succ 0\\}` of Ying et al. is not closed;
    its positive definiteness is kept by the solver's line search, never by a projection.

    References
    ----------
    J. Ying, J. V. de M. Cardoso, D. P. Palomar, "Adaptive Estimation of Graphical Models
    under Total Positivity", ICML 2023, arXiv:2210.15471.

    Examples
    --------
    >>> import numpy as np
    >>> from projkit import project_mmatrix
    >>> project_mmatrix(np.array([[2.0, 1.0], [-3.0, 1.0]]))
    array([[ 2., -1.],
           [-1.,  1.]])
    """
    T, xp, back, _ = _square(T, "T")
    return back(_project_mmatrix(xp, T))


def _project_mmatrix(xp: ModuleType, T: Any) -> Any:
    Ts = _sym(T)
    return xp.where(_eye_mask(xp, T.shape[0]), Ts, xp.minimum(Ts, 0))


def project_dd_mmatrix(T: Any, *, tol: float | None = None, max_iter: int = 100) -> Any:
    """Euclidean projection onto the closed cone of diagonally dominant matrices with
    non-positive off-diagonal entries (the closure of the diagonally dominant M-matrices).

    Parameters
    ----------
    T : (p, p) array
        Any square matrix (NumPy, CuPy, or an Array-API array such as a torch tensor).
    tol : float, optional
        Stop when the complementarity residual :math:`\\|\\min(\\mu, X\\mathbf 1)\\|_\\infty` is
        below :math:`\\mathrm{tol}\\cdot p \\cdot \\max_{ij}|\\bar T_{ij}|` (a row sum adds p
        entries, hence the factor p; default ``tol``: 100 machine epsilons of the dtype). The
        active set is then exact and the result is the projection to rounding.
    max_iter : int
        Maximum number of Newton steps on the dual (a handful are needed in practice); a
        :class:`~projkit.NotConvergedWarning` is issued when they run out first.

    Returns
    -------
    (p, p) array
        :math:`P(T)`, same library, device and dtype as ``T``.

    Notes
    -----
    The set is :math:`\\mathcal{D} = \\{X \\in \\mathbb{S}^p : X_{ij} \\le 0\\ (i \\ne j),\\
    X\\mathbf 1 \\ge 0\\}`; every such matrix is positive semidefinite (diagonally dominant with a
    non-negative diagonal), so :math:`\\mathcal{D}` is exactly the closure of the set
    :math:`\\mathcal{M}_D^p = \\{\\Theta \\succ 0: \\Theta_{ij} \\le 0, \\Theta\\mathbf 1 \\ge 0\\}`
    of Ying et al. The projection has no closed form; it is computed from its Lagrange dual. With
    a multiplier :math:`\\mu \\ge 0` for the row sums and :math:`M(\\mu) = (\\mu\\mathbf 1^\\top +
    \\mathbf 1\\mu^\\top)/2`, the inner minimization over :math:`\\mathcal{Z}` (off-diagonals
    :math:`\\le 0`) is the clip :math:`X(\\mu) = P_{\\mathcal Z}(\\bar T + M(\\mu))`, and
    :math:`\\mu` minimizes the convex piecewise-quadratic
    :math:`\\varphi(\\mu) = \\tfrac12\\|P_{\\mathcal Z}(\\bar T + M(\\mu))\\|_F^2` over
    :math:`\\mu \\ge 0`, whose gradient is the row-sum vector :math:`X(\\mu)\\mathbf 1` and whose
    generalized Hessian :math:`I + \\tfrac12(D_A + A)` (``A`` the active off-diagonal pattern)
    is positive definite. A projected Newton method (Bertsekas, 1982) on this p-dimensional
    problem identifies the active set in a few steps, after which one Newton step is exact. The
    optimality conditions :math:`\\mu \\ge 0`, :math:`X\\mathbf 1 \\ge 0`,
    :math:`\\mu \\odot X\\mathbf 1 = 0` are the KKT conditions of the projection.

    References
    ----------
    J. Ying, J. V. de M. Cardoso, D. P. Palomar, "Adaptive Estimation of Graphical Models
    under Total Positivity", ICML 2023, arXiv:2210.15471.
    D. P. Bertsekas, "Projected Newton methods for optimization problems with simple
    constraints", SIAM J. Control Optim. 20(2), 1982.

    Examples
    --------
    >>> import numpy as np
    >>> from projkit import project_dd_mmatrix
    >>> X = project_dd_mmatrix(np.array([[1.0, -2.0], [-2.0, 1.0]]))
    >>> X
    array([[ 1.5, -1.5],
           [-1.5,  1.5]])
    >>> bool(np.all(X.sum(axis=1) >= -1e-12))
    True
    """
    T, xp, back, _ = _square(T, "T")
    max_iter = check_positive_int(max_iter, name="max_iter")
    if tol is not None and not (isinstance(tol, int | float) and tol > 0):
        raise ValueError(f"tol: expected a positive float, got {tol!r}")
    info: dict[str, bool] = {}
    X, _ = _project_dd(xp, T, tol=tol, max_iter=max_iter, info=info)
    if not info["converged"]:
        warnings.warn(
            f"project_dd_mmatrix stopped at max_iter={max_iter} before the complementarity "
            "residual reached tol; the result is feasible for the clip but its row sums may be "
            "slightly negative",
            NotConvergedWarning,
            stacklevel=2,
        )
    return back(X)


def _dd_primal(xp: ModuleType, Y: Any, mu: Any, off: Any) -> tuple[Any, Any, Any]:
    """X(mu), its row sums and the active off-diagonal pattern."""
    V = Y + (mu[:, None] + mu[None, :]) * 0.5
    act = off & (V < 0)
    X = xp.where(off, xp.minimum(V, 0), V)
    return X, xp.sum(X, axis=1), act


def _project_dd(
    xp: ModuleType,
    T: Any,
    *,
    mu0: Any = None,
    tol: float | None = None,
    max_iter: int = 100,
    info: dict[str, bool] | None = None,
) -> tuple[Any, Any]:
    """Projection onto the DD cone; returns (X, mu) so the caller can warm-start the dual.

    ``info["converged"]`` (when a dict is passed) is False only when ``max_iter`` ran out
    before the residual test (a stalled line search is at rounding level and counts as
    converged)."""
    p = T.shape[0]
    Y = _sym(T)
    off = ~_eye_mask(xp, p)
    eps = linalg.eps(Y.dtype)
    scale = max(float(xp.max(xp.abs(Y))), linalg.TINY)
    tol_abs = (100 * eps if tol is None else tol) * scale * max(p, 1)
    mu = xp.zeros(p, dtype=Y.dtype) if mu0 is None else xp.maximum(mu0, 0)
    X, r, act = _dd_primal(xp, Y, mu, off)
    phi = 0.5 * _inner(xp, X, X)
    converged = False
    for _ in range(max_iter):
        res = float(xp.max(xp.abs(xp.minimum(mu, r))))
        if res <= tol_abs:
            converged = True
            break
        # Bertsekas' epsilon-active set: bounds that are (nearly) tight and pushed outward
        eps_act = min(res, 1e-3 * scale)
        bound = (mu <= eps_act) & (r > 0)
        free = ~bound
        H = 0.5 * act.astype(Y.dtype)
        H = H + xp.diag(1.0 + xp.sum(H, axis=1))
        d = -r.copy()
        fidx = xp.nonzero(free)[0]
        if fidx.shape[0]:
            Hff = H[fidx[:, None], fidx[None, :]]
            d[fidx] = -xp.linalg.solve(Hff, r[fidx])
        step = 1.0
        while True:
            mu_new = xp.maximum(mu + step * d, 0)
            X_new, r_new, act_new = _dd_primal(xp, Y, mu_new, off)
            phi_new = 0.5 * _inner(xp, X_new, X_new)
            if phi_new <= phi + 1e-4 * _inner(xp, r, mu_new - mu) or step < 1e-12:
                break
            step *= 0.5
        if step < 1e-12 and phi_new >= phi:
            converged = True
            break
        mu, X, r, act, phi = mu_new, X_new, r_new, act_new, phi_new
    else:
        # the last Newton step may have finished the job: test once more
        converged = float(xp.max(xp.abs(xp.minimum(mu, r)))) <= tol_abs
    if info is not None:
        info["converged"] = converged
    return X, mu
