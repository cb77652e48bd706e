"""Tests for projkit.nystrom (generalized Nyström) and projkit.nystrom_psd."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

import projkit
from projkit.testing import check_adjoint
from tests.conftest import to_host, tol


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
    np.testing.assert_allclose(to_host(ny.reconstruct()), A,
                               atol=1000 * tol(dtype) * np.abs(A).max())
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
    np.testing.assert_allclose(ny.reconstruct(), P @ A, atol=1e-9)
    np.testing.assert_allclose(ny.reconstruct(), A @ ny.row_projector, atol=1e-9)
    assert YhA.shape == (7, 20)


@pytest.mark.parametrize("sketch", ["gaussian", "srht", "sparse_sign"])
def test_generalized_nystrom_error_close_to_sketch_error(sketch):
    A, s = spectrum_matrix(120, 90, 0.8, 50, 2)
    for seed in range(2):
        ny = projkit.nystrom(A, 10, sketch=sketch, rng=seed)
        Q = np.linalg.qr(ny.F)[0]
        sketch_err = np.linalg.norm(A - Q @ (Q.T @ A))
        # ‖A − P A‖ ≤ ‖I − P‖ ‖(I − QQᵀ)A‖ and oversampling Y by r/2 keeps ‖I − P‖ = ‖P‖
        # small (Nakatsukasa §4): measured ratios ≈ 1.0–1.3; 3 leaves room for the seeds
        assert ny.error() <= 3 * sketch_err
        assert ny.error() >= np.sqrt(np.sum(s[10:] ** 2)) * (1 - 1e-9)


def test_generalized_nystrom_inputs():
    A, _ = spectrum_matrix(60, 40, 0.5, 40, 3)
    dense = projkit.nystrom(A, 6, rng=0)
    spm = projkit.nystrom(sp.csr_matrix(A), 6, rng=0)
    op = projkit.nystrom(aslinearoperator(A), 6, rng=0)
    np.testing.assert_allclose(spm.reconstruct(), dense.reconstruct(), atol=1e-10)
    np.testing.assert_allclose(op.reconstruct(), dense.reconstruct(), atol=1e-10)
    assert op.A is None
    np.testing.assert_allclose(spm.error(), dense.error(), rtol=1e-5)
    wide = projkit.nystrom(A.T, 6, rng=0)
    assert wide.reconstruct().shape == (40, 60)
    assert projkit.nystrom(A, 6, rng=0).G.shape == (6, 9)  # default ℓ = ⌈r/2⌉
    assert projkit.nystrom(A, 40, oversample=100, rng=0).G.shape == (40, 60)  # capped at m


def test_nystrom_psd_exact_and_symmetric(xp, dtype):
    A, s = spectrum_matrix(50, 50, 0.5, 4, 4, dtype=dtype, psd=True)
    res = projkit.nystrom_psd(xp.asarray(A), 4, rng=0)
    U, lam, Ut = (to_host(x) for x in res)
    np.testing.assert_allclose(lam, s, rtol=100 * tol(dtype))
    np.testing.assert_allclose(Ut, U.T)
    np.testing.assert_allclose((U * lam) @ Ut, A, atol=100 * tol(dtype))
    assert np.all(lam >= 0) and lam.dtype == dtype


def test_nystrom_psd_error_bound():
    A, s = spectrum_matrix(80, 80, 0.85, 60, 5, psd=True)
    k, p = 8, 8
    errs = [np.linalg.norm(A - projkit.nystrom_psd(A, k, oversample=p, rng=sd).to_dense(), "nuc")
            for sd in range(3)]
    # Tropp et al. 2017, Thm 4.1 (for the rank-ℓ approximation, then truncation to k adds at
    # most the optimal tail once more): E‖A − Â_k‖_* ≤ (2 + k/(p − 1)) ‖A − [A]_k‖_*
    opt = s[k:].sum()
    assert np.mean(errs) <= (2 + k / (p - 1)) * opt
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
    np.testing.assert_allclose(to_host(ny.reconstruct()), A, atol=1e-8)
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
