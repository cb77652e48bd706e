"""The MTP2 solver and the projections on CuPy: device in, device out, NumPy's numbers."""

from __future__ import annotations

import numpy as np
import pytest

import projkit
from tests.conftest import to_host

pytestmark = pytest.mark.gpu


def _data(p=12, n=120, seed=0):
    rng = np.random.default_rng(seed)
    A = np.triu(rng.random((p, p)) < 3.0 / (p - 1), 1)
    W = np.where(A, rng.uniform(2.0, 5.0, (p, p)), 0.0)
    W = W + W.T
    Theta = np.diag(W.sum(1) + rng.uniform(0.5, 1.5, p)) - W
    X = rng.multivariate_normal(np.zeros(p), np.linalg.inv(Theta), size=n)
    return X, np.cov(X.T, bias=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_projections_match_numpy(dtype):
    cp = pytest.importorskip("cupy")
    T = np.random.default_rng(1).standard_normal((30, 30)).astype(dtype)
    for fn in (projkit.project_mmatrix, projkit.project_dd_mmatrix):
        out = fn(cp.asarray(T))
        assert isinstance(out, cp.ndarray) and out.dtype == dtype
        np.testing.assert_allclose(to_host(out), fn(T), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("constraint", ["mmatrix", "dd_mmatrix"])
def test_solver_matches_numpy(constraint):
    cp = pytest.importorskip("cupy")
    _, S = _data()
    T_cpu = projkit.mtp2_precision(S, 0.1, stages=2, constraint=constraint, tol=1e-9)
    T_gpu = projkit.mtp2_precision(cp.asarray(S), 0.1, stages=2, constraint=constraint,
                                   tol=1e-9)
    assert isinstance(T_gpu, cp.ndarray)
    np.testing.assert_allclose(to_host(T_gpu), T_cpu, rtol=1e-5, atol=1e-6)


def test_estimator_on_device_and_errors():
    cp = pytest.importorskip("cupy")
    X, _ = _data(seed=2)
    est = projkit.MTP2Precision(alpha=0.1, stages=2).fit(cp.asarray(X))
    ref = projkit.MTP2Precision(alpha=0.1, stages=2).fit(X)
    assert isinstance(est.precision_, cp.ndarray) and isinstance(est.covariance_, cp.ndarray)
    np.testing.assert_allclose(to_host(est.precision_), ref.precision_, rtol=1e-4, atol=1e-5)
    assert est.score(cp.asarray(X)) == pytest.approx(ref.score(X), rel=1e-6)
    # the Cholesky test on the device rejects a non-PSD matrix
    with pytest.raises(ValueError, match="positive semidefinite"):
        projkit.mtp2_precision(cp.asarray([[1.0, 2.0], [2.0, 1.0]]), 0.1)
