"""Gaussian graphical models under total positivity: the adaptive MTP2 precision estimator.

A Gaussian distribution is multivariate totally positive of order two (MTP2) exactly when its
precision matrix is an *M-matrix*: symmetric positive definite with non-positive off-diagonal
entries (Karlin & Rinott, 1983). Ying, Cardoso and Palomar (ICML 2023) estimate such precision
matrices -- and *diagonally dominant* M-matrices -- by an adaptive multi-stage weighted
:math:`\\ell_1` estimator whose every stage is solved by projected gradient descent. This module
holds

* the projected gradient solver of one stage and the multi-stage driver;
* the functional estimator :func:`mtp2_precision`, which takes a covariance matrix;
* the scikit-learn style estimator :class:`MTP2Precision`, which takes samples.

The projections it steps through, :func:`~projkit.optim.mmatrix.project_mmatrix` and
:func:`~projkit.optim.mmatrix.project_dd_mmatrix`, live in :mod:`projkit.optim.mmatrix`.

On the constraint set the penalty is linear (:math:`|\\Theta_{ij}| = -\\Theta_{ij}`), so each
stage minimizes the smooth function
:math:`f(\\Theta) = -\\log\\det\\Theta + \\langle S - \\Lambda, \\Theta\\rangle` over a closed
convex cone; positive definiteness is never projected onto, it is kept by the line search
(a trial point is accepted only when its Cholesky factorization exists). One iteration costs one
Cholesky factorization per trial step and one triangular inverse per accepted step; the arrays
never leave their device (NumPy through LAPACK ``potrf``/``trtri``, CuPy through cuSOLVER).
"""

from __future__ import annotations

import math
import numbers
import warnings
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import NotConvergedWarning, check_input, check_positive_int, linalg, native, select
from .._backend.estimator import ParamsMixin
from .._backend.threads import serial_blas
from .mmatrix import _eye_mask, _fro, _inner, _project_dd, _project_mmatrix, _square, _sym

__all__ = ["MTP2Precision", "MTP2PrecisionCV", "mtp2_precision"]

_CONSTRAINTS = ("mmatrix", "dd_mmatrix")
_PENALTIES = ("scad", "mcp", "lasso")
_DEFAULT_PENALTY_PARAM = {"scad": 3.7, "mcp": 3.0, "lasso": 1.0}
_HZ_DELTA = 0.1


# --------------------------------------------------------------------------------------------
# Cholesky on the device (``linalg.cholesky``, which raises ``LinAlgError``): the only
# positive-definiteness test the solver ever uses
# --------------------------------------------------------------------------------------------
def _chol_logdet(xp: ModuleType, L: Any) -> float:
    return 2.0 * float(xp.sum(xp.log(xp.diagonal(L))))


def _chol_inv_lapack(xp: ModuleType, L: Any) -> Any:
    """``A⁻¹`` from the lower Cholesky factor ``L`` of ``A``, on NumPy: LAPACK ``trtri`` and one
    GEMM."""
    from scipy.linalg import lapack

    # trtri + one GEMM rather than potri: OpenBLAS's threaded lauum (inside potri) is
    # pathologically slow on small matrices of a busy machine (100x on 50 x 50)
    trtri = lapack.dtrtri if L.dtype == np.float64 else lapack.strtri
    Li, info = trtri(L, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("triangular inverse failed (singular Cholesky factor)")
    return Li.T @ Li


def _chol_inv_xp(xp: ModuleType, L: Any) -> Any:
    """``A⁻¹`` from the lower Cholesky factor ``L`` of ``A``, on any other namespace (cuSOLVER's
    triangular solve on CuPy)."""
    Li = linalg.solve_triangular(xp, L, xp.eye(L.shape[0], dtype=L.dtype), lower=True)
    return Li.T @ Li


# --------------------------------------------------------------------------------------------
# the projected gradient solver of one stage
# --------------------------------------------------------------------------------------------
class _Projector:
    """The projection of the chosen constraint, warm-starting the DD dual across calls."""

    def __init__(self, xp: ModuleType, constraint: str):
        self.xp = xp
        self.dd = constraint == "dd_mmatrix"
        self.mu = None

    def __call__(self, T: Any) -> Any:
        if not self.dd:
            return _project_mmatrix(self.xp, T)
        X, self.mu = _project_dd(self.xp, T, mu0=self.mu)
        return X


def _kkt_residual(xp: ModuleType, proj: _Projector, Theta: Any, G: Any, t: float) -> float:
    """Scale-free natural residual ||Theta - P(Theta - t G)|| / ||Theta|| (0 iff stationary)."""
    R = Theta - proj(Theta - t * G)
    return _fro(xp, R) / max(_fro(xp, Theta), linalg.TINY)


def _solve_stage(
    xp: ModuleType,
    S: Any,
    Lam: Any,
    Theta: Any,
    *,
    constraint: str,
    tol: float,
    max_iter: int,
) -> tuple[Any, Any, int, bool]:
    """Projected gradient with Barzilai-Borwein trial steps and Armijo backtracking.

    Returns (Theta, Theta^{-1}, iterations, converged). ``Theta`` must be feasible and PD.
    """
    C = S - Lam
    eps = linalg.eps(C.dtype)
    chol_inv = select(xp, cpu=_chol_inv_lapack, fallback=_chol_inv_xp,
                      what="the inverse from a Cholesky factor")
    proj = _Projector(xp, constraint)
    try:
        L = linalg.cholesky(xp, Theta)
    except np.linalg.LinAlgError as exc:
        raise np.linalg.LinAlgError(
            "the initial precision matrix is not positive definite") from exc
    f = -_chol_logdet(xp, L) + _inner(xp, C, Theta)
    W = chol_inv(xp, L)
    G = C - W
    s2 = float(xp.mean(xp.diagonal(S))) ** 2
    t_kkt = 1.0 / s2  # puts G (covariance units) on Theta's (precision units) scale
    eta = t_kkt
    sigma, shrink = 1e-4, 0.5
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        step = eta
        while True:
            Tn = proj(Theta - step * G)
            D = Tn - Theta
            dec = _inner(xp, G, D)
            try:
                Ln = linalg.cholesky(xp, Tn)
            except np.linalg.LinAlgError:
                Ln = None
            Wn = None
            if Ln is not None:
                ld = _chol_logdet(xp, Ln)
                fn = -ld + _inner(xp, C, Tn)
                if fn <= f + sigma * dec:
                    break
                # Near the solution f's decrease drops below its rounding error; then accept on
                # the slope instead (Hager & Zhang's approximate Armijo condition, which is
                # exact for quadratics): <grad f(Theta+), D> <= (1 - 2 delta) |<grad f, D>|.
                noise = 64 * eps * (abs(ld) + float(xp.sum(xp.abs(C * Tn))) + 1.0)
                if fn - f <= noise:
                    Wn = chol_inv(xp, Ln)
                    if _inner(xp, C - Wn, D) <= -(1 - 2 * _HZ_DELTA) * dec:
                        break
            step *= shrink
            if step < 1e-20 * t_kkt:
                break
        if Ln is None or step < 1e-20 * t_kkt:
            # no acceptable step: at rounding level of a stationary point
            converged = _kkt_residual(xp, proj, Theta, G, t_kkt) <= 10 * tol
            break
        if Wn is None:
            Wn = chol_inv(xp, Ln)
        Gn = C - Wn
        dG = Gn - G
        sy = _inner(xp, D, dG)
        ss = _inner(xp, D, D)
        # BB1 step for the next trial; positive since f is strictly convex on its domain
        eta = ss / sy if sy > 0 else 2.0 * step
        eta = min(max(eta, 1e-8 * t_kkt), 1e8 * t_kkt)
        rel = math.sqrt(ss) / max(_fro(xp, Theta), linalg.TINY)
        Theta, W, G, f = Tn, Wn, Gn, fn
        if rel <= tol and _kkt_residual(xp, proj, Theta, G, t_kkt) <= tol:
            converged = True
            break
    return Theta, W, it, converged


# --------------------------------------------------------------------------------------------
# penalties and the multi-stage estimator
# --------------------------------------------------------------------------------------------
def _penalty_derivative(xp: ModuleType, t: Any, lam: Any, penalty: str, a: float) -> Any:
    """p'_lambda(t) for t >= 0: SCAD (Fan & Li, 2001), MCP (Zhang, 2010) or lasso."""
    if penalty == "lasso":
        return lam + 0 * t
    if penalty == "mcp":
        return xp.maximum(lam - t / a, 0)
    # SCAD: lambda on [0, lambda], (a lambda - t)_+ / (a - 1) beyond
    return xp.where(t <= lam, lam, xp.maximum(a * lam - t, 0) / (a - 1))


def _check_constraint(constraint: Any) -> str:
    if constraint not in _CONSTRAINTS:
        raise ValueError(f"constraint: expected one of {_CONSTRAINTS}, got {constraint!r}")
    return constraint


def _check_penalty(penalty: Any, penalty_param: Any) -> tuple[str, float]:
    if penalty not in _PENALTIES:
        raise ValueError(f"penalty: expected one of {_PENALTIES}, got {penalty!r}")
    a = _DEFAULT_PENALTY_PARAM[penalty] if penalty_param is None else penalty_param
    low = 2.0 if penalty == "scad" else 0.0
    if isinstance(a, bool) or not isinstance(a, int | float) or not a > low:
        raise ValueError(f"penalty_param: expected a float > {low:g} for {penalty}, got {a!r}")
    return penalty, float(a)


def _check_tol(tol: Any) -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol > 0:
        raise ValueError(f"tol: expected a positive float, got {tol!r}")
    return float(tol)


def _check_covariance(S: Any, name: str = "S") -> tuple[Any, ModuleType, Any, Any]:
    S, xp, back, dtype = _square(S, name, min_p=2)
    S = S.astype(np.float64) if S.dtype != np.float64 else S
    scale = float(xp.max(xp.abs(S)))
    if _fro(xp, S - S.T) > 1e-8 * max(scale, 1e-300) * S.shape[0]:
        raise ValueError(f"{name}: expected a symmetric matrix, got an asymmetric one")
    S = _sym(S)
    d = xp.diagonal(S)
    if not bool(xp.all(d > 0)):
        raise ValueError(
            f"{name}: expected a positive diagonal (a covariance with no constant variable), "
            f"got min diagonal {float(xp.min(d))!r}"
        )
    # positive semidefinite up to rounding: Cholesky of a slightly shifted matrix
    shift = 1e-7 * float(xp.max(d))
    try:
        linalg.cholesky(xp, S + shift * xp.eye(S.shape[0], dtype=S.dtype))
    except np.linalg.LinAlgError:
        raise ValueError(
            f"{name}: expected a positive semidefinite covariance matrix, got one with a "
            "negative eigenvalue"
        ) from None
    return S, xp, back, dtype


def _check_alpha(xp: ModuleType, alpha: Any, p: int) -> Any:
    if isinstance(alpha, bool):
        raise TypeError(f"alpha: expected a float or a (p, p) array, got {alpha!r}")
    if isinstance(alpha, int | float | np.floating | np.integer):
        if not (alpha >= 0 and math.isfinite(alpha)):
            raise ValueError(f"alpha: expected a finite float >= 0, got {alpha!r}")
        A = xp.full((p, p), float(alpha))
    else:
        A, axp, _ = check_input(alpha, name="alpha", ndim=2, accept_sparse=False)
        if tuple(A.shape) != (p, p):
            raise ValueError(f"alpha: expected a float or a ({p}, {p}) array, got shape "
                             f"{tuple(A.shape)}")
        if axp is not xp:
            raise TypeError("alpha: lives in another array library than S")
        A = _sym(A.astype(np.float64))
        if not bool(xp.all(A >= 0)):
            raise ValueError("alpha: expected non-negative entries")
    return xp.where(_eye_mask(xp, p), 0.0, A)


def _multistage(
    xp: ModuleType,
    S: Any,
    Lam1: Any,
    *,
    constraint: str,
    stages: int,
    penalty: str,
    a: float,
    tol: float,
    max_iter: int,
    Theta0: Any,
) -> tuple[Any, Any, list[int], bool]:
    """Stage 1 with weights Lam1; stage k re-weights lambda_ij = p'_lambda(|Theta_ij|)."""
    Theta = Theta0 if Theta0 is not None else xp.diag(1.0 / xp.diagonal(S))
    iters: list[int] = []
    ok = True
    Lam = Lam1
    W = None
    for k in range(stages):
        if k:
            Lam = _penalty_derivative(xp, xp.abs(Theta), Lam1, penalty, a)
            Lam = xp.where(_eye_mask(xp, S.shape[0]), 0.0, Lam)
        if constraint == "mmatrix":
            # The M-matrix cone is invariant under Theta -> D Theta D (D positive diagonal):
            # solve in correlation coordinates, where the gradient steps are far better scaled.
            d = 1.0 / xp.sqrt(xp.diagonal(S))
            dd = d[:, None] * d[None, :]
            Tt, Wt, n_it, conv = _solve_stage(
                xp, S * dd, Lam * dd, Theta / dd, constraint=constraint, tol=tol,
                max_iter=max_iter,
            )
            Theta, W = Tt * dd, Wt / dd
        else:
            Theta, W, n_it, conv = _solve_stage(
                xp, S, Lam, Theta, constraint=constraint, tol=tol, max_iter=max_iter
            )
        iters.append(n_it)
        ok = ok and conv
    return Theta, W, iters, ok


def _check_init(xp: ModuleType, Theta0: Any, p: int, constraint: str) -> Any:
    if Theta0 is None:
        return None
    T, _, _ = check_input(Theta0, name="precision_init", ndim=2, accept_sparse=False)
    if tuple(T.shape) != (p, p):
        raise ValueError(f"precision_init: expected shape ({p}, {p}), got {tuple(T.shape)}")
    T = T.astype(np.float64)
    Tp = _Projector(xp, constraint)(T)
    try:
        linalg.cholesky(xp, Tp)
    except np.linalg.LinAlgError:
        raise ValueError(
            "precision_init: its projection onto the constraint set is not positive definite"
        ) from None
    return Tp


def mtp2_precision(
    S: Any,
    alpha: Any,
    *,
    constraint: str = "mmatrix",
    stages: int = 3,
    penalty: str = "mcp",
    penalty_param: float | None = None,
    tol: float = 1e-6,
    max_iter: int = 1000,
    precision_init: Any = None,
    return_n_iter: bool = False,
) -> Any:
    """Precision matrix of an MTP2 Gaussian from a covariance matrix (Ying et al., 2023).

    Parameters
    ----------
    S : (p, p) array
        Sample covariance matrix (symmetric positive semidefinite, p >= 2). Standardized data
        (a correlation matrix) make ``alpha`` comparable across data sets.
    alpha : float or (p, p) array
        Regularization :math:`\\lambda >= 0`; an array gives per-edge weights
        :math:`\\lambda_{ij}` (its diagonal is ignored). ``alpha=0`` with ``stages=1`` is the
        MTP2 maximum likelihood estimator.
    constraint : {"mmatrix", "dd_mmatrix"}
        M-matrices, or diagonally dominant M-matrices.
    stages : int
        Number of stages of the adaptive estimator; 1 is the weighted-:math:`\\ell_1`
        estimator with uniform weights, 2-5 re-weight with the penalty derivative. The
        default 3 is the same as :class:`MTP2Precision`'s (a projkit choice, see Notes).
    penalty : {"scad", "mcp", "lasso"}
        The sparsity-promoting function whose derivative re-weights later stages.
    penalty_param : float, optional
        SCAD's ``a`` (default 3.7) or MCP's ``gamma`` (default 3).
    tol : float
        Stop a stage when the relative change of :math:`\\Theta` and the scale-free KKT
        residual are both below ``tol``.
    max_iter : int
        Maximum projected-gradient iterations per stage (``NotConvergedWarning`` past it).
    precision_init : (p, p) array, optional
        Warm start (projected onto the constraint set; must then be positive definite).
    return_n_iter : bool
        Also return the number of iterations of each stage.

    Returns
    -------
    precision : (p, p) array
        The estimate :math:`\\hat\\Theta` (same library, device and dtype as ``S``).
    n_iter : list of int
        Only with ``return_n_iter=True``.

    Raises
    ------
    ValueError
        For a non-square, asymmetric, non-positive-semidefinite or NaN-holding ``S``, p < 2,
        a negative ``alpha`` or an unknown option; also when the problem is unbounded (the
        estimator does not exist: e.g. ``alpha=0`` with a rank-one ``S`` on the M-matrix set).

    Notes
    -----
    Each stage solves, over :math:`\\mathcal{S} = \\mathcal{M}^p` or :math:`\\mathcal{M}_D^p`,

    .. math::
        \\hat\\Theta^{(k)} = \\arg\\min_{\\Theta \\in \\mathcal S}
        -\\log\\det\\Theta + \\operatorname{tr}(S\\Theta) + \\sum_{i \\ne j}
        \\lambda^{(k)}_{ij} |\\Theta_{ij}|,
        \\qquad \\lambda^{(k)}_{ij} = p'_\\lambda(|\\hat\\Theta^{(k-1)}_{ij}|),

    with :math:`\\hat\\Theta^{(0)}` diagonal, so stage 1 has :math:`\\lambda_{ij} =
    p'_\\lambda(0) = \\lambda`. On :math:`\\mathcal S` the penalty equals
    :math:`-\\langle \\Lambda, \\Theta \\rangle`, so the objective is smooth with gradient
    :math:`S - \\Lambda - \\Theta^{-1}`; each iteration takes the projected step
    :math:`\\Theta^+ = P(\\Theta - \\eta\\nabla f)` with a Barzilai-Borwein trial
    :math:`\\eta`, halved until :math:`\\Theta^+` has a Cholesky factor and the Armijo condition
    :math:`f(\\Theta^+) \\le f(\\Theta) + 10^{-4}\\langle \\nabla f, \\Theta^+ - \\Theta\\rangle`
    holds (when the decrease falls below the rounding error of :math:`f`, the step is accepted
    on the slope instead: Hager-Zhang's approximate Armijo condition). The M-matrix cone is
    invariant under :math:`\\Theta \\mapsto D\\Theta D`, so those stages are solved in
    correlation coordinates :math:`D = \\operatorname{diag}(S)^{-1/2}`. A stage stops when
    :math:`\\|\\Theta^+ - \\Theta\\|_F \\le \\mathrm{tol}\\,\\|\\Theta\\|_F` and the natural KKT
    residual :math:`\\|\\Theta - P(\\Theta - t\\nabla f)\\|_F / \\|\\Theta\\|_F` (zero exactly at
    the solution; :math:`t = \\bar S^{-2}` makes it scale-free) is below ``tol`` too.
    SCAD: :math:`p'_\\lambda(t) = \\lambda` for :math:`t \\le \\lambda`,
    :math:`(a\\lambda - t)_+/(a - 1)` beyond; MCP: :math:`(\\lambda - t/\\gamma)_+`.
    Computations run in float64 on the input's device; float32 input gets float32 output.

    **What is the paper's and what is projkit's.** Checked against the arXiv:2210.15471 text
    that could be retrieved for this comparison (its abstract and introduction; the method
    section itself was not available, so nothing below claims to match its equations):

    * the paper's: the adaptive *multiple-stage* estimator, each stage a weighted
      :math:`\\ell_1`-regularized Gaussian likelihood over the M-matrices or the diagonally
      dominant M-matrices; every stage solved by *gradient projection*, with a different
      projection for each constraint set; the weights of a stage taken from a
      sparsity-promoting penalty at the previous estimate (the weighted-:math:`\\ell_1`
      re-weighting of Zou & Li's local linear approximation, which the formula above writes
      out).
    * projkit's (each with its reason): the MCP default with :math:`\\gamma = 3` and SCAD's :math:`a
      = 3.7` (the values of Zhang, 2010 and Fan & Li, 2001, not tuned here; ``lasso`` makes every
      stage identical); ``stages=3`` for both the function and the estimator (on random sparse MTP2
      designs with p = 30, n = 100, ``alpha=0.1`` the support changed by about 20, 6, 3 and 2 edges
      from stage 1 to 2, 2 to 3, 3 to 4 and 4 to 5: three stages take most of the refinement, and
      each further stage costs a full solve); the Barzilai-Borwein trial step with Armijo
      backtracking and the Cholesky test for positive definiteness (a first-order step rule that
      needs no Lipschitz constant, which :math:`-\\log\\det` lacks near the boundary); the
      correlation-coordinate rescaling for the M-matrix set; the projection onto the diagonally
      dominant cone by projected Newton on its p-dimensional dual
      (:func:`~projkit.optim.mmatrix.project_dd_mmatrix`); and the stopping rule (relative change
      and scale-free natural KKT residual both below ``tol``), chosen because the residual is zero
      exactly at a stage's minimizer whatever the step rule.

    References
    ----------
    J. Ying, J. V. de M. Cardoso, D. P. Palomar, "Adaptive Estimation of Graphical Models
    under Total Positivity", ICML 2023, arXiv:2210.15471.
    H. Zou, R. Li, "One-step sparse estimates in nonconcave penalized likelihood models",
    Ann. Statist. 36(4), 2008 (the local linear approximation behind the re-weighting).
    M. Slawski, M. Hein, "Estimation of positive definite M-matrices and structure learning
    for attractive Gaussian Markov random fields", Linear Algebra Appl. 473, 2015.
    S. Lauritzen, C. Uhler, P. Zwiernik, "Maximum likelihood estimation in Gaussian models
    under total positivity", Ann. Statist. 47(4), 2019.
    J. Fan, R. Li, "Variable selection via nonconcave penalized likelihood and its oracle
    properties", JASA 96, 2001 (SCAD). C.-H. Zhang, "Nearly unbiased variable selection under
    minimax concave penalty", Ann. Statist. 38(2), 2010 (MCP).

    Examples
    --------
    >>> import numpy as np
    >>> from projkit import mtp2_precision
    >>> S = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.4], [0.2, 0.4, 1.0]])
    >>> Theta = mtp2_precision(S, 0.0)
    >>> bool(np.all(Theta[~np.eye(3, dtype=bool)] <= 0))
    True
    >>> np.allclose(np.linalg.inv(Theta).diagonal(), 1.0)
    True
    """
    S, xp, back, dtype = _check_covariance(S)
    p = S.shape[0]
    constraint = _check_constraint(constraint)
    stages = check_positive_int(stages, name="stages")
    penalty, a = _check_penalty(penalty, penalty_param)
    tol = _check_tol(tol)
    max_iter = check_positive_int(max_iter, name="max_iter")
    Lam = _check_alpha(xp, alpha, p)
    Theta0 = _check_init(xp, precision_init, p, constraint)
    Theta, _, iters, ok = _fit_body(
        xp, S, Lam, constraint=constraint, stages=stages, penalty=penalty, a=a, tol=tol,
        max_iter=max_iter, Theta0=Theta0,
    )
    out = back(Theta.astype(dtype, copy=False))
    return (out, iters) if return_n_iter else out


def _check_existence(xp: ModuleType, S: Any, Lam: Any, constraint: str) -> None:
    """Raise when the estimator does not exist (the objective is unbounded below).

    On :math:`\\mathcal{M}_D^p` the cone is polyhedral with extreme rays
    :math:`e_ie_i^\\top` and :math:`(e_i - e_j)(e_i - e_j)^\\top`; the minimum exists iff
    :math:`\\langle S - \\Lambda, \\cdot\\rangle > 0` on every ray, i.e.
    :math:`S_{ii} + S_{jj} - 2S_{ij} + 2\\lambda_{ij} > 0`. On :math:`\\mathcal{M}^p` an unpenalized
    pair with sample correlation 1 gives the unbounded direction
    :math:`D^{-1}(e_i - e_j)(e_i - e_j)^\\top D^{-1}` (Slawski & Hein, 2015; Lauritzen et al.,
    2019: the MLE exists iff every correlation is below 1).
    """
    p = S.shape[0]
    d = xp.diagonal(S)
    off = ~_eye_mask(xp, p)
    if constraint == "dd_mmatrix":
        edge = d[:, None] + d[None, :] - 2 * S + 2 * Lam
        bad = off & (edge <= 1e-12 * (d[:, None] + d[None, :]))
    else:
        R = S / xp.sqrt(d[:, None] * d[None, :])
        bad = off & (R >= 1 - 1e-10) & (Lam <= 0)
    if bool(xp.any(bad)):
        i, j = (int(v) for v in xp.argwhere(bad)[0])
        what = ("x_i - x_j vanishes on the sample" if constraint == "dd_mmatrix"
                else "their sample correlation is 1")
        raise ValueError(
            f"S: the estimator does not exist (the objective is unbounded below): variables "
            f"{i} and {j} are unpenalized and {what}; use alpha > 0 or more samples "
            "(two non-centered or three centered samples suffice on the M-matrix set)"
        )


def _fit_body(xp: ModuleType, S: Any, Lam: Any, **kw: Any) -> tuple[Any, Any, list[int], bool]:
    """Run the stages; max_iter gives a NotConvergedWarning."""
    _check_existence(xp, S, Lam, kw["constraint"])
    # each iteration is a p × p Cholesky (p³/3 flops) and a triangular inverse: one BLAS
    # thread unless p is large enough for threads to pay
    with serial_blas(xp, work=S.shape[0] ** 3 / 3):
        Theta, W, iters, ok = _multistage(xp, S, Lam, **kw)
    if not bool(xp.all(xp.isfinite(Theta))):
        raise np.linalg.LinAlgError("MTP2 solver produced non-finite values")
    if not ok:
        warnings.warn(
            f"MTP2 solver stopped at max_iter={kw['max_iter']} before reaching tol={kw['tol']}",
            NotConvergedWarning,
            stacklevel=3,
        )
    return Theta, W, iters, ok


# --------------------------------------------------------------------------------------------
# the scikit-learn style estimator
# --------------------------------------------------------------------------------------------
class MTP2Precision(ParamsMixin):
    """Adaptive estimator of an MTP2 Gaussian graphical model (scikit-learn API).

    Parameters
    ----------
    alpha : float or "auto", default "auto"
        Regularization :math:`\\lambda >= 0` applied to the empirical covariance of ``X``
        (standardize ``X`` to make a float scale-free). ``"auto"`` is the theory's rate
        :math:`\\lambda = \\sqrt{\\log p / n}` on *standardized* data, whatever the scale
        of ``X`` (see Notes). :class:`MTP2PrecisionCV` chooses it by
        cross-validation instead.
    stages : int
        Stages of the adaptive estimator (1 = weighted :math:`\\ell_1` with uniform weights).
    constraint : {"mmatrix", "dd_mmatrix"}
        M-matrices or diagonally dominant M-matrices.
    penalty : {"scad", "mcp", "lasso"}
        Penalty whose derivative re-weights stages 2, 3, ...
    penalty_param : float, optional
        SCAD's ``a`` (3.7) or MCP's ``gamma`` (3).
    tol : float
        Tolerance on the relative change and the KKT residual of each stage.
    max_iter : int
        Maximum iterations per stage.
    assume_centered : bool
        Use :math:`X^\\top X / n` instead of centering (then two samples suffice for the
        ``alpha=0`` M-matrix MLE to exist).
    warm_start : bool
        Start a new ``fit`` from the previous ``precision_``.

    Attributes
    ----------
    precision_ : (p, p) array
        The estimated precision matrix (an M-matrix).
    covariance_ : (p, p) array
        Its inverse.
    location_ : (p,) array
        The mean used to center ``X`` (zeros with ``assume_centered=True``).
    n_iter_ : int
        Total projected-gradient iterations over all stages.
    n_iter_per_stage_ : list of int

    n_features_in_ : int
        The number of features ``p`` seen by :meth:`fit`.

    Notes
    -----
    See :func:`mtp2_precision` for the problem, the solver and the penalty derivative.

    **The default** ``alpha="auto"``. For sub-Gaussian data the sample correlations are off
    by at most :math:`C\\sqrt{\\log p / n}` entrywise with high probability, the rate of
    :math:`\\ell_1`-penalized likelihood estimators (Ravikumar, Wainwright, Raskutti & Yu,
    2011; Rothman, Bickel, Levina & Zhu, 2008), so :math:`\\lambda = \\sqrt{\\log p / n}`
    (the constant :math:`C = 1`) on standardized data. Writing the covariance as
    :math:`S = D^{-1} R D^{-1}`, :math:`D = \\operatorname{diag}(S)^{-1/2}`, and
    :math:`\\Theta = D \\Omega D`, the penalty :math:`\\lambda |\\Omega_{ij}|` on the
    correlation scale is :math:`\\lambda \\sqrt{S_{ii}S_{jj}}\\,|\\Theta_{ij}|`. ``"auto"``
    solves the standardized problem (correlation matrix :math:`R`, scalar :math:`\\lambda`,
    the later stages' weights computed from :math:`\\Omega`) and returns
    :math:`D\\hat\\Omega D`, so rescaling a column of ``X`` rescales the estimate and leaves
    its graph unchanged; the diagonally dominant set is not invariant under
    :math:`\\Theta \\mapsto D\\Theta D`, so with ``constraint="dd_mmatrix"`` ``"auto"`` uses
    the stage-1 weights :math:`\\lambda\\sqrt{S_{ii}S_{jj}}` on the data's own scale. With
    ``p = 1`` there is no edge to penalize and the estimate is
    :math:`1 / S_{11}`. Fits need two samples (one when ``assume_centered=True``).

    References
    ----------
    J. Ying, J. V. de M. Cardoso, D. P. Palomar, "Adaptive Estimation of Graphical Models
    under Total Positivity", ICML 2023, arXiv:2210.15471.

    Examples
    --------
    >>> import numpy as np
    >>> from projkit import MTP2Precision
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 1)) + 0.5 * rng.standard_normal((200, 4))
    >>> est = MTP2Precision(alpha=0.05, stages=2).fit(X)
    >>> est.precision_.shape
    (4, 4)
    >>> bool(np.all(est.precision_[~np.eye(4, dtype=bool)] <= 0))
    True
    """

    def __init__(
        self,
        alpha: float | str = "auto",
        *,
        stages: int = 3,
        constraint: str = "mmatrix",
        penalty: str = "mcp",
        penalty_param: float | None = None,
        tol: float = 1e-6,
        max_iter: int = 1000,
        assume_centered: bool = False,
        warm_start: bool = False,
    ):
        self.alpha = alpha
        self.stages = stages
        self.constraint = constraint
        self.penalty = penalty
        self.penalty_param = penalty_param
        self.tol = tol
        self.max_iter = max_iter
        self.assume_centered = assume_centered
        self.warm_start = warm_start

    def _empirical(self, X: Any, location: Any = None,
                   reset: bool = True) -> tuple[Any, Any, ModuleType, Any, Any, int]:
        name = "X" if reset else "X_test"
        need = 1 if self.assume_centered or not reset else 2
        X, xp, back = self._check_samples(X, reset=reset, name=name, min_samples=need)
        dtype = X.dtype
        Xd = X.astype(np.float64)
        n = Xd.shape[0]
        if location is None:
            location = xp.zeros(Xd.shape[1]) if self.assume_centered else xp.mean(Xd, axis=0)
        Xc = Xd - location
        return (Xc.T @ Xc) / n, location, xp, back, dtype, n

    def fit(self, X: Any, y: Any = None) -> MTP2Precision:
        """Estimate the precision matrix from samples ``X`` (n_samples, n_features)."""
        return self._fit_samples(X, self.alpha, self.warm_start)

    def _fit_samples(self, X: Any, alpha: Any, warm_start: bool,
                     corr_alpha: float | None = None) -> Any:
        """Fit at ``alpha`` (a float, an array or ``"auto"``), or at ``corr_alpha`` on the
        correlation scale (the CV estimator's grid values)."""
        S, location, xp, back, dtype, n = self._empirical(X)
        constraint = _check_constraint(self.constraint)
        stages = check_positive_int(self.stages, name="stages")
        penalty, a = _check_penalty(self.penalty, self.penalty_param)
        tol = _check_tol(self.tol)
        max_iter = check_positive_int(self.max_iter, name="max_iter")
        if S.shape[0] == 1:  # no edge to penalize: the Gaussian MLE 1 / s
            Theta, W, iters = self._fit_one(xp, S, name="X")
        else:
            S, xp, _, _ = _check_covariance(S, name="X (its empirical covariance)")
            p = S.shape[0]
            if isinstance(alpha, str) and alpha == "auto" and corr_alpha is None:
                corr_alpha = math.sqrt(math.log(p) / n)
            elif isinstance(alpha, str) and corr_alpha is None:
                raise ValueError(f"alpha: expected a float >= 0, an array or 'auto', got "
                                 f"{alpha!r}")
            # on the correlation scale: fit the standardized problem (every stage's weights
            # then compare lambda with correlation-scale entries) and scale back; the DD set
            # is not scale-invariant, so there the stage-1 weights c sqrt(S_ii S_jj) are used
            sd = xp.sqrt(xp.diagonal(S))
            std = corr_alpha is not None and constraint == "mmatrix"
            dd = sd[:, None] * sd[None, :]
            if corr_alpha is not None:
                alpha = corr_alpha if std else corr_alpha * dd
            Lam = _check_alpha(xp, alpha, p)
            Theta0 = None
            prev: Any = getattr(self, "_precision64", None)
            if warm_start and prev is not None and tuple(prev.shape) == (p, p):
                Theta0 = _check_init(xp, prev * dd if std else prev, p, constraint)
            Theta, W, iters, _ = _fit_body(
                xp, S / dd if std else S, Lam, constraint=constraint, stages=stages,
                penalty=penalty, a=a, tol=tol, max_iter=max_iter, Theta0=Theta0,
            )
            if std:
                Theta, W = Theta / dd, W * dd
        self._precision64 = Theta
        self.location_ = back(location.astype(dtype, copy=False))
        self.precision_ = back(Theta.astype(dtype, copy=False))
        self.covariance_ = back(W.astype(dtype, copy=False))
        self.n_iter_per_stage_ = iters
        self.n_iter_ = int(sum(iters))
        return self

    @staticmethod
    def _fit_one(xp: ModuleType, S: Any, name: str) -> tuple[Any, Any, list[int]]:
        s = float(S[0, 0])
        if not s > 0:
            raise ValueError(
                f"{name}: expected a feature with positive variance, got variance {s!r}"
            )
        return xp.full((1, 1), 1.0 / s), xp.full((1, 1), s), [0]

    def score(self, X_test: Any, y: Any = None) -> float:
        """Average Gaussian log-likelihood of ``X_test`` under the fitted model."""
        self._check_is_fitted("_precision64")
        loc, _ = native(self.location_)
        S, _, xp, _, _, _ = self._empirical(X_test, location=loc.astype(np.float64),
                                            reset=False)
        Theta = self._precision64
        L = linalg.cholesky(xp, Theta)
        p = Theta.shape[0]
        ll = -_inner(xp, S, Theta) + _chol_logdet(xp, L) - p * math.log(2 * math.pi)
        return 0.5 * ll

    def mahalanobis(self, X: Any) -> Any:
        """Squared Mahalanobis distances of the rows of ``X`` under the fitted model."""
        self._check_is_fitted("_precision64")
        Xn, _, back = self._check_samples(X, reset=False)
        loc, _ = native(self.location_)
        Xc = Xn.astype(np.float64) - loc
        d = ((Xc @ self._precision64) * Xc).sum(axis=1)
        return back(d.astype(Xn.dtype, copy=False))


class MTP2PrecisionCV(MTP2Precision):
    """:class:`MTP2Precision` with ``alpha`` chosen by cross-validation (after scikit-learn's
    ``GraphicalLassoCV``).

    Every ``alpha`` of a grid is fitted on the training folds and scored by the Gaussian
    log-likelihood of the held-out fold (:meth:`MTP2Precision.score`); the grid is refined
    ``n_refinements`` times around the best value, and the estimator is refitted on all the
    data at the best ``alpha``. The values are on the correlation scale, as
    ``alpha="auto"`` is: a grid value ``c`` is the ``alpha`` of the standardized training
    fold (see :class:`MTP2Precision`'s Notes).

    Parameters
    ----------
    alphas : int or sequence of float, default 6
        A number of grid points, log-spaced from :math:`c_{\\max}` (the largest sample
        correlation: above it the estimate is diagonal, since a stage's gradient at a diagonal
        point is :math:`S_{ij} - \\lambda_{ij}` off the diagonal) down to
        :math:`10^{-2} c_{\\max}`; or the grid itself (then no refinement).
    n_refinements : int, default 2
        Times the grid is refined between the neighbours of the best value (with an int
        ``alphas``).
    cv : int or iterable of (train, test) index pairs or splitter, default 5
        An int is the number of contiguous folds (scikit-learn's ``KFold`` without
        shuffling); an object with a ``split(X)`` method (a scikit-learn splitter) or an
        iterable of index pairs is used as given.
    stages, constraint, penalty, penalty_param, tol, max_iter, assume_centered
        As in :class:`MTP2Precision`.

    Attributes
    ----------
    alpha_ : float
        The chosen value (correlation scale).
    cv_results_ : dict of arrays
        ``"alphas"`` (every value tried, decreasing), ``"split{k}_test_score"`` and
        ``"mean_test_score"``, ``"std_test_score"``: held-out log-likelihood per fold.
    precision_, covariance_, location_, n_iter_, n_iter_per_stage_, n_features_in_
        Of the refit on all the data, as in :class:`MTP2Precision`.

    Examples
    --------
    >>> import numpy as np
    >>> from projkit import MTP2PrecisionCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((120, 1)) + rng.standard_normal((120, 4))
    >>> est = MTP2PrecisionCV(alphas=4, n_refinements=1, cv=3).fit(X)
    >>> est.precision_.shape, len(est.cv_results_["alphas"]) >= 4
    ((4, 4), True)
    >>> bool(est.alpha_ > 0)
    True
    """

    def __init__(
        self,
        *,
        alphas: Any = 6,
        n_refinements: int = 2,
        cv: Any = 5,
        stages: int = 3,
        constraint: str = "mmatrix",
        penalty: str = "mcp",
        penalty_param: float | None = None,
        tol: float = 1e-6,
        max_iter: int = 1000,
        assume_centered: bool = False,
    ):
        self.alphas = alphas
        self.n_refinements = n_refinements
        self.cv = cv
        self.stages = stages
        self.constraint = constraint
        self.penalty = penalty
        self.penalty_param = penalty_param
        self.tol = tol
        self.max_iter = max_iter
        self.assume_centered = assume_centered

    def fit(self, X: Any, y: Any = None) -> MTP2PrecisionCV:
        """Choose ``alpha`` by cross-validation, then fit on all of ``X``."""
        need = 1 if self.assume_centered else 2
        Xc, xp, _ = self._check_samples(X, reset=True, min_samples=need)
        n, p = (int(d) for d in Xc.shape)
        splits = self._splits(Xc, n)
        refinements = check_positive_int(self.n_refinements, name="n_refinements", low=0)
        grid, refine = self._grid(xp, Xc)
        folds = [(xp.asarray(tr), xp.asarray(te)) for tr, te in splits]
        scores: dict[float, list[float]] = {}
        for r in range(refinements + 1 if refine else 1):
            for c in sorted(set(grid) - set(scores), reverse=True):
                scores[c] = [self._fold_score(xp, Xc, tr, te, c) for tr, te in folds]
            if not refine or r == refinements or len(scores) < 2:
                break
            tried = sorted(scores, reverse=True)
            k = int(np.argmax([np.mean(scores[c]) for c in tried]))
            hi = tried[max(k - 1, 0)]
            lo = tried[min(k + 1, len(tried) - 1)]
            grid = [float(v) for v in np.geomspace(hi, lo, len(grid) + 2)[1:-1]] if lo > 0 \
                else [float(v) for v in np.linspace(hi, lo, len(grid) + 2)[1:-1]]
        tried = sorted(scores, reverse=True)
        table = np.array([scores[c] for c in tried])
        mean = table.mean(axis=1)
        best = float(tried[int(np.argmax(mean))])
        self.cv_results_ = {"alphas": np.array(tried), "mean_test_score": mean,
                            "std_test_score": table.std(axis=1)}
        for k in range(table.shape[1]):
            self.cv_results_[f"split{k}_test_score"] = table[:, k]
        self.alpha_ = best
        return self._fit_samples(X, None, False, corr_alpha=best)

    def _splits(self, Xc: Any, n: int) -> list[tuple[Any, Any]]:
        cv = self.cv
        if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
            k = check_positive_int(cv, name="cv", low=2)
            if k > n:
                raise ValueError(
                    f"cv: expected at most n_samples={n} folds, got {k} (Cannot have number "
                    "of splits greater than the number of samples)"
                )
            bounds = np.linspace(0, n, k + 1).round().astype(int)
            idx = np.arange(n)
            return [(np.concatenate([idx[:a], idx[b:]]), idx[a:b])
                    for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        if isinstance(cv, str | bytes | bool):
            raise TypeError(
                "cv: expected an int, a splitter with split(X) or an iterable of (train, test) "
                f"index pairs, got {cv!r}"
            )
        if hasattr(cv, "split"):
            host = Xc if isinstance(Xc, np.ndarray) else np.empty((n, 0))
            return [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(host)]
        try:
            pairs = [(np.asarray(tr), np.asarray(te)) for tr, te in cv]
        except (TypeError, ValueError):
            raise TypeError(
                "cv: expected an int, a splitter with split(X) or an iterable of (train, test) "
                f"index pairs, got {type(cv).__name__}"
            ) from None
        if not pairs:
            raise ValueError("cv: expected at least one (train, test) pair, got none")
        return pairs

    def _grid(self, xp: ModuleType, Xc: Any) -> tuple[list[float], bool]:
        alphas = self.alphas
        if isinstance(alphas, numbers.Integral) and not isinstance(alphas, bool):
            k = check_positive_int(alphas, name="alphas", low=2)
            Xd = Xc.astype(np.float64)
            Xd = Xd if self.assume_centered else Xd - xp.mean(Xd, axis=0)
            sd = xp.sqrt(xp.mean(Xd * Xd, axis=0))
            sd = xp.where(sd > 0, sd, 1.0)
            R = (Xd.T @ Xd) / Xd.shape[0] / (sd[:, None] * sd[None, :])
            p = R.shape[0]
            cmax = float(xp.max(R - 2 * xp.eye(p))) if p > 1 else 0.0
            if not cmax > 0:  # no positive correlation: the diagonal estimate at any alpha
                return [0.0], False
            return [float(v) for v in np.geomspace(cmax, 1e-2 * cmax, k)], True
        try:
            grid = [float(a) for a in alphas]
        except TypeError:
            raise TypeError(
                f"alphas: expected an int or a sequence of floats, got {type(alphas).__name__}"
            ) from None
        if not grid or not all(math.isfinite(a) and a >= 0 for a in grid):
            raise ValueError(f"alphas: expected finite values >= 0, got {alphas!r}")
        return sorted(set(grid), reverse=True), False

    def _fold_score(self, xp: ModuleType, Xc: Any, train: Any, test: Any, c: float) -> float:
        est = MTP2Precision(
            stages=self.stages,
            constraint=self.constraint, penalty=self.penalty,
            penalty_param=self.penalty_param, tol=self.tol, max_iter=self.max_iter,
            assume_centered=self.assume_centered,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotConvergedWarning)
            try:
                est._fit_samples(Xc[train], None, False, corr_alpha=c)
            except ValueError:  # a degenerate fold (e.g. a constant feature): worst score
                return -math.inf
        return est.score(Xc[test])
