"""Tests for projkit.optim.mtp2: the MTP2 solver and the adaptive estimator, on every engine
(CuPy tests through the ``xp`` fixture, marked gpu)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from projkit import (
    MTP2Precision,
    NotConvergedWarning,
    mtp2_precision,
    project_dd_mmatrix,
    project_mmatrix,
)
from tests.conftest import to_host

OFF = lambda p: ~np.eye(p, dtype=bool)


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def make_precision(p, rng, degree=3.0):
    """A sparse M-matrix precision (random graph, weights U[2, 5]) with unit variances."""
    A = np.triu(rng.random((p, p)) < degree / (p - 1), 1)
    W = np.where(A, rng.uniform(2.0, 5.0, (p, p)), 0.0)
    W = W + W.T
    Theta = np.diag(W.sum(1) + rng.uniform(0.5, 1.5, p)) - W
    d = np.sqrt(np.diag(np.linalg.inv(Theta)))
    return Theta * np.outer(d, d)


def sample_cov(Theta, n, rng):
    X = rng.multivariate_normal(np.zeros(len(Theta)), np.linalg.inv(Theta), size=n)
    return np.cov(X.T, bias=True)


def f_score(T, Ttrue):
    off = OFF(len(T))
    est, true = T[off] != 0, Ttrue[off] != 0
    return 2 * np.sum(est & true) / (est.sum() + true.sum())


def mtp2_mle_reference(S, sweeps=400):
    """MTP2 MLE by the coordinate descent of Lauritzen, Uhler & Zwiernik (2019, Alg. 1) on the
    covariance: Sigma_jj = S_jj and Sigma_{-j,j} = argmin_{y >= S_{-j,j}} y' Sigma_{-j,-j}^{-1} y,
    each a bounded least-squares problem (exact BVLS)."""
    p = len(S)
    Sigma = np.diag(np.diag(S)).astype(float)
    for _ in range(sweeps):
        for j in range(p):
            r = np.r_[0:j, j + 1:p]
            Lc = np.linalg.cholesky(Sigma[np.ix_(r, r)])
            # y' A^{-1} y = ||L^{-1} y||^2
            Linv = np.linalg.inv(Lc)
            res = lsq_linear(Linv, np.zeros(p - 1), bounds=(S[r, j], np.inf), method="bvls",
                             tol=1e-14)
            Sigma[r, j] = Sigma[j, r] = res.x
    return np.linalg.inv(Sigma)


def _device_data(p=12, n=120, seed=0):
    rng = np.random.default_rng(seed)
    A = np.triu(rng.random((p, p)) < 3.0 / (p - 1), 1)
    W = np.where(A, rng.uniform(2.0, 5.0, (p, p)), 0.0)
    W = W + W.T
    Theta = np.diag(W.sum(1) + rng.uniform(0.5, 1.5, p)) - W
    X = rng.multivariate_normal(np.zeros(p), np.linalg.inv(Theta), size=n)
    return X, np.cov(X.T, bias=True)


# ------------------------------------------------------------------------------------------
# the solver
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_kkt_mmatrix(alpha):
    rng = np.random.default_rng(1)
    Th = make_precision(15, rng)
    S = sample_cov(Th, 60, rng)
    Theta = mtp2_precision(S, alpha, stages=1, tol=1e-10, max_iter=5000)
    W = np.linalg.inv(Theta)
    C = S - alpha * OFF(15)
    off = OFF(15)
    neg = off & (Theta < 0)
    zero = off & (Theta == 0)
    assert np.all(Theta[off] <= 0)
    np.linalg.cholesky(Theta)
    # stationarity: (Theta^-1)_ii = S_ii; (Theta^-1)_ij = S_ij - alpha where Theta_ij < 0;
    # dual feasibility (Theta^-1)_ij >= S_ij - alpha where Theta_ij = 0
    np.testing.assert_allclose(np.diag(W), np.diag(S), rtol=1e-6)
    np.testing.assert_allclose(W[neg], C[neg], atol=1e-6)
    assert np.all(W[zero] >= C[zero] - 1e-6)
    assert zero.any() and neg.any()


def test_kkt_dd_mmatrix():
    rng = np.random.default_rng(2)
    Th = make_precision(12, rng)
    S = sample_cov(Th, 40, rng)
    alpha = 0.05
    Theta = mtp2_precision(S, alpha, constraint="dd_mmatrix", stages=1, tol=1e-10,
                           max_iter=5000)
    off = OFF(12)
    assert np.all(Theta[off] <= 0) and Theta.sum(1).min() >= -1e-12
    # KKT on the cone D: G = S - Lambda - Theta^-1 lies in the dual cone
    # D* = {Y : Y_ii >= 0, Y_ii + Y_jj - 2 Y_ij >= 0} and <G, Theta> = 0
    G = S - alpha * off - np.linalg.inv(Theta)
    g = np.diag(G)
    assert g.min() >= -1e-6
    assert (g[:, None] + g[None, :] - 2 * G)[off].min() >= -1e-6
    assert abs(np.sum(G * Theta)) <= 1e-6 * np.abs(Theta).sum()


def test_mle_matches_coordinate_descent_reference():
    # lambda = 0 on the M-matrix set: the MTP2 MLE, computed by Lauritzen-Uhler-Zwiernik's
    # covariance coordinate descent with exact bounded least squares
    rng = np.random.default_rng(4)
    p = 5
    X = rng.standard_normal((8, p)) @ rng.standard_normal((p, p))
    S = X.T @ X / 8
    ref = mtp2_mle_reference(S)
    Theta = mtp2_precision(S, 0.0, tol=1e-11, max_iter=20000)
    assert np.any(Theta[OFF(p)] == 0)  # some sign constraints are active
    np.testing.assert_allclose(Theta, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def test_mle_is_inverse_when_unconstrained():
    # if S^{-1} is already an M-matrix, it is the MLE
    rng = np.random.default_rng(5)
    Th = make_precision(8, rng)
    S = np.linalg.inv(Th)
    np.testing.assert_allclose(mtp2_precision(S, 0.0, tol=1e-10, max_iter=5000), Th,
                               rtol=1e-6, atol=1e-7)


def test_two_samples_suffice():
    # Slawski & Hein (2015), Lauritzen et al. (2019): the M-matrix MLE exists from n = 2
    # (non-centered) samples, whatever p; the DD one even from a single sample (Truell et al.)
    rng = np.random.default_rng(2)
    p = 5
    X = rng.standard_normal((2, p))
    est = MTP2Precision(alpha=0.0, stages=1, assume_centered=True, tol=1e-9,
                        max_iter=20000).fit(X)
    T = est.precision_
    np.linalg.cholesky(T)
    assert np.all(T[OFF(p)] <= 0)
    # KKT of the MLE: the fitted variances equal the sample ones (ill-conditioned: rank-2 S)
    np.testing.assert_allclose(np.diag(est.covariance_), np.diag(X.T @ X / 2), rtol=1e-5)
    est1 = MTP2Precision(alpha=0.0, stages=1, constraint="dd_mmatrix", assume_centered=True,
                         tol=1e-5, max_iter=5000).fit(X[:1])
    np.linalg.cholesky(est1.precision_)
    # two centered samples have rank one with correlations +-1: no MLE on M-matrices...
    with pytest.raises(ValueError, match="does not exist"):
        MTP2Precision(alpha=0.0, stages=1).fit(X)
    # ... but a penalty makes the objective coercive
    Tp = MTP2Precision(alpha=0.1, stages=2, tol=1e-5, max_iter=5000).fit(X).precision_
    np.linalg.cholesky(Tp)


def test_recovery_improves_with_n_and_fscore():
    rng = np.random.default_rng(0)
    p = 50
    Th = make_precision(p, rng)
    errs = []
    for n in (100, 500, 2000):
        S = sample_cov(Th, n, rng)
        alpha = 1.7 * np.sqrt(np.log(p) / n)
        T = mtp2_precision(S, alpha, stages=3)
        errs.append(np.linalg.norm(T - Th) / np.linalg.norm(Th))
        if n == 10 * p:
            assert f_score(T, Th) >= 0.9
    assert errs[0] > errs[1] > errs[2]


def test_adaptive_stages_reduce_bias():
    rng = np.random.default_rng(7)
    Th = make_precision(30, rng)
    S = sample_cov(Th, 600, rng)
    e1 = np.linalg.norm(mtp2_precision(S, 0.15, stages=1) - Th)
    e3 = np.linalg.norm(mtp2_precision(S, 0.15, stages=3) - Th)
    assert e3 < 0.8 * e1
    for pen in ("scad", "lasso"):
        T = mtp2_precision(S, 0.15, stages=2, penalty=pen)
        assert np.all(T[OFF(30)] <= 0)


def test_warm_start_and_max_iter_warning():
    rng = np.random.default_rng(8)
    Th = make_precision(20, rng)
    S = sample_cov(Th, 200, rng)
    T, it = mtp2_precision(S, 0.1, stages=1, tol=1e-8, return_n_iter=True)
    T2, it2 = mtp2_precision(S, 0.1, stages=1, tol=1e-8, precision_init=T,
                             return_n_iter=True)
    assert it2[0] < it[0]
    np.testing.assert_allclose(T2, T, atol=1e-5)
    with pytest.warns(NotConvergedWarning):
        mtp2_precision(S, 0.1, max_iter=2)


def test_alpha_matrix_and_float32():
    rng = np.random.default_rng(9)
    Th = make_precision(10, rng)
    S = sample_cov(Th, 100, rng)
    T1 = mtp2_precision(S, 0.1, stages=1)
    T2 = mtp2_precision(S, np.full((10, 10), 0.1), stages=1)
    np.testing.assert_allclose(T1, T2)
    T32 = mtp2_precision(S.astype(np.float32), 0.1, stages=1)
    assert T32.dtype == np.float32
    np.testing.assert_allclose(T32, T1, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------
# the estimator
# ------------------------------------------------------------------------------------------
def test_estimator_api():
    rng = np.random.default_rng(11)
    Th = make_precision(10, rng)
    X = rng.multivariate_normal(np.ones(10), np.linalg.inv(Th), size=300)
    est = MTP2Precision(alpha=0.1, stages=2, tol=1e-8)
    assert est.fit(X) is est
    np.testing.assert_allclose(est.covariance_ @ est.precision_, np.eye(10), atol=1e-8)
    assert est.n_iter_ == sum(est.n_iter_per_stage_) > 0
    S = np.cov(X.T, bias=True)
    ll = 0.5 * (np.linalg.slogdet(est.precision_)[1] - np.sum(S * est.precision_)
                - 10 * np.log(2 * np.pi))
    assert est.score(X) == pytest.approx(ll, rel=1e-10)
    params = est.get_params()
    assert params["alpha"] == 0.1 and params["stages"] == 2
    est.set_params(alpha=0.2, constraint="dd_mmatrix")
    assert est.alpha == 0.2
    with pytest.raises(ValueError, match="invalid parameter"):
        est.set_params(lambda_=1)
    assert "alpha=0.2" in repr(est)
    sklearn_base = pytest.importorskip("sklearn.base")
    clone = sklearn_base.clone(est)
    assert clone.get_params() == est.get_params() and not hasattr(clone, "precision_")
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(MTP2Precision(stages=1), {"alpha": [0.02, 0.2]}, cv=2).fit(X)
    assert search.best_params_["alpha"] in (0.02, 0.2)
    # warm start reuses the previous solution
    est2 = MTP2Precision(alpha=0.1, stages=1, warm_start=True, tol=1e-8).fit(X)
    n0 = est2.n_iter_
    assert est2.fit(X).n_iter_ < n0


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------
def test_bad_input():
    S = np.array([[1.0, 0.3], [0.3, 1.0]])
    with pytest.raises(ValueError, match="positive semidefinite"):
        mtp2_precision(np.array([[1.0, 2.0], [2.0, 1.0]]), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        mtp2_precision(np.array([[1.0, np.nan], [np.nan, 1.0]]), 0.1)
    with pytest.raises(ValueError, match="at least 2 variables"):
        mtp2_precision(np.array([[1.0]]), 0.1)
    # one feature is a valid fit (1 / variance, tests/optim/test_mtp2_sklearn.py), a constant
    # one is not
    with pytest.raises(ValueError, match="positive variance"):
        MTP2Precision().fit(np.ones((5, 1)))
    with pytest.raises(ValueError, match="square"):
        mtp2_precision(np.ones((2, 3)), 0.1)
    with pytest.raises(ValueError, match="symmetric"):
        mtp2_precision(np.array([[1.0, 0.3], [0.1, 1.0]]), 0.1)
    with pytest.raises(ValueError, match="positive diagonal"):
        mtp2_precision(np.array([[0.0, 0.0], [0.0, 1.0]]), 0.1)
    with pytest.raises(ValueError, match="alpha"):
        mtp2_precision(S, -0.1)
    with pytest.raises(ValueError, match="alpha"):
        mtp2_precision(S, np.ones((3, 3)))
    with pytest.raises(ValueError, match="constraint"):
        mtp2_precision(S, 0.1, constraint="laplacian")
    with pytest.raises(ValueError, match="penalty"):
        mtp2_precision(S, 0.1, penalty="l0")
    with pytest.raises(ValueError, match="tol"):
        mtp2_precision(S, 0.1, tol=0)
    with pytest.raises(TypeError, match="stages"):
        mtp2_precision(S, 0.1, stages=1.5)
    with pytest.raises(ValueError, match="NaN"):
        MTP2Precision().fit(np.array([[1.0, np.nan], [0.0, 1.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        project_dd_mmatrix(np.ones((2, 3)))
    with pytest.raises(AttributeError, match="not fitted"):
        MTP2Precision().score(np.ones((3, 2)))


def test_does_not_modify_input():
    rng = np.random.default_rng(12)
    S = sample_cov(make_precision(6, rng), 50, rng)
    S0 = S.copy()
    T = rng.standard_normal((6, 6))
    T0 = T.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mtp2_precision(S, 0.1)
    project_dd_mmatrix(T)
    project_mmatrix(T)
    np.testing.assert_array_equal(S, S0)
    np.testing.assert_array_equal(T, T0)


@pytest.mark.parametrize("constraint", ["mmatrix", "dd_mmatrix"])
def test_scale_equivariance(constraint):
    # Theta(c S, c alpha) = Theta(S, alpha) / c for one weighted-l1 stage
    rng = np.random.default_rng(13)
    S = sample_cov(make_precision(10, rng), 80, rng)
    T1 = mtp2_precision(S, 0.1, stages=1, constraint=constraint, tol=1e-10, max_iter=5000)
    T2 = mtp2_precision(7.0 * S, 0.7, stages=1, constraint=constraint, tol=1e-10,
                        max_iter=5000)
    np.testing.assert_allclose(T2, T1 / 7.0, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------------------------
# every engine: device in, device out, NumPy's numbers
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("constraint", ["mmatrix", "dd_mmatrix"])
def test_solver_on_device_matches_numpy(xp, constraint):
    _, S = _device_data()
    T_cpu = mtp2_precision(S, 0.1, stages=2, constraint=constraint, tol=1e-9)
    T_dev = mtp2_precision(xp.asarray(S), 0.1, stages=2, constraint=constraint, tol=1e-9)
    assert isinstance(T_dev, xp.ndarray)
    np.testing.assert_allclose(to_host(T_dev), T_cpu, rtol=1e-5, atol=1e-6)


def test_estimator_on_device_and_errors(xp):
    X, _ = _device_data(seed=2)
    est = MTP2Precision(alpha=0.1, stages=2).fit(xp.asarray(X))
    ref = MTP2Precision(alpha=0.1, stages=2).fit(X)
    assert isinstance(est.precision_, xp.ndarray) and isinstance(est.covariance_, xp.ndarray)
    np.testing.assert_allclose(to_host(est.precision_), ref.precision_, rtol=1e-4, atol=1e-5)
    assert est.score(xp.asarray(X)) == pytest.approx(ref.score(X), rel=1e-6)
    # the Cholesky test on the device rejects a non-PSD matrix
    with pytest.raises(ValueError, match="positive semidefinite"):
        mtp2_precision(xp.asarray([[1.0, 2.0], [2.0, 1.0]]), 0.1)
