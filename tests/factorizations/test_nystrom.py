"""Tests for projkit.nystrom (generalized Nyström) and projkit.nystrom_psd."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

import projkit
from projkit.testing import check_adjoint
from tests._helpers import fp_tol
from tests.conftest import to_host


def spectrum_matrix(m, n, decay, r, seed, dtype=np.float64, psd=False):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((m, r)))[0]
    s = decay ** np.arange(r)
    if psd:
        return ((U * s) @ U.T).astype(dtype), s
    V = np.linalg.qr(rng.standard_normal((n, r)))[0]
    return ((U * s) @ V.T).astype(dtype), s


def test_generalized_nystrom_exact_recovery(xp, dtype):
    rng = np.random.default_rng(0)
    A = (rng.standard_normal((40, 5)) @ rng.standard_normal((5, 30))).astype(dtype)
    ny = projkit.nystrom(xp.asarray(A), 5, rng=0)
    # backward-stable QR/SVD steps on a rank-5 problem: error ≤ c·n·eps·κ₅(A)‖A‖ (κ₅ = σ₁/σ₅
    # ≈ 2.4 here; measured 26 eps·κ in float32, the bound 400 eps·κ = 1.1e-4)
    sv = np.linalg.svd(A.astype(float), compute_uv=False)
    t = fp_tol(dtype, cond=sv[0] / sv[4], n=40)
    np.testing.assert_allclose(to_host(ny.to_dense()), A, atol=t * np.abs(A).max())
    assert ny.F.shape == (40, 5) and ny.G.shape == (5, 8) and ny.H.shape == (30, 8)
    assert ny.G.dtype == dtype


def test_generalized_nystrom_is_meta_factorization():
    A, _ = spectrum_matrix(30, 20, 0.7, 20, 1)
    ny = projkit.nystrom(A, 4, oversample=3, rng=0)
    AX = ny.F
    YhA = ny.H.T
    # F G Hᵀ = AX (YᵀAX)⁺ YᵀA, and the column projector is oblique onto range(AX)
    P = ny.column_projector
    np.testing.assert_allclose(P @ AX, AX, atol=1e-10)
    np.testing.assert_allclose(P.matrix() @ P.matrix(), P.matrix(), atol=1e-8)
    np.testing.assert_allclose(ny.to_dense(), P @ A, atol=1e-9)
    np.testing.assert_allclose(ny.to_dense(), A @ ny.row_projector, atol=1e-9)
    assert YhA.shape == (7, 20)


@pytest.mark.parametrize("sketch", ["gaussian", "srht", "sparse_sign"])
def test_generalized_nystrom_error_near_optimal(sketch):
    # against the optimal rank-r error (known spectrum), not against projkit's own F. A has
    # r = 10 singular values 1 and 40 of 1e-6: opt = ‖Σ₂‖_F = 6.3e-6. HMT (2011) Thm 9.1 gives
    # ‖(I − QQᵀ)A‖_F ≤ ‖Σ₂‖_F (1 + ‖Ω₂‖‖Ω₁⁺‖) for Q = orth(AX); for a Gaussian X (no
    # oversampling) ‖Ω₁⁺‖ ≤ √r/t with probability ≥ 1 − t (Edelman 1988) and ‖Ω₂‖ ≤ √n + √r + 3
    # (probability ≥ 1 − e^{-9/2}); t = 0.01 gives ≤ 4000·opt, and the oblique ‖I − P‖ of the
    # oversampled Y (Nakatsukasa 2020, §4) a factor ≤ 2 more: bound 1e4·opt. (SRHT and sparse
    # sign X are held to the same bound.) A half-rank answer is ‖Σ[5:10]‖ = 2.2 = 3.5e5·opt off,
    # a zero answer ‖A‖_F = 3.2 and a ×1.5 one 1.6.
    rng = np.random.default_rng(2)
    U = np.linalg.qr(rng.standard_normal((120, 50)))[0]
    V = np.linalg.qr(rng.standard_normal((90, 50)))[0]
    s = np.r_[np.ones(10), np.full(40, 1e-6)]
    A = (U * s) @ V.T
    opt = np.sqrt(np.sum(s[10:] ** 2))
    for seed in range(2):
        ny = projkit.nystrom(A, 10, sketch=sketch, rng=seed)
        err = np.linalg.norm(A - ny.to_dense())
        assert opt * (1 - 1e-6) <= err <= 1e4 * opt
        np.testing.assert_allclose(ny.error(), err, rtol=1e-3)


def test_generalized_nystrom_inputs():
    A, _ = spectrum_matrix(60, 40, 0.5, 40, 3)
    dense = projkit.nystrom(A, 6, rng=0)
    spm = projkit.nystrom(sp.csr_matrix(A), 6, rng=0)
    op = projkit.nystrom(aslinearoperator(A), 6, rng=0)
    np.testing.assert_allclose(spm.to_dense(), dense.to_dense(), atol=1e-10)
    np.testing.assert_allclose(op.to_dense(), dense.to_dense(), atol=1e-10)
    assert op.A is None
    np.testing.assert_allclose(spm.error(), dense.error(), rtol=1e-5)
    wide = projkit.nystrom(A.T, 6, rng=0)
    assert wide.to_dense().shape == (40, 60)
    assert projkit.nystrom(A, 6, rng=0).G.shape == (6, 9)  # default ℓ = ⌈r/2⌉
    assert projkit.nystrom(A, 40, oversample=100, rng=0).G.shape == (40, 60)  # capped at m


def test_nystrom_psd_exact_and_symmetric(xp, dtype):
    A, s = spectrum_matrix(50, 50, 0.5, 4, 4, dtype=dtype, psd=True)
    res = projkit.nystrom_psd(xp.asarray(A), 4, rng=0)
    U, lam, Ut = (to_host(x) for x in res)
    # rank-4 PSD of κ₄ = 8, n = 50: c·n·eps·κ = 4.8e-4 in float32 (measured 1.4e-5)
    t = fp_tol(dtype, cond=s[0] / s[3], n=50)
    np.testing.assert_allclose(lam, s, rtol=t)
    np.testing.assert_allclose(Ut, U.T)
    np.testing.assert_allclose((U * lam) @ Ut, A, atol=t * s[0])
    assert np.all(lam >= 0) and lam.dtype == dtype


def test_nystrom_psd_error_bound():
    # eight leading eigenvalues 0.9^i, then a tail 100× smaller: the bound below is 0.31 while
    # the best rank-1 answer is 4.8 off (nuclear norm), the best rank-4 one 2.4, a zero one 5.8
    # and a ×1.5 one 2.9
    rng = np.random.default_rng(5)
    U = np.linalg.qr(rng.standard_normal((80, 60)))[0]
    s = np.r_[0.9 ** np.arange(8), 0.01 * 0.9 ** np.arange(52)]
    A = (U * s) @ U.T
    k, p = 8, 8
    errs = [np.linalg.norm(A - projkit.nystrom_psd(A, k, oversample=p, rng=sd).to_dense(), "nuc")
            for sd in range(3)]
    # Tropp et al. 2017, Thm 4.1 (for the rank-ℓ approximation, then truncation to k adds at
    # most the optimal tail once more): E‖A − Â_k‖_* ≤ (2 + k/(p − 1)) ‖A − [A]_k‖_*
    opt = s[k:].sum()
    assert np.mean(errs) <= (2 + k / (p - 1)) * opt
    assert min(errs) >= opt * (1 - 1e-9)  # no rank-k matrix beats the optimum
    # Nyström of a PSD matrix is PSD and never overestimates: A − Â ⪰ 0
    res = projkit.nystrom_psd(A, k, oversample=p, rng=0)
    assert np.linalg.eigvalsh(A - res.to_dense()).min() >= -1e-10


def test_nystrom_psd_sparse_and_operator():
    A, _ = spectrum_matrix(60, 60, 0.6, 20, 6, psd=True)
    dense = projkit.nystrom_psd(A, 5, rng=0)
    for M in (sp.csr_matrix(A), aslinearoperator(A)):
        res = projkit.nystrom_psd(M, 5, rng=0)
        np.testing.assert_allclose(res.to_dense(), dense.to_dense(), atol=1e-10)


def test_bad_input():
    A, _ = spectrum_matrix(20, 15, 0.5, 15, 7)
    with pytest.raises(ValueError, match="rank"):
        projkit.nystrom(A, 16)
    with pytest.raises(ValueError, match="sketch"):
        projkit.nystrom(A, 3, sketch="nope")
    with pytest.raises(ValueError, match="oversample"):
        projkit.nystrom(A, 3, oversample=-2)
    with pytest.raises(ValueError, match="square"):
        projkit.nystrom_psd(A, 3)
    S, _ = spectrum_matrix(20, 20, 0.5, 20, 8, psd=True)
    with pytest.raises(ValueError, match="symmetric"):
        projkit.nystrom_psd(S + np.triu(np.ones((20, 20))), 3)
    with pytest.raises(np.linalg.LinAlgError, match="positive"):
        projkit.nystrom_psd(-S, 3, rng=0)
    bad = S.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        projkit.nystrom_psd(bad, 3)


# ------------------------------------------------------------------- every engine (NumPy, CuPy)


def test_nystrom_on_device(xp):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((40, 4)) @ rng.standard_normal((4, 30))
    ny = projkit.nystrom(xp.asarray(A), 4, rng=0)
    assert isinstance(ny.F, xp.ndarray)
    np.testing.assert_allclose(to_host(ny.to_dense()), A, atol=1e-8)
    G = rng.standard_normal((40, 3))
    S = G @ G.T
    res = projkit.nystrom_psd(xp.asarray(S), 3, rng=0)
    assert isinstance(res.U, xp.ndarray)
    np.testing.assert_allclose(to_host(res.to_dense()), S, atol=1e-8)


@pytest.mark.parametrize("sketch", ["gaussian", "srht"])
def test_nystrom_projectors_pass_the_dot_test(xp, sketch):
    """⟨P x, y⟩ = ⟨x, Pᵀ y⟩ for the oblique projectors AX (YᴴAX)⁺ Yᴴ and X (YᴴAX)⁺ YᴴA."""
    A, _ = spectrum_matrix(50, 35, 0.7, 35, 9)
    ny = projkit.nystrom(xp.asarray(A), 6, sketch=sketch, rng=1)
    for P in (ny.column_projector, ny.row_projector):
        check_adjoint(P, xp=xp)
