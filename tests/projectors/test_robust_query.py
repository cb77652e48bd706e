"""Tests of the robust set-query pool (coordinate estimates of P h by a DP median of sketches)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from projkit._backend.random import device_rng
from projkit.projectors._robust_query import (
    RobustSetQuery,
    _private_median,
    robust_parameters,
)
from tests.conftest import to_host

N = 200


def _projector(rank=60, seed=1):
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((N, rank)))
    return Q @ Q.T


def _pool(P, dtype=np.float64, **kw):
    opts = dict(sketch_size=16, n_sketches=12, per_query=5, dp_epsilon=4.0, max_queries=50,
                rng=0)
    opts.update(kw)
    rq = RobustSetQuery(P.shape[0], xp=np, dtype=dtype, **opts)
    rq.refresh(lambda X: P @ X)
    return rq


def test_single_sketch_estimate_is_unbiased_with_stated_variance():
    P = _projector()
    h = np.random.default_rng(2).standard_normal(N)
    g = P @ h
    K, b = 2000, 4
    rq = _pool(P, sketch_size=b, n_sketches=K, per_query=1)
    est = rq._estimates(h, None, np.arange(K))  # K independent single-sketch estimates
    var = (g @ g + g**2) / b
    # CLT over K = 2000 i.i.d. estimates: the mean is within 5 standard errors on all 200
    # coordinates (two-sided Gaussian tail 6e-7 each, so the union is < 1e-4)
    assert np.all(np.abs(est.mean(axis=0) - g) <= 5.0 * np.sqrt(var / K))
    # sample variance: relative sd ≈ sqrt((kurtosis - 1)/K) ≈ 0.07 per coordinate; averaged over
    # 200 coordinates the ratio is within 10% of 1
    assert abs(np.mean(est.var(axis=0, ddof=1) / var) - 1.0) < 0.1


@pytest.mark.parametrize("seed", range(4))
def test_non_adaptive_error_bound_at_stated_eps_delta(seed):
    # The guarantee is per coordinate, |ans_i − (Ph)_i| ≤ ε‖Ph‖ + (γ/2)‖h‖. A zero answer meets
    # it whenever every |(Ph)_i| is small, so the queries include h = e_j for the j with the
    # largest P_jj: there (Ph)_j = P_jj ≈ 0.95‖Ph‖ (rank 180 of N = 200), and with ε = 0.3 the
    # bound is ≈ 0.34‖Ph‖: a zero answer (0.95‖Ph‖) and a ×1.5 one (0.48‖Ph‖) break it.
    eps, delta, T = 0.3, 0.1, 3
    p = robust_parameters(eps, delta, T, n_coords=N, dp_epsilon=1.0)
    assert p["sketch_size"] == math.ceil(8 / eps**2)
    assert p["rank_slack"] <= p["per_query"] / 8 and p["per_query"] % 2 == 1
    P = _projector(rank=180, seed=10 + seed)
    # the non-adaptive guarantee needs only L sketches per query, so K = L keeps the test small
    rq = RobustSetQuery(N, sketch_size=p["sketch_size"], n_sketches=p["per_query"],
                        per_query=p["per_query"], dp_epsilon=p["dp_epsilon"], max_queries=T,
                        resolution=p["resolution"], rng=seed)
    rq.refresh(lambda X: P @ X)
    hr = np.random.default_rng(100 + seed)
    j = int(np.argmax(np.diag(P)))
    queries = [(np.eye(N)[j], True), (hr.standard_normal(N), False),
               (P[:, j] + 0.05 * hr.standard_normal(N), True)]
    for h, aimed in queries:
        g = P @ h
        bound = eps * np.linalg.norm(g) + 0.5 * p["resolution"] * np.linalg.norm(h)
        if aimed:  # the check has power against a zero and a ×1.5 answer
            assert 0.5 * np.max(np.abs(g)) > 1.1 * bound
        assert np.max(np.abs(rq.query(h) - g)) <= bound


def _brute_median_logp(x, step, half, eps0):
    k = np.clip(np.round(x / step), -half, half)
    grid = np.arange(-half, half + 1)
    u = -np.maximum((k[None, :] < grid[:, None]).sum(1), (k[None, :] > grid[:, None]).sum(1))
    logw = 0.5 * eps0 * u
    return logw - np.logaddexp.reduce(logw)


def test_private_median_is_dp_and_samples_its_distribution():
    rng = np.random.default_rng(0)
    step, half, eps0, L = 0.25, 6, 1.5, 7
    x = rng.normal(0.3, 0.6, L)
    logp = _brute_median_logp(x, step, half, eps0)
    for j in range(L):  # replace one value (one sketch of the pool) by anything
        for v in (-5.0, -0.1, 0.0, 0.7, 9.0):
            x2 = x.copy()
            x2[j] = v
            assert np.max(np.abs(logp - _brute_median_logp(x2, step, half, eps0))) <= eps0 + 1e-12
    # the vectorized sampler draws from the same distribution: 40000 columns of the same data;
    # each frequency has sd ≤ 0.0025, so 0.015 is 6 sd
    m = 40000
    out = _private_median(np, np.repeat(x[:, None], m, axis=1), step, half, eps0, rng)
    k = np.round(out / step).astype(int)
    assert np.allclose(out, k * step) and k.min() >= -half and k.max() <= half
    freq = np.bincount(k + half, minlength=2 * half + 1) / m
    assert np.max(np.abs(freq - np.exp(logp))) < 0.015


def test_private_median_is_the_median_for_large_epsilon():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((9, 300))
    step = 0.01
    out = _private_median(np, X, step, 1000, 1e4, rng)
    rounded = np.round(X / step) * step
    assert np.allclose(out, np.median(rounded, axis=0))
    # ties (all values equal after rounding) still give that value
    out = _private_median(np, np.full((5, 3), 0.301), 0.1, 20, 1e4, rng)
    assert np.allclose(out, 0.3)
    # L = 1 and L = 2 work
    assert _private_median(np, X[:1], step, 1000, 1e4, rng).shape == (300,)
    two = _private_median(np, X[:2], step, 1000, 1e4, rng)
    lo, hi = np.sort(np.round(X[:2] / step), axis=0) * step
    assert np.all((two >= lo - 1e-12) & (two <= hi + 1e-12))


def test_adaptive_attack_breaks_one_reused_sketch_not_the_pool():
    # The adversary queries h = e_j for every j, learns the answering map M (= RᵀR P for one
    # reused sketch), then asks h* = P (M - P)ᵀ e_i: for a single sketch the error at i is
    # ‖P(RᵀR - I)e_i‖ ≈ sqrt(rank/b) ‖P h*‖, far above eps = sqrt(8/b). The pool answers every
    # query from a fresh random subset through a private median, so what the adversary learns
    # is an average over the pool and h* is not aimed at the sketches that answer it.
    # (Against this linear attack a fixed set of L sketches with a plain median also stays
    # below eps on most seeds; the test shows the single-sketch failure and the pool's bound.)
    n, rank, b, i = 120, 100, 64, 0
    Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((n, rank)))
    P = Q @ Q.T
    eps = math.sqrt(8 / b)
    R = np.random.default_rng(5).standard_normal((b, n)) / math.sqrt(b)
    S = R @ P

    def attack(answer):
        M = np.column_stack([answer(e) for e in np.eye(n)])
        h = P @ (M - P).T[:, i]
        g = P @ h
        return np.abs(answer(h) - g) / np.linalg.norm(g), h

    err_single, _ = attack(lambda h: R.T @ (S @ h))
    assert err_single[i] > 3 * eps
    L, T = 21, n + 2
    rq = RobustSetQuery(n, sketch_size=b, n_sketches=math.ceil(L * math.sqrt(T)), per_query=L,
                        dp_epsilon=3.0, max_queries=T, resolution=eps / 4, rng=7)
    rq.refresh(lambda X: P @ X)
    err_pool, h = attack(rq.query)
    # the stated bound eps ‖P h‖ + (γ/2)‖h‖ with h = P h (γ = eps/4) on every coordinate
    assert np.max(err_pool) <= eps + eps / 8
    assert err_pool[i] < err_single[i] / 10
    # after the attack the pool still answers within the bound where a zero or a ×1.5 map
    # cannot: h = e_j with the largest P_jj ≈ 0.92 has (Ph)_j ≈ 0.96‖Ph‖, the bound is
    # eps‖Ph‖ + eps/8 ≈ 0.39 (eps = 1/√8), a zero answer is 0.92 off and a ×1.5 one 0.46
    j = int(np.argmax(np.diag(P)))
    g = P[:, j]
    bound = eps * np.linalg.norm(g) + eps / 8
    assert np.abs(g).max() > 2 * bound and 0.5 * np.abs(g).max() > 1.1 * bound
    assert np.max(np.abs(rq.query(np.eye(n)[j]) - g)) <= bound


def test_determinism_with_an_int_rng():
    P = _projector()
    h = np.random.default_rng(4).standard_normal(N)
    a = [_pool(P, rng=11).query(h) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    assert not np.array_equal(a[0], _pool(P, rng=12).query(h))
    gen = np.random.default_rng(3)
    assert _pool(P, rng=gen).query(h).shape == (N,)


def test_redraw_after_max_queries_and_lazy_refresh():
    P = _projector()
    h = np.random.default_rng(4).standard_normal(N)
    calls = []

    def apply_P(X):
        calls.append(X.shape)
        return P @ X

    rq = RobustSetQuery(N, sketch_size=8, n_sketches=6, per_query=3, dp_epsilon=5.0,
                        max_queries=2, rng=0)
    assert rq.needs_refresh
    with pytest.raises(RuntimeError, match="refresh"):
        rq.query(h)
    rq.refresh(apply_P)
    assert calls == [(N, 6 * 8)] and rq.n_refreshes == 1
    R0 = rq._R.copy()
    np.testing.assert_allclose(rq._S, R0 @ P, atol=1e-12)
    rq.query(h)
    assert rq.queries_left == 1 and rq.n_redraws == 0
    rq.query(h, np.array([3]))
    assert rq.n_redraws == 1 and rq.queries_left == 2 and rq.needs_refresh
    assert not np.allclose(rq._R, R0) and rq.n_refreshes == 1
    rq.query(h)  # products recomputed by the stored apply_P, once
    assert rq.n_refreshes == 2 and len(calls) == 2 and rq.n_queries == 3
    np.testing.assert_allclose(rq._S, rq._R @ P, atol=1e-12)
    assert rq.nbytes == 2 * 6 * 8 * N * 8


def test_float32_kept_and_coords_subset():
    P = _projector(rank=180)
    h = np.random.default_rng(4).standard_normal(N)
    rq = _pool(P.astype(np.float32), dtype=np.float32, sketch_size=128, dp_epsilon=1e3,
               resolution=1e-3)
    assert rq._R.dtype == np.float32 and rq._S.dtype == np.float32
    coords = np.array([5, 0, 199, 5])
    out = rq.query(h, coords)
    assert out.dtype == np.float32 and out.shape == (4,)
    assert out[0] == out[3]
    # b = 128: one estimate's error exceeds ε‖g‖, ε = √(8/b) = 0.25 (2 sd), with probability
    # ≤ 0.046, so the exact median of 5 (ε₀ = 1e3) fails only if 3 of 5 do: ≤ 1e-3 per
    # coordinate. Queried at h = e_j (j = argmax P_jj, (Ph)_j ≈ 0.95‖Ph‖) a zero answer is
    # 0.95‖g‖ off and a ×1.5 one 0.47‖g‖, both above the bound 0.25‖g‖ + 5e-4.
    j = int(np.argmax(np.diag(P)))
    for hq in (h, np.eye(N)[j]):
        g = P @ hq
        C = np.array([j, 0, 199])
        bound = 0.25 * np.linalg.norm(g) + 5e-4 * np.linalg.norm(hq) + 1e-5
        assert np.all(np.abs(rq.query(hq, C) - g[C]) <= bound)
    assert np.abs(g[j]) > 1.5 * bound
    assert np.all(rq.query(np.zeros(N)) == 0)


def test_for_accuracy_constants():
    cal = robust_parameters(0.5, 0.05, 16, n_coords=10)
    thm = robust_parameters(0.5, 0.05, 16, n_coords=10, constants="theorem")
    assert cal["sketch_size"] == thm["sketch_size"] == 32
    assert cal["rank_slack"] <= cal["per_query"] / 8 and thm["rank_slack"] <= thm["per_query"] / 16
    assert thm["per_query"] >= 128 * math.log(4 * 16 * 10 / 0.05)
    assert cal["n_sketches"] == math.ceil(cal["per_query"] * 4) < thm["n_sketches"]
    assert cal["resolution"] == 0.125
    rq = RobustSetQuery.for_accuracy(20, 0.9, 0.5, 2, rng=0)
    assert rq.sketch_size == 10 and rq.per_query % 2 == 1
    assert rq.n_sketches == math.ceil(rq.per_query * math.sqrt(2))
    assert RobustSetQuery.for_accuracy(5, 0.9, 0.5, 1, rng=0).sketch_size == 5  # capped at N


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        (dict(N=0), ValueError, "N"),
        (dict(sketch_size=0), ValueError, "sketch_size"),
        (dict(sketch_size=2.0), TypeError, "sketch_size"),
        (dict(per_query=13), ValueError, "per_query"),
        (dict(dp_epsilon=0.0), ValueError, "dp_epsilon"),
        (dict(dp_epsilon=float("nan")), ValueError, "dp_epsilon"),
        (dict(max_queries=True), TypeError, "max_queries"),
        (dict(resolution=2.0), ValueError, "resolution"),
        (dict(norm_bound=-1.0), ValueError, "norm_bound"),
        (dict(dtype=np.int64), TypeError, "dtype"),
        (dict(rng="seed"), TypeError, "rng"),
    ],
)
def test_constructor_errors(kw, exc, match):
    opts = dict(N=10, sketch_size=4, n_sketches=12, per_query=5, dp_epsilon=1.0, max_queries=3,
                rng=0)
    opts.update(kw)
    with pytest.raises(exc, match=match):
        RobustSetQuery(opts.pop("N"), **opts)


def test_query_and_refresh_errors():
    P = _projector()
    rq = _pool(P)
    h = np.ones(N)
    with pytest.raises(ValueError, match="h: expected shape"):
        rq.query(np.ones(N + 1))
    with pytest.raises(ValueError, match="h"):
        rq.query(np.ones((N, 1)))
    bad = h.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rq.query(bad)
    with pytest.raises(ValueError, match="coords"):
        rq.query(h, np.array([0, N]))
    with pytest.raises(ValueError, match="coords"):
        rq.query(h, np.array([-1]))
    with pytest.raises(ValueError, match="coords"):
        rq.query(h, np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="coords"):
        rq.query(h, np.array([], dtype=int))
    with pytest.raises(TypeError, match="coords"):
        rq.query(h, np.array([0.5]))
    with pytest.raises(TypeError, match="apply_P"):
        rq.refresh(P)
    with pytest.raises(ValueError, match="apply_P"):
        rq.refresh(lambda X: X[:, :3])
    assert rq.n_queries == 0  # failed queries are not counted
    with pytest.raises(ValueError, match="constants"):
        robust_parameters(0.5, 0.1, 3, constants="paper")
    with pytest.raises(ValueError, match="delta"):
        robust_parameters(0.5, 1.0, 3)
    with pytest.raises(ValueError, match="eps"):
        robust_parameters(0.0, 0.1, 3)


# ----------------------------------------------------------------------------- engines
# (the xp fixture: NumPy here, CuPy when a device is present; pool, products and answers stay
# on the device and in their dtype)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_engine_pool_answers_within_bound(xp, dtype):
    n = 200
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((n, 180)))
    P64 = Q @ Q.T
    P = xp.asarray(P64.astype(dtype))
    rq = RobustSetQuery(n, sketch_size=128, n_sketches=15, per_query=9, dp_epsilon=20.0,
                        max_queries=2, resolution=0.01, xp=xp, dtype=dtype, rng=0)
    rq.refresh(lambda X: P @ X)
    assert isinstance(rq._S, xp.ndarray) and rq._S.dtype == dtype
    np.testing.assert_allclose(to_host(rq._S), to_host(rq._R @ P), rtol=1e-4, atol=1e-4)
    # queries alternate h = e_j (j = argmax P_jj: (Ph)_j ≈ 0.95‖Ph‖) and a random h. b = 128:
    # one estimate's error exceeds ε‖g‖ (ε = √(8/b) = 0.25, 2 sd) with probability ≤ 0.046,
    # the median of 9 only if 5 of 9 do (≤ 2e-5). At e_j a zero answer (0.95‖g‖) and a ×1.5
    # one (0.47‖g‖) are above the bound 0.25‖g‖ + (γ/2)‖h‖
    j = int(np.argmax(np.diag(P64)))
    hs = [np.eye(n)[j], np.random.default_rng(2).standard_normal(n), np.eye(n)[j]]
    for t, hh in enumerate(hs):  # the third query redraws and refreshes lazily
        h = xp.asarray(hh.astype(dtype))
        g = to_host(P @ h).astype(np.float64)
        out = rq.query(h)
        assert isinstance(out, xp.ndarray) and out.dtype == dtype
        bound = 0.25 * np.linalg.norm(g) + 0.005 * np.linalg.norm(hh) + 1e-4
        if t != 1:
            assert 0.5 * abs(g[j]) > 1.5 * bound
        assert np.max(np.abs(to_host(out) - g)) <= bound
    assert rq.n_redraws == 1 and rq.n_refreshes == 2
    out = rq.query(h, xp.asarray([0, 5]))
    assert out.shape == (2,)


def test_engine_private_median_large_epsilon_is_median(xp):
    X = np.random.default_rng(0).standard_normal((7, 100))
    gen = device_rng(0, xp)
    out = _private_median(xp, xp.asarray(X), 0.01, 1000, 1e4, gen)
    np.testing.assert_allclose(to_host(out), np.median(np.rint(X / 0.01) * 0.01, axis=0))


def test_device_generator_follows_the_host_rng(xp):
    # NumPy: the pool draws from the host generator itself; CuPy: from a device generator
    # seeded by one draw of it, so the same int rng gives the same pool
    a = RobustSetQuery(30, sketch_size=4, n_sketches=3, per_query=1, dp_epsilon=1.0,
                       max_queries=2, xp=xp, rng=5)
    b = RobustSetQuery(30, sketch_size=4, n_sketches=3, per_query=1, dp_epsilon=1.0,
                       max_queries=2, xp=xp, rng=5)
    np.testing.assert_array_equal(to_host(a._R), to_host(b._R))
    if xp is np:
        ref = np.random.default_rng(5).standard_normal((3, 4, 30)) * (1.0 / 2.0)
        np.testing.assert_array_equal(a._R, ref)
