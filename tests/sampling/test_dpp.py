"""Exactness, robustness and API tests of projkit.sampling.dpp.

The exactness tests draw >= 1e5 samples on ground sets of N <= 10 and compare the subset
frequencies with the enumerated law (det K_S, det L_S / det(L + I), k-DPP) by a χ² test at a
fixed seed; we require p > 1e-3 (a false alarm once in a thousand seeds, and a wrong law with
1e5 samples gives p ~ 0).
"""

from __future__ import annotations

import numpy as np
import pytest

from projkit import sample_dpp, sample_projection_dpp
from projkit.sampling import _dpp_numba, _dpp_xp
from projkit.sampling.dpp import _RTOL, _log_esp, _projection_dpp
from tests.conftest import to_host
from tests.sampling._exact import chi2_pvalue, det_sub, subsets

P_MIN = 1e-3
N_EXACT = 100_000


def _orth(N, r, seed=0):
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((N, r)))[0]


def _proj_law(V):
    N, r = V.shape
    K = V @ V.T
    return {S: det_sub(K, S) for S in subsets(N, [r])}


def _kernel(N, seed, eigs):
    U = _orth(N, N, seed)
    return U @ np.diag(eigs) @ U.T


# --------------------------------------------------------------------------------------------
# projection DPP


@pytest.mark.parametrize("N,r", [(8, 3), (6, 5)])  # (6, 5) runs the full-scan chain
def test_projection_dpp_law(N, r):
    V = _orth(N, r, seed=N + r)
    S = sample_projection_dpp(V, n_samples=N_EXACT, rng=11)
    assert S.shape == (N_EXACT, r)
    assert chi2_pvalue(S, _proj_law(V)) > P_MIN


def test_projection_dpp_law_xp_engine():
    # the batched array-namespace engine (CuPy's) run on NumPy
    V = _orth(7, 3, seed=5)
    S = _projection_dpp(V, N_EXACT, 12345, np)
    assert chi2_pvalue(S, _proj_law(V)) > P_MIN


def test_projection_dpp_law_forced_fallback():
    # max_tries=0: every step uses the exact full scan instead of rejection
    V = _orth(8, 3, seed=2)
    out, status = _dpp_numba.projection_dpp_batch(V, np.uint64(3), 50_000, _RTOL, 0)
    assert np.all(status == 3)  # one fallback per step
    assert chi2_pvalue(out, _proj_law(V)) > P_MIN


def test_projection_dpp_xp_forced_fallback():
    # max_rounds=1: the array-namespace chain falls back to its exact full scan; its samples
    # follow the projection-DPP law (χ², as for the Numba fallback above)
    V = _orth(8, 3, seed=2)
    n = 30_000
    rh = _dpp_xp.row_hashes(np, 7, n)
    cols = np.broadcast_to(np.arange(3), (n, 3))
    out = _dpp_xp.chain_batch(np, V, cols, np.full(n, 3), rh, rtol=_RTOL, max_rounds=1)
    assert all(len(set(row)) == 3 for row in out)
    assert chi2_pvalue(out, _proj_law(V)) > P_MIN


@pytest.mark.parametrize("N,r", [(2000, 40), (300, 150), (50, 50), (10_000, 1)])
def test_projection_dpp_distinct_items_in_support(N, r):
    # V is zero outside a support of max(r, N/2) rows: a projection DPP never draws an item of
    # zero leverage, so a sampler that ignores V (uniform subsets) or returns a constant
    # (all zeros: item 0 is outside the support) fails, and every draw has r distinct items
    support = np.random.default_rng(N).permutation(N)[:max(r, N // 2)]
    support = support[support != 0] if len(support) > r else support
    V = np.zeros((N, r))
    V[support] = _orth(len(support), r, seed=1)
    S = sample_projection_dpp(V, n_samples=20, rng=3)
    assert S.shape == (20, r)
    assert all(len(np.unique(row)) == r for row in S)
    assert np.all(np.isin(S, support))


def test_projection_dpp_marginals_N2000():
    # inclusion frequency of item j must be K_jj = ||V_j||^2. With S samples the count is
    # Binomial(S, K_jj): 5 standard deviations (+1/S) per item, over 2000 items, fails with
    # probability < 2000 * 6e-7 ~ 1e-3 for a correct sampler (fixed seed, so deterministic).
    N, r, S = 2000, 25, 4000
    rng = np.random.default_rng(0)
    # coherent basis: a few heavy rows make the marginals uneven
    A = rng.standard_normal((N, r)) * np.where(rng.random(N) < 0.05, 10.0, 1.0)[:, None]
    V = np.linalg.qr(A)[0]
    samples = sample_projection_dpp(V, n_samples=S, rng=1)
    freq = np.bincount(samples.ravel(), minlength=N) / S
    p = np.sum(V * V, axis=1)
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / S) + 1 / S)


def test_projection_dpp_seed_and_batch_prefix():
    V = _orth(500, 20)
    a = sample_projection_dpp(V, n_samples=5, rng=42)
    b = sample_projection_dpp(V, n_samples=9, rng=42)
    np.testing.assert_array_equal(a, b[:5])  # counter-based: sample s depends on (key, s) only
    c = sample_projection_dpp(V, n_samples=5, rng=43)
    assert not np.array_equal(a, c)
    g = sample_projection_dpp(V, n_samples=2, rng=np.random.default_rng(0))
    assert g.shape == (2, 20)


def test_projection_dpp_orthonormalize_and_float32():
    A = np.random.default_rng(0).standard_normal((40, 4)) * [1, 10, 100, 1e3]
    with pytest.raises(ValueError, match="orthonormal"):
        sample_projection_dpp(A)
    S = sample_projection_dpp(A, orthonormalize=True, n_samples=3, rng=0)
    assert S.shape == (3, 4) and S.dtype == np.int64
    V32 = _orth(40, 4).astype(np.float32)
    assert sample_projection_dpp(V32, rng=0).shape == (1, 4)
    # nearly orthonormal (1e-9 off): re-orthonormalized, still r distinct items
    Vp = _orth(40, 4) + 1e-9 * np.random.default_rng(1).standard_normal((40, 4))
    assert len(set(sample_projection_dpp(Vp, rng=0)[0])) == 4


def test_projection_dpp_errors():
    with pytest.raises(ValueError, match="columns"):
        sample_projection_dpp(np.eye(3, 4))
    with pytest.raises(np.linalg.LinAlgError):
        sample_projection_dpp(np.ones((5, 2)), orthonormalize=True)
    with pytest.raises(ValueError, match="n_samples"):
        sample_projection_dpp(_orth(5, 2), n_samples=0)
    with pytest.raises(TypeError, match="rng"):
        sample_projection_dpp(_orth(5, 2), rng="x")
    with pytest.raises(ValueError, match="NaN"):
        sample_projection_dpp(np.full((5, 2), np.nan))
    V = _orth(6, 2)
    V0 = V.copy()
    sample_projection_dpp(V, orthonormalize=True, rng=0)
    np.testing.assert_array_equal(V, V0)  # input untouched


# --------------------------------------------------------------------------------------------
# general DPPs


def test_dpp_from_K_law_spectral_and_cholesky():
    N = 6
    K = _kernel(N, 3, [1.0, 0.9, 0.6, 0.3, 0.1, 0.0])
    # P(Y = S) = |det(K - I_{S^c})|
    law = {S: abs(np.linalg.det(K - np.diag([0.0 if i in S else 1.0 for i in range(N)])))
           for S in subsets(N)}
    spec = sample_dpp(K=K, n_samples=N_EXACT, method="spectral", rng=5)
    assert chi2_pvalue(spec, law) > P_MIN
    chol = sample_dpp(K=K, n_samples=30_000, method="cholesky", rng=6)
    assert chi2_pvalue(chol, law) > P_MIN


def test_dpp_from_L_law():
    N = 6
    X = np.random.default_rng(4).standard_normal((N, 4))
    L = X @ X.T
    Z = np.linalg.det(L + np.eye(N))
    law = {S: det_sub(L, S) / Z for S in subsets(N) if len(S) <= 4}
    assert chi2_pvalue(sample_dpp(L=L, n_samples=N_EXACT, method="spectral", rng=7), law) > P_MIN
    assert chi2_pvalue(sample_dpp(L=L, n_samples=20_000, method="cholesky", rng=8),
                       law) > P_MIN


def test_float32_laws():
    # float32 kernels follow the law of the float32 matrix itself (enumerated in float64 from
    # its float32 entries): projection DPP, L-ensemble (spectral) and k-DPP, χ² at p > 1e-3
    V32 = _orth(7, 3, seed=8).astype(np.float32)
    V64 = np.linalg.qr(V32.astype(np.float64))[0]  # what the sampler orthonormalizes to
    S = sample_projection_dpp(V32, n_samples=N_EXACT, rng=13)
    assert chi2_pvalue(S, _proj_law(V64)) > P_MIN
    X = np.random.default_rng(14).standard_normal((6, 4))
    L32 = (X @ X.T).astype(np.float32)
    L64 = L32.astype(np.float64)
    Z = np.linalg.det(L64 + np.eye(6))
    law = {T: det_sub(L64, T) / Z for T in subsets(6) if len(T) <= 4}
    assert chi2_pvalue(sample_dpp(L=L32, n_samples=N_EXACT, method="spectral", rng=15),
                       law) > P_MIN
    lawk = {T: det_sub(L64, T) for T in subsets(6, [2])}
    Zk = sum(lawk.values())
    Sk = sample_dpp(L=L32, k=2, n_samples=N_EXACT, rng=16)
    assert chi2_pvalue(Sk, {T: p / Zk for T, p in lawk.items()}) > P_MIN


def test_dpp_xp_engine_law():
    N = 6
    K = _kernel(N, 9, [0.95, 0.7, 0.5, 0.5, 0.2, 0.05])
    law = {S: abs(np.linalg.det(K - np.diag([0.0 if i in S else 1.0 for i in range(N)])))
           for S in subsets(N)}
    mu, U = np.linalg.eigh(K)
    rh = _dpp_xp.row_hashes(np, 21, 50_000)
    samples = _dpp_xp.chain_masked(np, U, _dpp_xp.select_bernoulli(np, mu, rh), rh, _RTOL)
    assert chi2_pvalue(samples, law) > P_MIN


@pytest.mark.parametrize("engine", ["numba", "xp"])
def test_k_dpp_law(engine):
    N, k = 8, 3
    X = np.random.default_rng(6).standard_normal((N, N))
    L = X @ np.diag(np.logspace(-2, 1, N)) @ X.T
    law = {S: det_sub(L, S) for S in subsets(N, [k])}
    Z = sum(law.values())
    law = {S: p / Z for S, p in law.items()}
    if engine == "numba":
        samples = sample_dpp(L=L, k=k, n_samples=N_EXACT, rng=9)
        assert samples.shape == (N_EXACT, k)
    else:
        lam, U = np.linalg.eigh(L)
        log_lam = np.log(lam)
        rh = _dpp_xp.row_hashes(np, 4, 40_000)
        mask = _dpp_xp.select_k(np, log_lam, _log_esp(log_lam, k), k, rh)
        assert np.all(mask.sum(axis=1) == k)
        samples = _dpp_xp.chain_masked(np, U, mask, rh, _RTOL)
    assert chi2_pvalue(samples, law) > P_MIN


def test_dpp_marginals_N2000():
    # inclusion frequencies against diag(K), same 5-sigma binomial bound as above
    N, M, S = 2000, 60, 3000
    rng = np.random.default_rng(2)
    U = np.linalg.qr(rng.standard_normal((N, M)))[0]
    mu = rng.uniform(0.05, 1.0, M)
    mu[:5] = 1.0
    samples = sample_dpp(eigen=(mu, U), eigen_of="K", n_samples=S, rng=3)
    freq = np.bincount(np.concatenate(samples), minlength=N) / S
    p = np.sum(U * U * mu, axis=1)
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / S) + 1 / S)
    sizes = np.array([len(s) for s in samples])
    # E|Y| = tr K, Var|Y| = sum mu(1-mu): mean within 5 standard errors
    assert abs(sizes.mean() - mu.sum()) <= 5 * np.sqrt(np.sum(mu * (1 - mu)) / S)


def test_k_dpp_ill_conditioned():
    # eigenvalues of L over 26 orders of magnitude, with tiny negative rounding: no failure,
    # k distinct items, and the sample concentrates on the dominant eigenvectors' support
    N, k = 200, 10
    U = _orth(N, N, 8)
    lam = np.logspace(-16, 10, N)
    lam[:3] = [-1e-12, 0.0, 1e-300]
    L = U @ np.diag(lam) @ U.T
    S = sample_dpp(eigen=(lam, U), k=k, n_samples=200, rng=0)
    assert all(len(set(row)) == k for row in S)
    S2 = sample_dpp(L=L, k=k, n_samples=50, rng=0)
    assert all(len(set(row)) == k for row in S2)
    # K with eigenvalues a hair outside [0, 1]: clipped
    K = _kernel(30, 1, np.r_[1 + 1e-12, np.linspace(0, 1, 28), -1e-13])
    assert len(sample_dpp(K=K, n_samples=5, method="spectral", rng=0)) == 5


def test_dpp_seed_reproducible():
    X = np.random.default_rng(0).standard_normal((50, 8))
    a = sample_dpp(L=X @ X.T, k=4, n_samples=6, rng=3)
    b = sample_dpp(L=X @ X.T, k=4, n_samples=6, rng=3)
    np.testing.assert_array_equal(a, b)
    c = sample_dpp(L=X @ X.T, n_samples=3, rng=3)
    d = sample_dpp(L=(X @ X.T).astype(np.float32), n_samples=3, rng=3)
    assert [len(s) for s in c] == [len(s) for s in d]


def test_dpp_errors():
    K = _kernel(5, 0, [1.0, 0.5, 0.5, 0.2, 0.0])
    with pytest.raises(ValueError, match="exactly one"):
        sample_dpp()
    with pytest.raises(ValueError, match="exactly one"):
        sample_dpp(K=K, L=K)
    # K and L are keyword-only: a positional kernel is ambiguous
    with pytest.raises(TypeError, match="positional"):
        sample_dpp(K)
    # the spectrum is checked for every method, the default "auto" (Poulson for one draw)
    # included: K eigenvalues in [0, 1], L positive semi-definite, within 1e-8·max(1, |λ|)
    for method in ("auto", "spectral", "cholesky"):
        with pytest.raises(ValueError, match="<= 1"):
            sample_dpp(K=2 * np.eye(5), method=method)
        with pytest.raises(ValueError, match=">= 0"):
            sample_dpp(K=-K, method=method)
        with pytest.raises(ValueError, match="positive semi-definite"):
            sample_dpp(L=np.diag([1.0, -0.5, 2.0]), method=method)
        with pytest.raises(ValueError, match="positive semi-definite"):
            sample_dpp(L=-2 * K, method=method)
        # within the tolerance: accepted (and clipped)
        sample_dpp(K=np.diag([1 + 1e-10, 0.5, -1e-10]), method=method, rng=0)
        sample_dpp(L=np.diag([2.0, -1e-10, 0.0]), method=method, rng=0)
    with pytest.raises(ValueError, match="symmetric"):
        sample_dpp(L=np.triu(np.ones((4, 4))))
    with pytest.raises(ValueError, match="square"):
        sample_dpp(L=np.ones((4, 3)))
    with pytest.raises(ValueError, match="rank"):
        sample_dpp(L=K, k=5)
    with pytest.raises(ValueError, match="k"):
        sample_dpp(L=K, k=0)
    with pytest.raises(ValueError, match="eigenvalue 1"):
        sample_dpp(K=K, k=2)
    with pytest.raises(ValueError, match="method"):
        sample_dpp(K=K, method="qr")
    with pytest.raises(ValueError, match="cholesky"):
        sample_dpp(L=K, k=2, method="cholesky")
    with pytest.raises(TypeError, match="eigen"):
        sample_dpp(eigen=np.eye(3))
    with pytest.raises(ValueError, match="eigenvalues"):
        sample_dpp(eigen=(np.ones(2), np.eye(3)))


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    V = _orth(30, 4)
    S = sample_projection_dpp(torch.from_numpy(V), n_samples=3, rng=0)
    assert isinstance(S, torch.Tensor)
    np.testing.assert_array_equal(S.numpy(), sample_projection_dpp(V, n_samples=3, rng=0))
    L = V @ V.T + 0.1 * np.eye(30)
    Sk = sample_dpp(L=torch.from_numpy(L), k=3, n_samples=2, rng=0)
    assert isinstance(Sk, torch.Tensor) and tuple(Sk.shape) == (2, 3)


# --------------------------------------------------------------------------------------------
# every engine (CuPy through the xp fixture): device in, device out, exact laws


def test_projection_dpp_law_on_device(xp):
    V = _orth(8, 3, 4)
    S = sample_projection_dpp(xp.asarray(V), n_samples=100_000, rng=3)
    assert isinstance(S, xp.ndarray) and S.shape == (100_000, 3)
    K = V @ V.T
    law = {T: det_sub(K, T) for T in subsets(8, [3])}
    assert chi2_pvalue(to_host(S), law) > P_MIN


def test_k_dpp_and_dpp_law_on_device(xp):
    N, k = 7, 3
    X = np.random.default_rng(5).standard_normal((N, N))
    L = X @ np.diag(np.logspace(-1, 1, N)) @ X.T
    law = {T: det_sub(L, T) for T in subsets(N, [k])}
    Z = sum(law.values())
    S = sample_dpp(L=xp.asarray(L), k=k, n_samples=50_000, rng=1)
    assert isinstance(S, xp.ndarray)
    assert chi2_pvalue(to_host(S), {T: p / Z for T, p in law.items()}) > P_MIN
    Zl = np.linalg.det(L + np.eye(N))
    lawl = {T: det_sub(L, T) / Zl for T in subsets(N)}
    samples = sample_dpp(L=xp.asarray(L), n_samples=50_000, rng=2)
    assert chi2_pvalue([to_host(s) for s in samples], lawl) > P_MIN


@pytest.mark.gpu
def test_projection_dpp_cupy_target_size():
    # issue #7 GPU target: 1000 samples at N = 1e5, r = 100, all with r distinct items
    cp = pytest.importorskip("cupy")
    V = cp.linalg.qr(cp.random.default_rng(0).standard_normal((100_000, 100)))[0]
    S = sample_projection_dpp(V, n_samples=1000, rng=0)
    assert S.shape == (1000, 100)
    Sh = to_host(S)
    assert all(len(np.unique(row)) == 100 for row in Sh)
    assert Sh.min() >= 0 and Sh.max() < 100_000
