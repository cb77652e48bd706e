"""Tests for projkit.rsvd and projkit.range_finder."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

import projkit
from projkit._backend.linalg import orth, sparse_module
from projkit.factorizations.rsvd import _normalize, _sign_flip
from tests._helpers import assert_never_densified
from tests.conftest import to_host, tol


def decaying(m, n, decay=0.7, seed=0, dtype=np.float64):
    """A matrix with singular values decay**i (known spectrum)."""
    rng = np.random.default_rng(seed)
    r = min(m, n)
    U, _ = np.linalg.qr(rng.standard_normal((m, r)))
    V, _ = np.linalg.qr(rng.standard_normal((n, r)))
    s = decay ** np.arange(r)
    return ((U * s) @ V.T).astype(dtype), s


def geometric_then_flat(m, n, k, decay=0.7, seed=2):
    """Singular values decay**j for j < k, then a flat tail at decay**k (known spectrum).

    The flat tail is the hard case for a range finder without power iterations (its energy
    spreads over min(m, n) − k directions), and the geometric head makes a half-rank answer
    visibly worse than the optimum: σ_{k/2+1} / σ_{k+1} = decay^{−k/2}.
    """
    rng = np.random.default_rng(seed)
    r = min(m, n)
    U, _ = np.linalg.qr(rng.standard_normal((m, r)))
    V, _ = np.linalg.qr(rng.standard_normal((n, r)))
    s = np.r_[decay ** np.arange(k), np.full(r - k, decay**k)]
    return (U * s) @ V.T, s


def hmt_bound(s, k, p, q):
    """Halko–Martinsson–Tropp (2011) Cor. 10.10, the expected range-finder error with q power
    iterations and ℓ = k + p Gaussian test vectors:

    E‖A − QQᵀA‖ ≤ [(1 + √(k/(p−1))) σ_{k+1}^{2q+1}
                  + e√(k+p)/p · (Σ_{j>k} σ_j^{2(2q+1)})^{1/2}]^{1/(2q+1)}

    i.e. Thm 10.6 applied to B = (AAᵀ)^q A, whose singular values are σ_j^{2q+1}, and
    ‖(I − QQᵀ)A‖ ≤ ‖(I − QQᵀ)B‖^{1/(2q+1)} (Prop. 8.6).
    """
    t = 2 * q + 1
    tail = np.sqrt(np.sum(s[k:] ** (2 * t)))
    beta_B = (1 + math.sqrt(k / (p - 1))) * s[k] ** t + math.e * math.sqrt(k + p) / p * tail
    return beta_B ** (1.0 / t), beta_B


# ------------------------------------------------------------------------------------------ basics


def test_exact_low_rank_recovery(dtype):
    rng = np.random.default_rng(1)
    A = (rng.standard_normal((80, 6)) @ rng.standard_normal((6, 50))).astype(dtype)
    U, s, Vt = projkit.rsvd(A, 6, rng=0)
    assert U.dtype == dtype and s.dtype == dtype and Vt.dtype == dtype
    assert U.shape == (80, 6) and s.shape == (6,) and Vt.shape == (6, 50)
    ref = np.linalg.svd(A.astype(np.float64), compute_uv=False)[:6]
    np.testing.assert_allclose(s, ref, rtol=50 * tol(dtype))
    np.testing.assert_allclose((U * s) @ Vt, A, atol=50 * tol(dtype) * np.abs(A).max())
    # orthonormal factors
    np.testing.assert_allclose(U.T @ U, np.eye(6), atol=10 * tol(dtype))
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(6), atol=10 * tol(dtype))


@pytest.mark.parametrize("shape", [(400, 300), (300, 400)])
@pytest.mark.parametrize("q", [2, 3])
def test_hmt_bound_with_power_iterations(shape, q):
    """rsvd meets the HMT power-scheme bound, measured against the exact optimum σ_{k+1}.

    Tolerance. Let B = (AAᵀ)^q A and β_B the Thm 10.6 bound on E‖(I − QQᵀ)B‖. For one
    fixed-seed draw, Markov's inequality gives P(‖(I − QQᵀ)B‖ > c β_B) ≤ 1/c, and since
    ‖(I − QQᵀ)A‖ ≤ ‖(I − QQᵀ)B‖^{1/(2q+1)} (HMT Prop. 8.6),
        P(‖(I − QQᵀ)A‖ > (c β_B)^{1/(2q+1)}) ≤ 1/c;     c = 20 (5 % per draw).
    rsvd returns Â_k = Q [QᵀA]_k, and A − Â_k = (I − QQᵀ)A + Q(B₀ − [B₀]_k) (B₀ = QᵀA) has
    two pieces with orthogonal column spaces, so (σ_{k+1}(B₀) ≤ σ_{k+1}(A))
        ‖A − Â_k‖² ≤ σ_{k+1}² + ‖(I − QQᵀ)A‖².
    Hence tol = √(σ_{k+1}² + (c β_B)^{2/(2q+1)}): 3.55 σ_{k+1} at q = 2 and 2.60 σ_{k+1} at
    q = 3. At q = 0 the expected bound alone is 23 σ_{k+1} here (at q = 1, 7.8 σ_{k+1} with
    c), above a half-rank answer's error: the reason this test starts at q = 2. Measured
    over 30 seeds: 1.03–1.36 σ_{k+1}.

    What a wrong answer scores (σ_{k+1} = 0.7¹⁰): rank k/2 → σ_6 = 5.95 σ_{k+1}; no power
    iterations → 4.6–9.4 σ_{k+1} (30 seeds); U (1.5 s) Vᵀ → ≥ σ_1/2 = 17.7 σ_{k+1}; zeros →
    σ_1 = 35 σ_{k+1}. All above tol.
    """
    m, n = shape
    k, p = 10, 10
    A, s = geometric_then_flat(m, n, k, decay=0.7, seed=2)
    c = 20.0
    _, beta_B = hmt_bound(s, k, p, q)
    tol_ = math.sqrt(s[k] ** 2 + (c * beta_B) ** (2.0 / (2 * q + 1)))
    # the bound is informative: below the optimum of rank k/2 and of a ×1.5 answer
    assert tol_ < min(s[k // 2], 0.5 * s[0])
    for seed in range(3):
        res = projkit.rsvd(A, k, oversample=p, n_iter=q, rng=seed)
        assert res.U.shape == (m, k) and res.s.shape == (k,) and res.Vt.shape == (k, n)
        err = np.linalg.norm(A - res.to_dense(), 2)
        assert err <= tol_, (seed, err / s[k], tol_ / s[k])
        assert err >= s[k] * (1 - 1e-8)  # never better than optimal (Eckart–Young)


def test_power_iterations_improve_accuracy():
    A, s = decaying(200, 150, decay=0.95, seed=3)
    e0 = np.linalg.norm(A - projkit.rsvd(A, 10, n_iter=0, rng=0).to_dense(), 2)
    e4 = np.linalg.norm(A - projkit.rsvd(A, 10, n_iter=4, rng=0).to_dense(), 2)
    assert e4 < e0
    assert e4 <= 1.05 * s[10]  # q = 4 on a 0.95 decay reaches the optimum to ~5 %


def test_matches_numpy_svd_values(dtype):
    A, s = decaying(100, 90, decay=0.6, seed=4, dtype=dtype)
    res = projkit.rsvd(A, 8, rng=0)
    np.testing.assert_allclose(res.s, s[:8], rtol=100 * tol(dtype))


def test_sign_normalization_is_deterministic():
    A, _ = decaying(60, 40, seed=5)
    r1 = projkit.rsvd(A, 5, rng=1)
    r2 = projkit.rsvd(A, 5, rng=2)
    np.testing.assert_allclose(r1.U, r2.U, atol=1e-8)
    np.testing.assert_allclose(r1.Vt, r2.Vt, atol=1e-8)
    idx = np.argmax(np.abs(r1.U), axis=0)
    assert np.all(r1.U[idx, np.arange(5)] > 0)


def test_same_seed_same_result_and_generator_accepted():
    A, _ = decaying(50, 30, seed=6)
    r1 = projkit.rsvd(A, 4, rng=7)
    r2 = projkit.rsvd(A, 4, rng=7)
    np.testing.assert_array_equal(r1.U, r2.U)
    projkit.rsvd(A, 4, rng=np.random.default_rng(0))


def test_auto_transpose_wide_and_tall_agree():
    A, s = decaying(40, 90, seed=7)
    wide = projkit.rsvd(A, 5, rng=0)
    tall = projkit.rsvd(A.T, 5, rng=0)
    assert wide.U.shape == (40, 5) and wide.Vt.shape == (5, 90)
    np.testing.assert_allclose(wide.s, s[:5], rtol=1e-8)
    np.testing.assert_allclose(tall.s, s[:5], rtol=1e-8)
    assert wide.U.flags.c_contiguous and wide.Vt.flags.c_contiguous


def test_rank_equal_min_dim():
    A, s = decaying(30, 12, seed=8)
    res = projkit.rsvd(A, 12, rng=0)
    np.testing.assert_allclose(res.s, s, rtol=1e-8)


def test_input_not_modified():
    A, _ = decaying(40, 30, seed=9)
    A0 = A.copy()
    projkit.rsvd(A, 5, rng=0)
    np.testing.assert_array_equal(A, A0)


def test_integer_input_promotes_to_float64():
    A = np.arange(20).reshape(5, 4)
    res = projkit.rsvd(A, 2, rng=0)
    assert res.U.dtype == np.float64
    np.testing.assert_allclose(res.to_dense(), A, atol=1e-10)


def test_complex_input():
    rng = np.random.default_rng(10)
    A = (rng.standard_normal((40, 4)) + 1j * rng.standard_normal((40, 4))) @ rng.standard_normal(
        (4, 30)
    )
    for M in (A, A.T):
        res = projkit.rsvd(M, 4, rng=0)
        assert res.U.dtype == np.complex128 and res.s.dtype == np.float64
        np.testing.assert_allclose(res.to_dense(), M, atol=1e-10)


# ------------------------------------------------------------------------------ sparse / operators


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_input(dtype, fmt):
    S = sp.random(300, 120, density=0.05, random_state=0, format=fmt, dtype=dtype)
    res = projkit.rsvd(S, 5, n_iter=6, rng=0)
    assert isinstance(res.U, np.ndarray) and res.U.dtype == dtype
    ref = np.linalg.svd(S.toarray().astype(np.float64), compute_uv=False)[:5]
    # random sparse matrices have a flat spectrum; 6 power iterations get within 2 %
    np.testing.assert_allclose(res.s, ref, rtol=2e-2)


def test_sparse_array_and_wide_sparse():
    S = sp.random_array((60, 400), density=0.05, random_state=1)
    res = projkit.rsvd(S, 3, n_iter=8, rng=0)
    ref = np.linalg.svd(S.toarray(), compute_uv=False)[:3]
    np.testing.assert_allclose(res.s, ref, rtol=1e-2)


def test_numba_sparse_kernel_matches_scipy():
    from projkit.factorizations._rsvd_numba import csr_matmat

    S = sp.random(50, 30, density=0.2, random_state=2, format="csr")
    X = np.random.default_rng(0).standard_normal((30, 7))
    np.testing.assert_allclose(csr_matmat(S, X), S @ X, rtol=1e-12)
    Xf = np.asfortranarray(X)
    np.testing.assert_allclose(csr_matmat(S, Xf), S @ X, rtol=1e-12)


def test_linear_operator_input():
    A, s = decaying(100, 60, seed=11)
    res = projkit.rsvd(aslinearoperator(A), 6, rng=0)
    np.testing.assert_allclose(res.s, s[:6], rtol=1e-8)
    res_t = projkit.rsvd(aslinearoperator(A.T), 6, rng=0)
    np.testing.assert_allclose(res_t.s, s[:6], rtol=1e-8)


def test_linear_operator_without_adjoint_is_refused_before_use():
    """LinearOperator(shape, matvec=f) has no Aᴴ: a TypeError naming A, before any product."""
    A, s = decaying(40, 30, seed=17)
    calls = []

    def matvec(x):
        calls.append(1)
        return A @ x

    op = LinearOperator(A.shape, matvec=matvec, dtype=A.dtype)
    msg = r"A: a LinearOperator needs rmatvec or rmatmat \(the adjoint\) for rsvd"
    with pytest.raises(TypeError, match=msg):
        projkit.rsvd(op, 3, rng=0)
    with pytest.raises(TypeError, match=msg):
        projkit.rsvd(op, tol=0.1, rng=0)
    with pytest.raises(TypeError, match=msg):  # SciPy's composites carry the missing adjoint
        projkit.rsvd(2 * op + op, 3, rng=0)
    wide = LinearOperator(A.T.shape, matvec=lambda x: A.T @ x, dtype=A.dtype)
    with pytest.raises(TypeError, match=msg):
        projkit.rsvd(wide, 3, rng=0)
    with pytest.raises(TypeError, match="range_finder with n_iter > 0 or tol"):
        projkit.range_finder(op, 3, rng=0)
    with pytest.raises(TypeError, match="range_finder with n_iter > 0 or tol"):
        projkit.range_finder(op, tol=0.5, rng=0)
    assert calls == []  # refused from the operator's class, not by applying it

    class NoAdjoint(LinearOperator):  # a subclass with SciPy's (refusing) default adjoint
        def __init__(self):
            super().__init__(A.dtype, A.shape)

        def _matvec(self, x):
            return A @ x

    with pytest.raises(TypeError, match=msg):
        projkit.rsvd(NoAdjoint(), 3, rng=0)

    class Refuses(NoAdjoint):  # overrides _rmatvec, but refuses when called
        def _rmatvec(self, x):
            raise NotImplementedError("no adjoint here")

    with pytest.raises(TypeError, match=r"needs rmatvec or rmatmat \(the adjoint\)"):
        projkit.rsvd(Refuses(), 3, rng=0)

    # without power iterations the range finder needs only A @ X, and works
    Q = projkit.range_finder(op, 8, n_iter=0, rng=0)
    np.testing.assert_allclose(Q.T @ Q, np.eye(8), atol=1e-12)
    # either adjoint callable is enough
    for kw in ({"rmatvec": lambda y: A.T @ y}, {"rmatmat": lambda Y: A.T @ Y}):
        ok = LinearOperator(A.shape, matvec=lambda x: A @ x, dtype=A.dtype, **kw)
        np.testing.assert_allclose(projkit.rsvd(ok, 4, rng=0).s, s[:4], rtol=1e-8)


# ---------------------------------------------------------------- sparse input is never densified

def big_sparse(fmt="csr", seed=0, dtype=np.float64):
    """3000 × 2000 with 3000 nonzeros: the dense array would take 48 MB, the data 36 kB."""
    return sp.random(3000, 2000, density=5e-4, random_state=seed, format=fmt, dtype=dtype)


def test_guard_catches_densification(monkeypatch):
    """The guard itself: a densifying function fails it, both ways it checks."""
    S = big_sparse()
    with pytest.raises(AssertionError, match="would be densified"):
        assert_never_densified(monkeypatch, lambda: S.toarray().sum(), S, thin=50)
    monkeypatch.undo()
    with pytest.raises(AssertionError, match="would be densified"):
        assert_never_densified(monkeypatch, lambda: S.T.todense(), S, thin=50)
    monkeypatch.undo()
    with pytest.raises(AssertionError):  # no toarray: the allocation peak sees it
        assert_never_densified(monkeypatch, lambda: (S @ np.eye(2000)).sum(), S, thin=50)
    monkeypatch.undo()
    assert_never_densified(monkeypatch, lambda: S[:, :5].toarray(), S, thin=50)  # thin: fine


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "csr_array"])
@pytest.mark.parametrize("sketch", ["gaussian", "sparse_sign", "srht"])
def test_rsvd_never_densifies_sparse_input(monkeypatch, fmt, sketch):
    S = sp.csr_array(big_sparse()) if fmt == "csr_array" else big_sparse(fmt)
    res = assert_never_densified(
        monkeypatch, lambda: projkit.rsvd(S, 5, n_iter=2, sketch=sketch, rng=0), S, thin=50)
    assert res.U.shape == (3000, 5)
    for M in (S, S.T):  # wide input works on Aᴴ (a CSC view)
        assert_never_densified(monkeypatch, lambda M=M: projkit.rsvd(M, 5, rng=0), S, thin=50)


def test_range_finder_and_adaptive_rsvd_never_densify_sparse_input(monkeypatch):
    S = big_sparse()
    Q = assert_never_densified(monkeypatch, lambda: projkit.range_finder(S, 8, rng=0), S,
                               thin=50)
    assert Q.shape == (3000, 8)
    assert_never_densified(monkeypatch, lambda: projkit.range_finder(S, 30, tol=0.95, rng=0),
                           S, thin=50)
    assert_never_densified(monkeypatch, lambda: projkit.rsvd(S, 20, tol=0.95, rng=0), S,
                           thin=50)


# ------------------------------------------------------------------------------------ adaptive


@pytest.mark.parametrize("target", [0.1, 0.01])
def test_adaptive_tol_meets_tolerance(target):
    A, s = decaying(150, 100, decay=0.8, seed=12)
    res = projkit.rsvd(A, tol=target, rng=0)
    err = np.linalg.norm(A - res.to_dense()) / np.linalg.norm(A)
    assert err <= target * 1.05
    # and the rank is close to the optimal rank for that tolerance
    tail = np.sqrt(np.cumsum((s**2)[::-1])[::-1]) / np.linalg.norm(s)
    k_opt = int(np.argmax(tail <= target))  # σ_{k+1..} tail ≤ tol for rank k_opt
    assert k_opt <= res.rank <= k_opt + 2


def test_adaptive_tol_with_rank_cap_and_operator():
    A, _ = decaying(150, 100, decay=0.8, seed=13)
    assert projkit.rsvd(A, 5, tol=1e-6, rng=0).rank == 5
    res = projkit.rsvd(aslinearoperator(A), tol=0.05, rng=0)
    err = np.linalg.norm(A - res.to_dense()) / np.linalg.norm(A)
    assert err <= 0.08  # ‖A‖_F is estimated from a probe for operators: looser check


def test_range_finder_fixed_and_adaptive(dtype):
    A, s = decaying(90, 70, decay=0.7, seed=14, dtype=dtype)
    Q = projkit.range_finder(A, 12, rng=0)
    assert Q.shape == (90, 12) and Q.dtype == dtype
    np.testing.assert_allclose(Q.T @ Q, np.eye(12), atol=10 * tol(dtype))
    err = np.linalg.norm(A - Q @ (Q.T @ A), 2)
    assert err <= 2 * s[12]
    Qa = projkit.range_finder(A, tol=1e-3, rng=0)
    np.testing.assert_allclose(Qa.T @ Qa, np.eye(Qa.shape[1]), atol=10 * tol(dtype))
    assert np.linalg.norm(A - Qa @ (Qa.T @ A)) <= 1.05e-3 * np.linalg.norm(A)


# ------------------------------------------------------------------------------------- helpers


def test_normalizers_span_the_same_space():
    Y = np.random.default_rng(0).standard_normal((40, 6))
    for Q in (_normalize(np, Y.copy()), orth(np, Y.copy())):
        P = Q @ np.linalg.pinv(Q)
        np.testing.assert_allclose(P @ Y, Y, atol=1e-10)


def test_sign_flip_keeps_product():
    rng = np.random.default_rng(0)
    U, Vt = rng.standard_normal((10, 3)), rng.standard_normal((3, 8))
    U2, Vt2 = _sign_flip(np, U, Vt)
    np.testing.assert_allclose(U2 @ Vt2, U @ Vt)


def test_torch_input_round_trips():
    torch = pytest.importorskip("torch")
    A, s = decaying(30, 20, seed=15)
    res = projkit.rsvd(torch.from_numpy(A), 3, rng=0)
    assert isinstance(res.U, torch.Tensor)
    np.testing.assert_allclose(to_host(res.s), s[:3], rtol=1e-8)


def test_import_does_not_pull_numba_or_cupy():
    code = (
        "import sys, projkit.factorizations.rsvd; "
        "assert 'cupy' not in sys.modules and 'torch' not in sys.modules; "
        "assert 'projkit.factorizations._rsvd_numba' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------ bad input


def test_bad_input():
    A = np.ones((10, 6))
    with pytest.raises(ValueError, match="rank"):
        projkit.rsvd(A, 7)
    with pytest.raises(ValueError, match="rank"):
        projkit.rsvd(A, 0)
    with pytest.raises(TypeError, match="rank"):
        projkit.rsvd(A, 2.5)
    with pytest.raises(TypeError, match="rank, tol"):
        projkit.rsvd(A)
    with pytest.raises(ValueError, match="n_iter"):
        projkit.rsvd(A, 2, n_iter="many")
    with pytest.raises(ValueError, match="n_iter"):
        projkit.rsvd(A, 2, n_iter=-1)
    with pytest.raises(ValueError, match="sketch"):
        projkit.rsvd(A, 2, sketch="bogus")
    with pytest.raises(ValueError, match="tol"):
        projkit.rsvd(A, tol=1.5)
    with pytest.raises(ValueError, match="oversample"):
        projkit.rsvd(A, 2, oversample=-1)
    with pytest.raises(ValueError, match="2-D"):
        projkit.rsvd(np.ones(5), 1)
    B = A.copy()
    B[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        projkit.rsvd(B, 2)
    with pytest.raises(ValueError, match="size"):
        projkit.range_finder(A, 11)
    with pytest.raises(TypeError, match="rng"):
        projkit.rsvd(A, 2, rng=np.random.RandomState(0))


@pytest.mark.parametrize("sketch", ["srht", "sparse_sign", "countsketch", "sparse"])
def test_structured_test_matrices(sketch, dtype):
    A, s = decaying(120, 80, decay=0.7, seed=16, dtype=dtype)
    for M in (A, A.T, sp.csr_matrix(A), aslinearoperator(A.astype(np.float64))):
        res = projkit.rsvd(M, 6, n_iter=2, sketch=sketch, rng=0)
        t = 1e-3 if dtype == np.float32 else 1e-8
        np.testing.assert_allclose(res.s, s[:6], rtol=t)
    assert projkit.rsvd(A, 6, sketch=sketch, rng=0).U.dtype == dtype


@pytest.mark.parametrize("cond_exp", [1, 5, 12])
def test_cholqr_paths_and_fallbacks(dtype, cond_exp):
    """Cholesky-QR2 where it is accurate, Householder/LU/gesdd fallbacks where it is not."""
    from projkit._backend.linalg import cholqr2
    from projkit.factorizations.rsvd import _small_svd

    rng = np.random.default_rng(0)
    W = np.linalg.qr(rng.standard_normal((300, 12)))[0]
    Y = (W * np.logspace(0, -cond_exp, 12)) @ np.linalg.qr(rng.standard_normal((12, 12)))[0]
    Y = Y.astype(dtype)
    eps = np.finfo(dtype).eps
    declined = cholqr2(np, Y.copy()) is None
    if cond_exp == 1:
        assert not declined  # well conditioned: the fast path
    if cond_exp == 12:
        assert declined  # κ ≫ u^{-1/2}: the Gram matrix has lost the weak directions
    for Q in (orth(np, Y.copy()), _normalize(np, Y.copy())):
        # span(Q) = span(Y) to rounding (relative to the weakest direction kept by the dtype)
        P = Q @ np.linalg.pinv(Q.astype(np.float64))
        np.testing.assert_allclose(P @ W[:, :1], W[:, :1], atol=1e3 * eps)
    Q = orth(np, Y.copy())
    np.testing.assert_allclose(Q.T @ Q, np.eye(12), atol=50 * eps)
    B = Y.T.copy()
    W2, s, Vt = _small_svd(np, B)
    ref = np.linalg.svd(B.astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(s, ref, atol=100 * eps * ref[0])
    np.testing.assert_allclose((W2 * s) @ Vt, B, atol=100 * eps * ref[0])


# ------------------------------------------------------------------- every engine (NumPy, CuPy)


@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
def test_rsvd_dense_on_device(xp, dtype, shape):
    """Device in, device out, the NumPy numbers (to rounding and seeds), deterministic signs."""
    A, s = decaying(*shape, dtype=dtype)
    res = projkit.rsvd(xp.asarray(A), 10, rng=0)
    assert isinstance(res.U, xp.ndarray) and res.U.dtype == dtype and res.s.dtype == dtype
    rtol = 1e-3 if dtype == np.float32 else 1e-8
    np.testing.assert_allclose(to_host(res.s), s[:10], rtol=rtol)
    U = to_host(res.U)
    np.testing.assert_allclose(U.T @ U, np.eye(10), atol=10 * rtol)
    # deterministic signs: same factors as the CPU (up to rounding)
    cpu = projkit.rsvd(A, 10, rng=0)
    np.testing.assert_allclose(U, cpu.U, atol=100 * rtol)


@pytest.mark.parametrize("sketch", ["gaussian", "srht", "sparse_sign"])
def test_rsvd_sparse_on_device(xp, sketch):
    S = sp.random(400, 150, density=0.05, random_state=0, format="csr")
    res = projkit.rsvd(sparse_module(xp).csr_matrix(S), 5, n_iter=6, sketch=sketch, rng=0)
    assert isinstance(res.U, xp.ndarray)
    ref = np.linalg.svd(S.toarray(), compute_uv=False)[:5]
    np.testing.assert_allclose(to_host(res.s), ref, rtol=2e-2)


def test_rsvd_adaptive_and_range_finder_on_device(xp):
    A, _ = decaying(200, 150, decay=0.8)
    res = projkit.rsvd(xp.asarray(A), tol=0.01, rng=0)
    err = np.linalg.norm(A - to_host(res.to_dense())) / np.linalg.norm(A)
    assert err <= 0.0105
    Q = projkit.range_finder(xp.asarray(A), 12, rng=0)
    assert isinstance(Q, xp.ndarray)
    Qh = to_host(Q)
    np.testing.assert_allclose(Qh.T @ Qh, np.eye(12), atol=1e-10)


@pytest.mark.gpu
def test_normalizer_falls_back_to_householder_on_cupy():
    """Where Cholesky-QR breaks down, CuPy's fallback is Householder QR (orthonormal; NumPy's
    is the pivoted LU, whose span is checked in test_cholqr_paths_and_fallbacks)."""
    cp = pytest.importorskip("cupy")
    Y = cp.asarray(np.random.default_rng(0).standard_normal((500, 20)) @ np.diag(
        10.0 ** -np.arange(20) / 2))
    Q = _normalize(cp, Y)
    Qh = to_host(Q)
    np.testing.assert_allclose(Qh.T @ Qh, np.eye(20), atol=1e-6)


@pytest.mark.gpu
def test_rsvd_large_float32_runs():
    """The GPU target case, scaled down: 4096² float32, rank 100, 4 power iterations (CuPy
    only: on the CPU it is a benchmark, not a test)."""
    cp = pytest.importorskip("cupy")
    g = cp.random.default_rng(0)
    A = g.standard_normal((4096, 4096), dtype=cp.float32)
    res = projkit.rsvd(A, 100, n_iter=4, rng=0)
    assert res.U.shape == (4096, 100) and res.U.dtype == cp.float32
