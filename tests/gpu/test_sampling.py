"""DPP sampling on CuPy: GPU in, GPU out, exact laws (χ² at a fixed seed) and the batched target
size of issue #7 (1000 samples, N = 1e5, r = 100)."""

from __future__ import annotations

import numpy as np
import pytest

import projkit
from tests.conftest import to_host
from tests.sampling._exact import chi2_pvalue, det_sub, subsets

pytestmark = pytest.mark.gpu


def _orth(N, r, seed=0):
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((N, r)))[0]


def test_projection_dpp_cupy_law():
    cp = pytest.importorskip("cupy")
    V = _orth(8, 3, 4)
    S = projkit.sample_projection_dpp(cp.asarray(V), n_samples=100_000, rng=3)
    assert isinstance(S, cp.ndarray) and S.shape == (100_000, 3)
    K = V @ V.T
    law = {T: det_sub(K, T) for T in subsets(8, [3])}
    assert chi2_pvalue(to_host(S), law) > 1e-3


def test_k_dpp_and_dpp_cupy_law():
    cp = pytest.importorskip("cupy")
    N, k = 7, 3
    X = np.random.default_rng(5).standard_normal((N, N))
    L = X @ np.diag(np.logspace(-1, 1, N)) @ X.T
    law = {T: det_sub(L, T) for T in subsets(N, [k])}
    Z = sum(law.values())
    S = projkit.sample_dpp(L=cp.asarray(L), k=k, n_samples=50_000, rng=1)
    assert isinstance(S, cp.ndarray)
    assert chi2_pvalue(to_host(S), {T: p / Z for T, p in law.items()}) > 1e-3
    Zl = np.linalg.det(L + np.eye(N))
    lawl = {T: det_sub(L, T) / Zl for T in subsets(N)}
    samples = projkit.sample_dpp(L=cp.asarray(L), n_samples=50_000, rng=2)
    assert chi2_pvalue([to_host(s) for s in samples], lawl) > 1e-3


def test_volume_and_wls_cupy():
    cp = pytest.importorskip("cupy")
    X = np.random.default_rng(0).standard_normal((500, 4))
    S = projkit.volume_sample(cp.asarray(X), 9, n_samples=10, rng=0)
    assert isinstance(S, cp.ndarray) and S.shape == (10, 9)
    Sq = projkit.volume_sample(cp.asarray(X), 9, q=cp.full(500, 1 / 500), n_samples=10, rng=0)
    assert Sq.shape == (10, 9)
    grid = cp.linspace(-1, 1, 2000)
    res = projkit.dpp_lstsq(cp.exp, "legendre", 6, scheme="volume", n_samples=12,
                            candidates=grid, rng=0)
    assert isinstance(res.coefficients, cp.ndarray)
    c_cpu = projkit.dpp_lstsq(np.exp, "legendre", 6, scheme="volume", n_samples=12,
                              candidates=to_host(grid), rng=0).coefficients
    np.testing.assert_allclose(to_host(res.coefficients), c_cpu, atol=1e-2)


def test_projection_dpp_cupy_target_size():
    # issue #7 GPU target: 1000 samples at N = 1e5, r = 100, all with r distinct items
    cp = pytest.importorskip("cupy")
    V = cp.linalg.qr(cp.random.default_rng(0).standard_normal((100_000, 100)))[0]
    S = projkit.sample_projection_dpp(V, n_samples=1000, rng=0)
    assert S.shape == (1000, 100)
    Sh = to_host(S)
    assert all(len(np.unique(row)) == 100 for row in Sh)
    assert Sh.min() >= 0 and Sh.max() < 100_000
