"""Exactness and API tests of projkit.sampling.volume (χ² against enumerated laws, p > 1e-3)."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from projkit import volume_sample
from tests.sampling._exact import chi2_pvalue, subsets

P_MIN = 1e-3
N_EXACT = 100_000


def _X(N, d, seed=0):
    return np.random.default_rng(seed).standard_normal((N, d)) * np.linspace(0.3, 2.0, N)[:, None]


@pytest.mark.parametrize("N,d,k", [(8, 2, 4), (7, 3, 3), (7, 4, 2), (6, 3, 5)])
def test_volume_sampling_law(N, d, k):
    X = _X(N, d, seed=N * d + k)
    if k >= d:
        law = {S: np.linalg.det(X[list(S)].T @ X[list(S)]) for S in subsets(N, [k])}
    else:
        law = {S: np.linalg.det(X[list(S)] @ X[list(S)].T) for S in subsets(N, [k])}
    Z = sum(law.values())
    law = {S: p / Z for S, p in law.items()}
    samples = volume_sample(X, k, n_samples=N_EXACT, rng=1)
    assert samples.shape == (N_EXACT, k)
    assert all(len(set(r)) == k for r in samples[:1000])
    assert chi2_pvalue(samples, law) > P_MIN


def test_volume_rescaled_law():
    # law of the ordered draw ∝ det(sum_i x x^T / q) prod q, aggregated over orderings
    N, d, k = 5, 2, 3
    X = _X(N, d, seed=3)
    q = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    law: dict = {}
    for t in product(range(N), repeat=k):
        G = sum(np.outer(X[j], X[j]) / q[j] for j in t)
        p = np.linalg.det(G) * np.prod(q[list(t)])
        key = tuple(sorted(t))
        law[key] = law.get(key, 0.0) + p
    Z = sum(law.values())
    law = {S: p / Z for S, p in law.items()}
    samples = volume_sample(X, k, q=q * 7, n_samples=N_EXACT, rng=2)  # q is normalized
    assert chi2_pvalue(samples, law) > P_MIN


def test_volume_rescaled_zero_probability_rows():
    X = _X(30, 3, seed=1)
    q = np.zeros(30)
    q[10:20] = 1.0
    S = volume_sample(X, 8, q=q, n_samples=200, rng=0)
    extra_ok = [(np.isin(r, np.arange(10, 20)).sum() >= 5) for r in S]
    assert all(extra_ok)  # the 5 i.i.d. draws come from rows 10..19


def test_volume_seed_and_dtypes():
    X = _X(40, 3)
    a = volume_sample(X, 6, n_samples=4, rng=5)
    b = volume_sample(X.astype(np.float32), 6, n_samples=4, rng=5)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int64
    np.testing.assert_array_equal(a, volume_sample(X, 6, n_samples=8, rng=5)[:4])


def test_volume_errors():
    X = _X(10, 3)
    with pytest.raises(ValueError, match="k"):
        volume_sample(X, 11)
    with pytest.raises(ValueError, match="k"):
        volume_sample(X, 0)
    with pytest.raises(ValueError, match="q"):
        volume_sample(X, 4, q=np.ones(9))
    with pytest.raises(ValueError, match="q"):
        volume_sample(X, 4, q=-np.ones(10))
    with pytest.raises(ValueError, match="k >= d"):
        volume_sample(X, 2, q=np.ones(10))
    Xd = np.c_[X[:, :2], X[:, 0] + X[:, 1]]  # rank 2 < 3 columns
    with pytest.raises(np.linalg.LinAlgError, match="rank"):
        volume_sample(Xd, 5)
    assert volume_sample(Xd, 2, rng=0).shape == (1, 2)  # k <= rank is fine


def test_volume_on_device(xp):
    # device in, device out (CuPy through the xp fixture)
    X = np.random.default_rng(0).standard_normal((500, 4))
    S = volume_sample(xp.asarray(X), 9, n_samples=10, rng=0)
    assert isinstance(S, xp.ndarray) and S.shape == (10, 9)
    Sq = volume_sample(xp.asarray(X), 9, q=xp.full(500, 1 / 500), n_samples=10, rng=0)
    assert Sq.shape == (10, 9)
