"""KroneckerProjection: exact and lazy (sketched) maintenance of P = Bᵀ(BBᵀ)⁻¹B."""

from __future__ import annotations

import numpy as np
import pytest

import projkit
from projkit._backend.linalg import sparse_module
from projkit.projectors.kronecker import KroneckerProjection
from projkit.testing import check_adjoint
from tests.conftest import to_host

FORMS = ["w_kron_i", "sqrt_kron_sqrt"]


def _psd_sqrt(W):
    lam, Q = np.linalg.eigh(W)
    return (Q * np.sqrt(np.clip(lam, 0, None))) @ Q.T


def dense_B(A, W, form):
    """The literal definition with numpy.kron (small n only)."""
    n = W.shape[0]
    if form == "w_kron_i":
        return A @ np.kron(W, np.eye(n))
    S = _psd_sqrt(W)
    return A @ np.kron(S, S)


def dense_P(A, W, form):
    B = dense_B(A, W, form)
    return B.T @ np.linalg.solve(B @ B.T, B)


def _problem(seed, n=5, m=12):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n * n))
    G = rng.standard_normal((n, n))
    return rng, A, G @ G.T / n + np.eye(n)


def _random_update(rng, W, k, scale=0.4):
    """A rank-k symmetric update that keeps W positive definite (|c| ≤ scale λ_min)."""
    n = W.shape[0]
    U, _ = np.linalg.qr(rng.standard_normal((n, k)))
    c = scale * np.linalg.eigvalsh(W)[0] * rng.uniform(-1, 1, k)
    return U * rng.uniform(0.5, 2.0), c / 0.5**2 / 4   # non-normalized U on purpose


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("force", [None, "lowrank", "recompute", "defer"])
def test_exact_matches_dense_after_updates(form, force):
    rng, A, W = _problem(0)
    kp = KroneckerProjection(A, W, form=form)
    kp._force = force
    n = W.shape[0]
    for t in range(12):
        U, c = _random_update(rng, kp.W, 1 + t % 3)
        kp.update(U, c)
        h = rng.standard_normal(n * n)
        ref = dense_P(A, kp.W, form) @ h
        # 1e-8 relative (issue #9); cond(BBᵀ) ~ 1e3 here so rounding is far below
        assert np.linalg.norm(kp.query(h) - ref) <= 1e-8 * np.linalg.norm(ref)
    if force == "lowrank":
        assert kp.stats["lowrank"] > 0
    assert kp.error_bound == 0.0


def test_deferred_factor_uses_pcg_then_refactors():
    # default cost model on a small problem: refactoring is deferred, queries run CG
    # preconditioned by the stale factor, and a refactor happens once CG has cost as much
    rng, A, W = _problem(1, n=5, m=20)
    kp = KroneckerProjection(A, W)
    kp._force = "defer"              # the cost model defers by itself only for m ≳ 600
    for t in range(25):
        U, c = _random_update(rng, kp.W, 1 + t % 3)
        kp.update(U, c)
        h = rng.standard_normal(25)
        ref = dense_P(A, kp.W, "w_kron_i") @ h
        assert np.linalg.norm(kp.query(h) - ref) <= 1e-8 * np.linalg.norm(ref)
    assert kp.stats["deferred"] > 0 and kp.stats["pcg_iterations"] > 0
    assert kp.stats["refactor"] > 0


def test_lowrank_auto_on_tall_problem():
    rng = np.random.default_rng(3)
    n, m = 2, 4                     # m ≤ n² is required; make m large relative to r instead
    A = rng.standard_normal((m, n * n))
    kp = KroneckerProjection(A, np.eye(n))
    from projkit.projectors import kronecker as K

    old = K._LEVEL2_PENALTY
    K._LEVEL2_PENALTY = 1e-3        # pretend level-2 flops are free: the cost model must switch
    try:
        kp.update(np.array([0.3, 1.0]), 0.5)
    finally:
        K._LEVEL2_PENALTY = old
    assert kp.stats["lowrank"] == 1
    ref = dense_P(A, kp.W, "w_kron_i")
    h = rng.standard_normal(n * n)
    assert np.allclose(kp.query(h), ref @ h, atol=1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_batch_query_and_delta_w(form):
    rng, A, W = _problem(4)
    n = W.shape[0]
    k1 = KroneckerProjection(A, W, form=form)
    k2 = KroneckerProjection(A, W, form=form)
    U, c = _random_update(rng, W, 2)
    k1.update(U, c)
    k2.update((U * c) @ U.T)                    # update(delta_W)
    H = rng.standard_normal((n * n, 3))
    out = k1.query(H)
    assert out.shape == (n * n, 3)
    for j in range(3):
        assert np.allclose(out[:, j], k1.query(H[:, j]), rtol=1e-12, atol=1e-12)
    assert np.allclose(out, k2.query(H), atol=1e-10)
    assert np.allclose(out, dense_P(A, k1.W, form) @ H, atol=1e-10)


@pytest.mark.parametrize("form", FORMS)
def test_float32(form):
    rng, A, W = _problem(5)
    kp = KroneckerProjection(A.astype(np.float32), W.astype(np.float32), form=form)
    U, c = _random_update(rng, W, 2)
    kp.update(U.astype(np.float32), c.astype(np.float32))
    h = rng.standard_normal(A.shape[1]).astype(np.float32)
    out = kp.query(h)
    assert out.dtype == np.float32
    ref = dense_P(A, kp.W.astype(np.float64), form) @ h
    # float32 with cond(BBᵀ) ~ 1e3: ~1e-4 relative is rounding
    assert np.linalg.norm(out - ref) <= 1e-3 * np.linalg.norm(ref)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("eps", [0.02, 0.2])
def test_sketched_within_eps(form, seed, eps):
    rng, A, W = _problem(10 + seed)
    n = W.shape[0]
    kp = KroneckerProjection(A, W, form=form, mode="lazy", eps=eps)
    for t in range(15):
        U, c = _random_update(rng, kp.W, 1 + t % 2, scale=0.05)
        kp.update(U, c)
        h = rng.standard_normal(n * n)
        err = np.linalg.norm(kp.query(h) - dense_P(A, kp.W, form) @ h)
        assert kp.error_bound <= eps
        # the certified bound (plus rounding) holds for every h
        assert err <= (kp.error_bound + 1e-10) * np.linalg.norm(h)
    assert kp.stats["lazy"] > 0


def test_sketched_bound_is_a_spectral_bound():
    # ‖P(W) − P(W̃)‖₂ ≤ error_bound, checked on the full matrices
    rng, A, W = _problem(20)
    for form in FORMS:
        kp = KroneckerProjection(A, W, form=form, mode="lazy", eps=0.3)
        U, c = _random_update(rng, W, 1, scale=0.05)
        kp.update(U, c)
        assert kp.stats["lazy"] == 1
        P_true = dense_P(A, kp.W, form)
        P_lazy = kp.query(np.eye(A.shape[1]))
        assert np.linalg.norm(P_lazy - P_true, 2) <= kp.error_bound + 1e-10
        assert kp.error_bound > 0
        kp.recompute()
        assert kp.error_bound == 0.0
        assert np.allclose(kp.query(np.eye(A.shape[1])), P_true, atol=1e-10)


def test_sketched_refreshes_when_range_changes():
    rng = np.random.default_rng(6)
    n, m = 4, 6
    A = rng.standard_normal((m, n * n))
    W = np.diag([1.0, 1.0, 1.0, 0.0])          # singular, rank 3: B has rank ≤ 12 ≥ m
    kp = KroneckerProjection(A, W, mode="lazy", eps=0.5)
    kp.update(np.eye(n)[:, 3], 1e-3)           # tiny, but leaves range(W̃): must refresh
    assert kp.stats["lazy"] == 0
    h = rng.standard_normal(n * n)
    assert np.allclose(kp.query(h), dense_P(A, kp.W, "w_kron_i") @ h, atol=1e-9)


def test_projector():
    rng, A, W = _problem(7)
    kp = KroneckerProjection(A, W, form="sqrt_kron_sqrt", mode="lazy", eps=0.5)
    U, c = _random_update(rng, W, 1, scale=0.02)
    kp.update(U, c)
    P = kp.projector()
    assert isinstance(P, projkit.Projector)
    assert P.rank == A.shape[0]
    h = rng.standard_normal(A.shape[1])
    assert np.allclose(P @ h, dense_P(A, kp.W, "sqrt_kron_sqrt") @ h, atol=1e-10)
    # the lazy state is untouched by projector()
    assert kp.stats["lazy"] == 1 and kp.error_bound > 0


def test_kron_identity_matches_numpy_kron():
    # B is literally A @ kron(W, I) with row-major vec (documented convention)
    rng, A, W = _problem(8, n=3, m=4)
    kp = KroneckerProjection(A, W)
    B = dense_B(A, W, "w_kron_i")
    assert np.allclose(kp._B_dense(), B)
    # and the projection of vec(H) (row-major) is the one of that literal B, not of the
    # column-major convention A @ kron(I, W) (a different matrix for this non-symmetric use)
    H = rng.standard_normal((3, 3))
    P_lit = B.T @ np.linalg.solve(B @ B.T, B)
    np.testing.assert_allclose(kp.query(H.ravel()), P_lit @ H.ravel(), rtol=1e-10, atol=1e-12)
    B_col = A @ np.kron(np.eye(3), W)
    P_col = B_col.T @ np.linalg.solve(B_col @ B_col.T, B_col)
    assert not np.allclose(kp.query(H.ravel()), P_col @ H.ravel(), atol=1e-3)


# ----------------------------------------------------------------------------- errors
def test_rank_deficient_A_raises():
    rng, A, W = _problem(9)
    A[3] = A[1]
    with pytest.raises(np.linalg.LinAlgError, match="full row rank"):
        KroneckerProjection(A, W)
    with pytest.raises(np.linalg.LinAlgError, match="cannot have full row rank"):
        KroneckerProjection(rng.standard_normal((10, 9)), np.eye(3))      # m > n²


def test_low_rank_W_makes_B_deficient():
    rng = np.random.default_rng(11)
    n, m = 4, 10
    A = rng.standard_normal((m, n * n))
    W = np.diag([1.0, 1.0, 1.0, 0.0])
    kp = KroneckerProjection(A, W)                         # rank(B) ≤ 3·4 = 12 ≥ 10: fine
    with pytest.raises(np.linalg.LinAlgError, match="full row rank"):
        kp.update(np.eye(n)[:, :2], np.array([-1.0, -1.0]))  # rank(W) = 1 → rank(B) ≤ 4
    assert np.allclose(kp.W, W)                           # unchanged after the failure


@pytest.mark.parametrize("mode", ["exact", "lazy"])
def test_indefinite_update_raises_and_keeps_state(mode):
    rng, A, W = _problem(12)
    kp = KroneckerProjection(A, W, mode=mode)
    h = rng.standard_normal(A.shape[1])
    before = kp.query(h)
    lam, Q = np.linalg.eigh(W)
    with pytest.raises(np.linalg.LinAlgError, match="not positive semidefinite"):
        kp.update(Q[:, 0], -2 * lam[0])
    assert np.allclose(kp.W, W)
    assert np.allclose(kp.query(h), before)


def test_bad_arguments():
    rng, A, W = _problem(13)
    with pytest.raises(ValueError, match="n² columns"):
        KroneckerProjection(A[:, :-1], W)
    with pytest.raises(ValueError, match="W: expected shape"):
        KroneckerProjection(A, np.eye(4))
    with pytest.raises(ValueError, match="symmetric"):
        KroneckerProjection(A, W + np.triu(np.ones_like(W), 1))
    with pytest.raises(np.linalg.LinAlgError, match="W is not positive semidefinite"):
        KroneckerProjection(A, -W)
    with pytest.raises(ValueError, match="form"):
        KroneckerProjection(A, W, form="kron")
    with pytest.raises(ValueError, match="mode"):
        KroneckerProjection(A, W, mode="fast")
    with pytest.raises(ValueError, match="eps"):
        KroneckerProjection(A, W, mode="lazy", eps=1.5)
    with pytest.raises(ValueError, match="eps"):
        KroneckerProjection(A, W, eps=0.1)
    with pytest.raises(TypeError):
        KroneckerProjection(None, W)
    kp = KroneckerProjection(A, W)
    with pytest.raises(ValueError, match="h: expected 25"):
        kp.query(np.ones(24))
    with pytest.raises(ValueError, match="c: expected 2"):
        kp.update(np.ones((5, 2)), np.ones(3))
    with pytest.raises(ValueError, match="delta_W"):
        kp.update(np.ones((5, 2)))
    with pytest.raises(ValueError, match="U: expected 5 rows"):
        kp.update(np.ones(4), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        kp.query(np.full(25, np.nan))


def test_inputs_not_modified():
    rng, A, W = _problem(14)
    A0, W0 = A.copy(), W.copy()
    kp = KroneckerProjection(A, W, form="sqrt_kron_sqrt")
    U, c = _random_update(rng, W, 2)
    U0, c0 = U.copy(), c.copy()
    kp.update(U, c)
    h = rng.standard_normal(25)
    h0 = h.copy()
    kp.query(h)
    for a, b in [(A, A0), (W, W0), (U, U0), (c, c0), (h, h0)]:
        assert np.array_equal(a, b)


def test_zero_and_broadcast_updates():
    rng, A, W = _problem(15)
    kp = KroneckerProjection(A, W)
    h = rng.standard_normal(25)
    before = kp.query(h)
    kp.update(rng.standard_normal((5, 2)), 0.0)              # no change at all
    assert np.allclose(kp.query(h), before, atol=1e-12)
    U = np.linalg.qr(rng.standard_normal((5, 2)))[0]
    kp.update(U, 0.1)                                        # scalar c for k = 2 columns
    assert np.allclose(kp.W, W + 0.1 * U @ U.T)
    ref = dense_P(A, kp.W, "w_kron_i") @ h
    assert np.linalg.norm(kp.query(h) - ref) <= 1e-8 * np.linalg.norm(ref)


@pytest.mark.parametrize("form", FORMS)
def test_singular_psd_W(form):
    # W positive semidefinite but singular: P is still defined when B keeps full row rank
    rng = np.random.default_rng(16)
    n, m = 4, 6
    A = rng.standard_normal((m, n * n))
    W = np.diag([2.0, 1.0, 1.0, 0.0])
    kp = KroneckerProjection(A, W, form=form)
    kp.update(np.array([1.0, 1.0, 0.0, 0.0]) / np.sqrt(2), 0.3)
    h = rng.standard_normal(n * n)
    ref = dense_P(A, kp.W, form) @ h
    assert np.linalg.norm(kp.query(h) - ref) <= 1e-8 * np.linalg.norm(ref)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", ["exact", "lazy"])
def test_generic_gpu_code_path_on_cpu(monkeypatch, form, mode):
    # there is no GPU in CI: run the engine written for CuPy (plain xp.linalg, full M,
    # refactor instead of the Numba up/downdate) on NumPy arrays
    from projkit.projectors import kronecker as K
    from projkit.projectors._cholesky_xp import refactor_update
    from projkit.projectors._kronecker_xp import XpEngine

    monkeypatch.setattr(K, "_engine_of", XpEngine)
    rng, A, W = _problem(17)
    kp = KroneckerProjection(A, W, form=form, mode=mode, eps=0.05 if mode == "lazy" else None)
    for t in range(6):
        U, c = _random_update(rng, kp.W, 1 + t % 2, scale=0.1)
        kp.update(U, c)
    kp._force = "defer"
    U, c = _random_update(rng, kp.W, 1, scale=0.1)
    kp.update(U, c)
    H = rng.standard_normal((25, 2))
    err = np.linalg.norm(kp.query(H) - dense_P(A, kp.W, form) @ H, axis=0)
    assert np.all(err <= (kp.error_bound + 1e-8) * np.linalg.norm(H, axis=0))
    L = np.linalg.cholesky(W)
    u = rng.standard_normal((5, 2))
    assert isinstance(kp._eng, XpEngine)
    assert np.allclose(refactor_update(np, L, u, 1.0), np.linalg.cholesky(W + u @ u.T))
    with pytest.raises(np.linalg.LinAlgError):
        refactor_update(np, np.eye(2), np.array([[0.0], [2.0]]), -1.0)


@pytest.mark.parametrize("form", FORMS)
def test_partial_refresh_certified(monkeypatch, form):
    # force the paper's per-direction partial refresh on a small problem: after a refresh
    # W̃ ≠ W in general, and the certified bound (≤ eps/2 right after it) must still hold
    from projkit.projectors import kronecker as K

    monkeypatch.setattr(K, "_PARTIAL_MIN_RANK", 0)
    rng, A, W = _problem(18, n=6, m=14)
    kp = KroneckerProjection(A, W, form=form, mode="lazy", eps=0.1)
    partial = 0
    for _ in range(12):
        U, c = _random_update(rng, kp.W, 3, scale=0.3)
        lazy_before = kp.stats["lazy"]
        kp.update(U, c)
        if kp.stats["lazy"] == lazy_before:
            assert kp.error_bound <= 0.05 + 1e-12
            partial += kp.error_bound > 0
        P = dense_P(A, kp.W, form)
        assert np.linalg.norm(kp.query(np.eye(36)) - P, 2) <= kp.error_bound + 1e-9
    assert partial > 0


@pytest.mark.parametrize("form", FORMS)
def test_sparse_A_never_densified(monkeypatch, form):
    # A (300 × 1600, 0.2 % dense) is used only through sparse × dense products: no toarray of
    # any block of it bigger than 50 both ways. (No peak-memory check: B = A(W ⊗ I) and BBᵀ
    # are dense by design, as the docstring says, and B has A's dense size.)
    import scipy.sparse as sps

    from tests._helpers import assert_never_densified

    n, m = 40, 300
    A = (sps.random(m, n * n, density=2e-3, random_state=1, format="csr")
         + sps.eye(m, n * n, format="csr"))
    rng = np.random.default_rng(0)
    G = rng.standard_normal((n, n))
    W = G @ G.T / n + np.eye(n)
    U = np.linalg.qr(rng.standard_normal((n, 1)))[0]
    h = rng.standard_normal(n * n)
    Ad = A.toarray()  # the reference, formed before the guard is installed

    def run():
        kp = KroneckerProjection(A, W, form=form)
        kp.update(U, np.array([0.1]))
        return kp.query(h)

    out = assert_never_densified(monkeypatch, run, A, thin=50, peak_fraction=None)
    kd = KroneckerProjection(Ad, W, form=form)
    kd.update(U, np.array([0.1]))
    np.testing.assert_allclose(out, kd.query(h), atol=1e-9)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", ["exact", "lazy"])
def test_sparse_A_matches_dense(form, mode):
    # SDP constraint matrices are often sparse: A stays sparse, the answers are the same
    import scipy.sparse as sps

    rng = np.random.default_rng(19)
    n, m = 6, 20
    A = sps.random(m, n * n, density=0.3, random_state=19, format="csr")
    eps = 0.05 if mode == "lazy" else None
    G = rng.standard_normal((n, n))
    W = G @ G.T / n + np.eye(n)
    ks = KroneckerProjection(A, W, form=form, mode=mode, eps=eps)
    kd = KroneckerProjection(A.toarray(), W, form=form, mode=mode, eps=eps)
    assert ks._sparse and not kd._sparse
    for t in range(5):
        U, c = _random_update(rng, kd.W, 1 + t % 3, scale=0.2)
        ks.update(U, c)
        kd.update(U, c)
    H = rng.standard_normal((n * n, 2))
    np.testing.assert_allclose(ks.query(H), kd.query(H), atol=1e-10)
    np.testing.assert_allclose(ks._B_dense(), kd._B_dense(), atol=1e-12)
    if mode == "exact":
        ref = dense_P(A.toarray(), ks.W, form) @ H
        assert np.linalg.norm(ks.query(H) - ref) <= 1e-8 * np.linalg.norm(ref)


# ----------------------------------------------------------------------------- set queries
def test_exact_set_query_is_exact():
    rng, A, W = _problem(40)
    kp = KroneckerProjection(A, W)
    kp.update(*_random_update(rng, W, 2))
    h = rng.standard_normal(A.shape[1])
    C = np.array([3, 0, 17, 3])
    np.testing.assert_allclose(kp.query(h, C), (dense_P(A, kp.W, "w_kron_i") @ h)[C],
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("robust", [None, {"per_query": 15, "dp_epsilon": 50.0}])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("seed", [0, 1])
def test_sketched_set_query_within_bound(form, seed, robust):
    # Per coordinate: |ans_i − (P h)_i| ≤ error_bound‖h‖ + ε_s‖P̃h‖ + (γ/2)‖h‖ with
    # ε_s = √(8/b). One estimate's error has standard deviation ≤ √2‖P̃h‖/√b, so it exceeds
    # ε_s‖P̃h‖ (2 standard deviations) with probability ≤ 0.046; with ε₀ = 50 the private
    # median is the grid-rounded median of L = 15 (mass e^{-25} per rank away from it), wrong
    # only if ≥ 8 of 15 estimates are: ≤ 2e-7 per coordinate, over the 480 releases here.
    # The defaults (ε₀ = 8: e^{-4} per rank) are wrong only if ~6 of 15 are (≈ 5e-5).
    # Power: the bound is loose next to a typical |(Ph)_i|, so every other query is h = e_c for
    # the c with the largest P_cc (rank 130 of n² = 144: (Ph)_c ≈ 0.95‖Ph‖) with c ∈ C, b = 128
    # (ε_s = 0.25) and eps = 0.05: there a zero answer is ≥ 3.2 bounds off and a ×1.5 one
    # ≥ 1.6 bounds (measured), while projkit's worst error is 0.39 of the bound.
    rng, A, W = _problem(50 + seed, n=12, m=130)
    n2 = A.shape[1]
    b, eps = 128, 0.05
    kp = KroneckerProjection(A, W, form=form, mode="lazy", eps=eps, sketch_size=b,
                             robust=robust, rng=seed)
    eps_s, gamma = np.sqrt(8 / b), eps / 4
    for t in range(8):
        kp.update(*_random_update(rng, kp.W, 1 + t % 2, scale=0.05))
        P = dense_P(A, kp.W, form)
        c = int(np.argmax(np.diag(P)))
        h = np.eye(n2)[c] if t % 2 == 0 else rng.standard_normal(n2)
        C = np.r_[c, rng.choice(np.delete(np.arange(n2), c), 11, replace=False)]
        ans = kp.query(h, C)
        ref = (P @ h)[C]
        lazy = kp.query(h)
        bound = (kp.error_bound + gamma / 2) * np.linalg.norm(h) + eps_s * np.linalg.norm(lazy)
        if t % 2 == 0:
            assert 0.5 * abs(ref[0]) > 1.2 * bound  # a zero or ×1.5 answer breaks it at c
        assert np.all(np.abs(ans - ref) <= bound + 1e-12)
    assert kp.stats["set_queries"] == 8


def test_set_query_pool_follows_refreshes_and_rng():
    rng, A, W = _problem(60)
    n2 = A.shape[1]
    seq = [_random_update(rng, W, 2, scale=0.3) for _ in range(6)]
    hs = [rng.standard_normal(n2) for _ in range(6)]

    def run(seed):
        kp = KroneckerProjection(A, W, mode="lazy", eps=0.05, sketch_size=16, rng=seed)
        out = [kp.update(U, c) or kp.query(h, np.arange(5))
               for (U, c), h in zip(seq, hs, strict=True)]
        return kp, out

    kp, out = run(3)
    # every refresh of the factored weight W̃ re-sketches P̃ (the pool's S_j = R_j P̃)
    refreshes = kp.stats["updates"] - kp.stats["lazy"]
    assert refreshes > 0
    # (the pool is built at the first set query, after the first refresh here)
    assert refreshes == kp.stats["updates"]
    assert kp._pool.n_refreshes == refreshes
    for a, b_ in zip(out, run(3)[1], strict=True):
        np.testing.assert_array_equal(a, b_)                   # same rng, same answers
    assert any(not np.array_equal(a, b_) for a, b_ in zip(out, run(4)[1], strict=True))
    # projector() leaves the pool valid
    kp.projector()
    before = kp._pool.n_refreshes
    kp.query(hs[0], np.arange(3))
    assert kp._pool.n_refreshes == before


def test_set_query_errors():
    rng, A, W = _problem(70)
    n2 = A.shape[1]
    h = rng.standard_normal(n2)
    with pytest.raises(ValueError, match="sketch_size"):
        KroneckerProjection(A, W, sketch_size=8)               # exact mode keeps no sketches
    with pytest.raises(ValueError, match="sketch_size"):
        KroneckerProjection(A, W, mode="lazy", sketch_size=n2 + 1)
    with pytest.raises(ValueError, match="robust"):
        KroneckerProjection(A, W, mode="lazy", robust={"per_qery": 3})
    with pytest.raises(TypeError, match="robust"):
        KroneckerProjection(A, W, mode="lazy", robust=[3])
    kp = KroneckerProjection(A, W, mode="lazy", eps=0.3, sketch_size=8)
    with pytest.raises(ValueError, match="coords"):
        kp.query(h, np.array([0, n2]))
    with pytest.raises(ValueError, match="coords"):
        kp.query(h, np.array([0.5]))
    with pytest.raises(ValueError, match="one vector"):
        kp.query(np.stack([h, h], axis=1), np.array([0]))
    big = KroneckerProjection(A, W, mode="lazy", eps=0.3,
                              robust={"n_sketches": 10**7, "per_query": 3})
    with pytest.raises(ValueError, match="GiB"):
        big.query(h, np.array([0]))


# ----------------------------------------------------------------------------- dot test
class _QueryOperator:
    """``P`` of a structure as a linear operator (``P @ H`` is ``query(H)``)."""

    def __init__(self, kp):
        self.kp, self.shape = kp, kp.shape

    def __matmul__(self, H):
        return self.kp.query(H)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", ["exact", "lazy"])
def test_query_is_symmetric_dot_test(xp, form, mode):
    # P = Bᵀ(BBᵀ)⁻¹B is symmetric, and so is the lazy P̃ of the sketched mode: ⟨Px, y⟩ = ⟨x, Py⟩
    rng, A, W = _problem(80)
    kp = KroneckerProjection(xp.asarray(A), xp.asarray(W), form=form, mode=mode,
                             eps=0.2 if mode == "lazy" else None)
    for _ in range(3):
        U, c = _random_update(rng, W, 2, scale=0.05)
        kp.update(xp.asarray(U), xp.asarray(c))
    op = _QueryOperator(kp)
    check_adjoint(op, adjoint=kp.query, xp=xp, dtype=np.float64)
    check_adjoint(kp.projector(), xp=xp)


# ----------------------------------------------------------------------------- engines
# (with the xp fixture: NumPy here, CuPy when a device is present: GPU in, GPU out, same
# numbers as NumPy)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", ["exact", "lazy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_engine_matches_numpy(xp, form, mode, dtype):
    from projkit.projectors._kronecker_lapack import CpuEngine
    from projkit.projectors._kronecker_xp import XpEngine

    rng, A, W = _problem(0, n=6, m=15)
    A, W = A.astype(dtype), W.astype(dtype)
    eps = 0.1 if mode == "lazy" else None
    k_cpu = KroneckerProjection(A, W, form=form, mode=mode, eps=eps)
    k_dev = KroneckerProjection(xp.asarray(A), xp.asarray(W), form=form, mode=mode, eps=eps)
    assert isinstance(k_dev._eng, CpuEngine if xp is np else XpEngine)
    for t in range(6):
        U, _ = np.linalg.qr(rng.standard_normal((W.shape[0], 1 + t % 3)))
        c = 0.1 * rng.uniform(-1, 1, U.shape[1])
        U, c = U.astype(dtype), c.astype(dtype)
        k_cpu.update(U, c)
        k_dev.update(xp.asarray(U), xp.asarray(c))
    H = rng.standard_normal((A.shape[1], 3)).astype(dtype)
    out = k_dev.query(xp.asarray(H))
    assert isinstance(out, xp.ndarray) and out.dtype == dtype
    rtol = 1e-3 if dtype == np.float32 else 1e-9
    ref = k_cpu.query(H)
    assert np.linalg.norm(to_host(out) - ref) <= rtol * np.linalg.norm(ref)
    P = k_dev.projector()
    assert np.allclose(to_host(P @ xp.asarray(H)), k_cpu.projector() @ H,
                       atol=10 * rtol * np.abs(ref).max())


@pytest.mark.parametrize("form", FORMS)
def test_engine_sparse_A(xp, form):
    import scipy.sparse as sps

    rng, _, W = _problem(3, n=6, m=15)
    A = sps.random(15, 36, density=0.3, random_state=3, format="csr")
    k_cpu = KroneckerProjection(A, W, form=form)
    k_dev = KroneckerProjection(sparse_module(xp).csr_matrix(A), xp.asarray(W), form=form)
    U = np.linalg.qr(rng.standard_normal((6, 2)))[0]
    c = np.array([0.1, -0.05])
    k_cpu.update(U, c)
    k_dev.update(xp.asarray(U), xp.asarray(c))
    h = rng.standard_normal(36)
    np.testing.assert_allclose(to_host(k_dev.query(xp.asarray(h))), k_cpu.query(h), atol=1e-9)


def test_engine_indefinite_update_raises(xp):
    _, A, W = _problem(1, n=6, m=15)
    kp = KroneckerProjection(xp.asarray(A), xp.asarray(W))
    lam, Q = np.linalg.eigh(W)
    with pytest.raises(np.linalg.LinAlgError):
        kp.update(xp.asarray(Q[:, 0]), float(-2 * lam[0]))


def test_engine_set_query_within_bound(xp):
    # the robust pool on the input's device: answers stay there and within the stated bound
    # (error_bound + γ/2)‖h‖ + √(8/b)‖P̃h‖ (see test_sketched_set_query_within_bound for why,
    # and for the query h = e_c at which a zero or ×1.5 answer breaks the bound)
    rng, A, W = _problem(5, n=12, m=130)
    b = 128
    kp = KroneckerProjection(xp.asarray(A), xp.asarray(W), mode="lazy", eps=0.05,
                             sketch_size=b, rng=0)
    ref_kp = KroneckerProjection(A, W)
    for t in range(4):
        U = np.linalg.qr(rng.standard_normal((W.shape[0], 1)))[0]
        c = 0.02 * rng.uniform(-1, 1, 1)
        kp.update(xp.asarray(U), xp.asarray(c))
        ref_kp.update(U, c)
        ci = int(np.argmax(np.diag(ref_kp.query(np.eye(A.shape[1])))))
        h = np.eye(A.shape[1])[ci] if t % 2 == 0 else rng.standard_normal(A.shape[1])
        C = np.r_[ci, np.arange(0, A.shape[1], 7)]
        ans = kp.query(xp.asarray(h), xp.asarray(C))
        assert isinstance(ans, xp.ndarray)
        lazy = to_host(kp.query(xp.asarray(h)))
        ref = ref_kp.query(h)[C]
        bound = ((kp.error_bound + 0.05 / 8) * np.linalg.norm(h)
                 + np.sqrt(8 / b) * np.linalg.norm(lazy))
        if t % 2 == 0:
            assert 0.5 * abs(ref[0]) > 1.2 * bound
        assert np.all(np.abs(to_host(ans) - ref) <= bound + 1e-9)
