"""Tests of projkit.sampling.wls: feature maps, exact recovery in V_m, unbiased weighted Gram."""

from __future__ import annotations

import numpy as np
import pytest

from projkit import dpp_lstsq
from projkit.sampling.wls import DPPLstsq, legendre_features, trigonometric_features
from tests.conftest import to_host

SCHEMES = ["projection_dpp", "volume", "repeated_dpp", "iid_optimal"]


def test_legendre_orthonormal_and_dtype():
    x, w = np.polynomial.legendre.leggauss(30)
    P = legendre_features(x, 12)
    np.testing.assert_allclose(P.T @ (w[:, None] / 2 * P), np.eye(12), atol=1e-12)
    # against numpy's Legendre series
    c = np.zeros(6)
    c[5] = 1.0
    np.testing.assert_allclose(P[:, 5], np.sqrt(11) * np.polynomial.legendre.legval(x, c))
    assert legendre_features(x.astype(np.float32), 3).dtype == np.float32
    assert legendre_features(np.arange(3), 1).shape == (3, 1)


def test_trigonometric_orthonormal():
    x = (np.arange(200) + 0.5) / 200
    T = trigonometric_features(x, 9)
    np.testing.assert_allclose(T.T @ T / 200, np.eye(9), atol=1e-12)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_exact_recovery_in_space(scheme):
    # f in V_m: every scheme with a unisolvent sample recovers the coefficients exactly
    m = 7
    c_true = np.random.default_rng(0).standard_normal(m)

    def f(x):
        return legendre_features(x, m) @ c_true

    n = None if scheme == "projection_dpp" else 3 * m
    res = dpp_lstsq(f, "legendre", m, n_samples=n, scheme=scheme, candidates=3000, rng=1)
    assert isinstance(res, DPPLstsq)
    np.testing.assert_allclose(res.coefficients, c_true, atol=1e-9)
    n_exp = m if scheme == "projection_dpp" else 3 * m
    assert res.sample.shape == (n_exp,) == res.weights.shape == res.points.shape


def test_weights_are_inverse_christoffel():
    m = 8
    res = dpp_lstsq(np.sin, "legendre", m, n_samples=40, scheme="iid_optimal", rng=0)
    k = np.sum(legendre_features(res.points, m) ** 2, axis=1)
    # grid of 10 000 midpoints: discrete vs continuous orthonormality differ by O(1/N^2)
    np.testing.assert_allclose(res.weights, m / k, rtol=1e-3)


@pytest.mark.parametrize("scheme", ["volume", "repeated_dpp", "iid_optimal"])
def test_weighted_gram_unbiased(scheme):
    # E[(1/n) sum_i w(x_i) phi(x_i) phi(x_i)^T] = I for every scheme (each point has marginal
    # density rho_m). Average of 300 draws: entries have sd <~ 0.5/sqrt(300) ~ 0.03; allow 0.15.
    m, n, reps = 5, 10, 300
    G = np.zeros((m, m))
    for s in range(reps):
        res = dpp_lstsq(np.cos, "trigonometric", m, n_samples=n, scheme=scheme,
                        candidates=1000, rng=s)
        Phi = trigonometric_features(res.points, m)
        G += (Phi * res.weights[:, None]).T @ Phi / len(res.weights)
    np.testing.assert_allclose(G / reps, np.eye(m), atol=0.15)


def test_repeated_dpp_rounds_up_and_values_input():
    m = 4
    grid = np.linspace(-1, 1, 500)
    vals = np.exp(grid)
    res = dpp_lstsq(vals, "legendre", m, n_samples=10, scheme="repeated_dpp", candidates=grid,
                    rng=0)
    assert res.sample.shape == (12,)
    np.testing.assert_allclose(res.points, grid[res.sample])
    x = np.linspace(-1, 1, 7)
    assert np.max(np.abs(legendre_features(x, m) @ res.coefficients - np.exp(x))) < 0.05


def test_callable_features_multivariate():
    # tensor-product Legendre features on a 2-D pool of candidates
    pts = np.random.default_rng(0).uniform(-1, 1, (4000, 2))

    def feats(x, m):
        a, b = legendre_features(x[:, 0], 3), legendre_features(x[:, 1], 3)
        return (a[:, :, None] * b[:, None, :]).reshape(len(x), 9)[:, :m]

    def f(x):
        return 1 + x[:, 0] * x[:, 1]

    res = dpp_lstsq(f, feats, 9, scheme="volume", n_samples=20, candidates=pts, rng=0)
    assert res.points.shape == (20, 2)
    np.testing.assert_allclose(feats(pts[:5], 9) @ res.coefficients, f(pts[:5]), atol=1e-9)


def test_float32_and_seed():
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    r1 = dpp_lstsq(np.exp, "legendre", 5, scheme="volume", n_samples=10, candidates=x, rng=3)
    r2 = dpp_lstsq(np.exp, "legendre", 5, scheme="volume", n_samples=10, candidates=x, rng=3)
    assert r1.coefficients.dtype == np.float32
    np.testing.assert_array_equal(r1.sample, r2.sample)


def test_wls_errors():
    with pytest.raises(ValueError, match="scheme"):
        dpp_lstsq(np.sin, "legendre", 3, scheme="mc")
    with pytest.raises(ValueError, match="features"):
        dpp_lstsq(np.sin, "chebyshev", 3)
    with pytest.raises(TypeError, match="features"):
        dpp_lstsq(np.sin, 3, 3)
    with pytest.raises(ValueError, match="candidates"):
        dpp_lstsq(np.sin, legendre_features, 3)
    with pytest.raises(ValueError, match="n_samples"):
        dpp_lstsq(np.sin, "legendre", 3, n_samples=5, scheme="projection_dpp")
    with pytest.raises(ValueError, match="n_samples"):
        dpp_lstsq(np.sin, "legendre", 3, n_samples=2, scheme="volume")
    with pytest.raises(ValueError, match="f"):
        dpp_lstsq(np.ones(5), "legendre", 3, candidates=10)
    with pytest.raises(ValueError, match="m"):
        dpp_lstsq(np.sin, "legendre", 20, candidates=10)
    with pytest.raises(ValueError, match="features"):
        dpp_lstsq(np.sin, lambda x, m: np.ones((len(x), m + 1)), 3, candidates=np.zeros(10))
    with pytest.raises(np.linalg.LinAlgError):
        dpp_lstsq(np.sin, lambda x, m: np.ones((len(x), m)), 3, candidates=np.arange(10.0))


def test_dpp_lstsq_on_device(xp):
    # device in, device out (CuPy through the xp fixture), NumPy's coefficients
    grid = xp.linspace(-1, 1, 2000)
    res = dpp_lstsq(xp.exp, "legendre", 6, scheme="volume", n_samples=12, candidates=grid, rng=0)
    assert isinstance(res.coefficients, xp.ndarray)
    c_cpu = dpp_lstsq(np.exp, "legendre", 6, scheme="volume", n_samples=12,
                      candidates=to_host(grid), rng=0).coefficients
    np.testing.assert_allclose(to_host(res.coefficients), c_cpu, atol=1e-2)
