"""Tests for projkit.meta_factorize / MetaFactorization and projkit.pinv."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import projkit
from projkit.testing import check_adjoint
from tests._helpers import assert_never_densified, fp_tol
from tests.conftest import to_host, tol


def rand(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def low_rank(m, n, k, seed, dtype=np.float64):
    return (rand((m, k), seed) @ rand((k, n), seed + 1)).astype(dtype)


# ---------------------------------------------------------------- projector & reconstruction eqs


@pytest.mark.parametrize("k,kb,kh,kd", [(3, 3, 4, 4), (3, 5, 4, 6), (2, 4, 2, 2)])
def test_projector_and_reconstruction_equations(xp, dtype, k, kb, kh, kd):
    m, n = 15, 12
    F, H = rand((m, k), 1, dtype), rand((n, kh), 2, dtype)
    B, D = rand((m, kb), 3, dtype), rand((n, kd), 4, dtype)
    A = rand((m, n), 5, dtype)
    mf = projkit.meta_factorize(*(xp.asarray(M) for M in (A, F, H)), B=xp.asarray(B),
                                D=xp.asarray(D))
    f64 = [M.astype(np.float64) for M in (A, F, H, B, D)]
    A64, F64, H64, B64, D64 = f64
    Yt = np.linalg.pinv(B64.T @ F64) @ B64.T
    X = D64 @ np.linalg.pinv(H64.T @ D64)
    # tolerances from the dtype's eps and the conditioning of what is inverted: the column
    # side solves with BᵀF (and orthogonalizes F), the row side with HᵀD (and H); measured
    # errors are ≤ 90 eps, the bounds c·m·eps·κ are ≥ 1400 eps
    kc = np.linalg.cond(B64.T @ F64) * np.linalg.cond(F64)
    kr = np.linalg.cond(H64.T @ D64) * np.linalg.cond(H64)
    tc, tr = fp_tol(dtype, cond=kc, n=m), fp_tol(dtype, cond=kr, n=m)
    Mc = to_host(mf.column_projector.matrix()).astype(np.float64)
    Mr = to_host(mf.row_projector.matrix()).astype(np.float64)
    # projkit's projectors satisfy the projector equations: Mc F = F, Mc² = Mc, Hᵀ Mr = Hᵀ, ...
    np.testing.assert_allclose(Mc @ F64, F64, atol=tc * np.abs(F64).max())
    np.testing.assert_allclose(Mc @ Mc, Mc, atol=tc * np.abs(Mc).max())
    np.testing.assert_allclose(H64.T @ Mr, H64.T, atol=tr * np.abs(H64).max())
    np.testing.assert_allclose(Mr @ Mr, Mr, atol=tr * np.abs(Mr).max())
    # ... and are F Yᵀ, X Hᵀ with G = Yᵀ A X (the reference computed here in float64)
    np.testing.assert_allclose(Mc, F64 @ Yt, atol=tc * np.abs(F64 @ Yt).max())
    np.testing.assert_allclose(Mr, X @ H64.T, atol=tr * np.abs(X @ H64.T).max())
    G_ref = Yt @ A64 @ X
    np.testing.assert_allclose(to_host(mf.G), G_ref, atol=max(tc, tr) * np.abs(G_ref).max())
    # F G Hᵀ = P_col A P_row
    P_A_P = to_host(mf.column_projector @ (xp.asarray(A) @ mf.row_projector))
    np.testing.assert_allclose(to_host(mf.to_dense()), P_A_P,
                               atol=max(tc, tr) * np.abs(P_A_P).max())
    assert mf.G.dtype == dtype


def test_exact_recovery_of_rank_k(dtype):
    m, n, k = 20, 16, 4
    A = low_rank(m, n, k, 6, dtype)
    # any F, H spanning the column/row spaces and generic test matrices recover A exactly
    F = A @ rand((n, k), 7, dtype)
    H = A.T @ rand((m, k + 2), 8, dtype)
    mf = projkit.meta_factorize(A, F, H, B=rand((m, k + 3), 9, dtype), D=rand((n, k + 4), 10,
                                                                               dtype))
    # κ_k(A)·κ(F) ≈ 24: c·m·eps·κ = 5.7e-4 in float32 (measured 5 eps = 6e-7)
    sv = np.linalg.svd(A.astype(np.float64), compute_uv=False)
    t = fp_tol(dtype, cond=sv[0] / sv[k - 1] * np.linalg.cond(F.astype(np.float64)), n=m)
    np.testing.assert_allclose(mf.to_dense(), A, atol=t * np.abs(A).max())
    assert mf.error(relative=True) < t
    F_, G_, H_ = mf
    assert F_.shape == (m, k) and G_.shape == (k, k + 2) and H_.shape == (n, k + 2)


def test_orthogonal_defaults_give_best_core():
    A = rand((12, 10), 11)
    F, H = rand((12, 3), 12), rand((10, 4), 13)
    mf = projkit.meta_factorize(A, F, H)
    # B = F, D = H: G = F⁺ A (Hᵀ)⁺, the Frobenius-optimal core for the given bases
    np.testing.assert_allclose(mf.G, np.linalg.pinv(F) @ A @ np.linalg.pinv(H.T), atol=1e-10)
    assert mf.column_projector.orthogonal and mf.row_projector.orthogonal


def test_sparse_input_never_densified(monkeypatch):
    # 3000 × 2000 with 3000 non-zeros (48 MB dense): G = F⁺ A H⁺ᵀ and the error formula work
    # on A's non-zeros; no dense block of A bigger than 50 both ways, peak below ⅛ of dense
    S = sp.random(3000, 2000, density=5e-4, random_state=0, format="csr")
    F, H = rand((3000, 4), 30), rand((2000, 4), 31)

    def run():
        mf = projkit.meta_factorize(S, F, H)
        return mf, mf.error()

    mf, err = assert_never_densified(monkeypatch, run, S, thin=50)
    np.testing.assert_allclose(mf.G, np.linalg.pinv(F) @ (S @ np.linalg.pinv(H.T)),
                               rtol=1e-10, atol=1e-14)
    assert err > 0


def test_sparse_input_error_formula():
    A = sp.random(40, 30, density=0.2, random_state=0, format="csr")
    F = A[:, :5]
    H = A[:6, :].T.tocsr()
    mf = projkit.meta_factorize(A, F, H)
    dense = projkit.meta_factorize(A.toarray(), F.toarray(), H.toarray())
    np.testing.assert_allclose(mf.G, dense.G, atol=1e-12)
    np.testing.assert_allclose(mf.to_dense(), dense.to_dense(), atol=1e-12)
    np.testing.assert_allclose(mf.error(), dense.error(), rtol=1e-6)
    np.testing.assert_allclose(mf.error(relative=True),
                               dense.error() / np.linalg.norm(A.toarray()), rtol=1e-6)


def test_complex_meta():
    rng = np.random.default_rng(14)
    A = (rng.standard_normal((10, 2)) + 1j * rng.standard_normal((10, 2))) @ rng.standard_normal(
        (2, 8))
    mf = projkit.meta_factorize(A, A[:, :2], A[:2, :].conj().T)
    np.testing.assert_allclose(mf.to_dense(), A, atol=1e-10)


@settings(max_examples=20, deadline=None)
@given(m=st.integers(4, 10), n=st.integers(4, 10), k=st.integers(1, 3), seed=st.integers(0, 50))
def test_hypothesis_reconstruction_identity(m, n, k, seed):
    A = low_rank(m, n, k, seed)
    F = A @ rand((n, k), seed + 100)
    H = A.T @ rand((m, k), seed + 200)
    mf = projkit.meta_factorize(A, F, H, B=rand((m, k + 1), seed + 300), D=rand((n, k), seed + 4))
    scale = max(1.0, np.abs(A).max())
    np.testing.assert_allclose(mf.to_dense(), A, atol=1e-7 * scale)


def test_meta_bad_input():
    A = rand((10, 8), 15)
    with pytest.raises(ValueError, match="F: expected 10 rows"):
        projkit.meta_factorize(A, rand((9, 2), 1), rand((8, 2), 2))
    with pytest.raises(ValueError, match="H: expected 8 rows"):
        projkit.meta_factorize(A, rand((10, 2), 1), rand((10, 2), 2))
    with pytest.raises(ValueError, match="B: expected 10 rows"):
        projkit.meta_factorize(A, rand((10, 2), 1), rand((8, 2), 2), B=rand((8, 2), 3))
    with pytest.raises(ValueError, match="D: expected 8 rows"):
        projkit.meta_factorize(A, rand((10, 2), 1), rand((8, 2), 2), D=rand((10, 2), 3))
    bad = A.copy()
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        projkit.meta_factorize(bad, rand((10, 2), 1), rand((8, 2), 2))
    with pytest.raises(ValueError, match="rtol"):
        projkit.meta_factorize(A, rand((10, 2), 1), rand((8, 2), 2), rtol=-1)


# ------------------------------------------------------------------------------------------- pinv


@pytest.mark.parametrize(
    "m,n,k",
    [(12, 7, 7), (7, 12, 7), (9, 9, 9), (12, 7, 3), (7, 12, 2), (9, 9, 5), (1, 5, 1), (5, 1, 1)],
    ids=["tall", "wide", "square", "tall-deficient", "wide-deficient", "square-deficient",
         "row", "column"],
)
def test_pinv_equals_numpy(xp, dtype, m, n, k):
    A = low_rank(m, n, k, 16, dtype)
    P = to_host(projkit.pinv(xp.asarray(A)))
    R = np.linalg.pinv(A, rtol=None)  # numpy's Array-API default cutoff max(m, n)·eps
    assert P.dtype == dtype
    np.testing.assert_allclose(P, R, atol=100 * tol(dtype) * np.abs(R).max())


def test_pinv_penrose_conditions_complex():
    rng = np.random.default_rng(17)
    A = (rng.standard_normal((8, 3)) + 1j * rng.standard_normal((8, 3))) @ (
        rng.standard_normal((3, 6)) + 1j * rng.standard_normal((3, 6)))
    X = projkit.pinv(A)
    np.testing.assert_allclose(A @ X @ A, A, atol=1e-10)
    np.testing.assert_allclose(X @ A @ X, X, atol=1e-10)
    np.testing.assert_allclose((A @ X).conj().T, A @ X, atol=1e-10)
    np.testing.assert_allclose((X @ A).conj().T, X @ A, atol=1e-10)
    np.testing.assert_allclose(X, np.linalg.pinv(A, rtol=None), atol=1e-10)


def test_pinv_zero_rtol_and_zero_matrix():
    A = np.diag([1.0, 1e-14, 0.0])  # default cutoff 3·eps ≈ 6.7e-16 keeps 1e-14
    np.testing.assert_allclose(projkit.pinv(A), np.diag([1.0, 1e14, 0.0]))
    np.testing.assert_allclose(projkit.pinv(A, rtol=1e-12), np.diag([1.0, 0.0, 0.0]))
    np.testing.assert_array_equal(projkit.pinv(np.zeros((3, 2))), np.zeros((2, 3)))
    assert projkit.pinv(np.arange(6).reshape(2, 3)).dtype == np.float64


def test_pinv_bad_input():
    with pytest.raises(TypeError, match="sparse"):
        projkit.pinv(sp.eye(3))
    with pytest.raises(ValueError, match="2-D"):
        projkit.pinv(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        projkit.pinv(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="rtol"):
        projkit.pinv(np.eye(2), rtol=-0.5)


# ------------------------------------------------------------------- every engine (NumPy, CuPy)


def test_projector_meta_pinv_on_device(xp):
    rng = np.random.default_rng(1)
    F, B = rng.standard_normal((30, 4)), rng.standard_normal((30, 6))
    P = projkit.Projector(xp.asarray(F), xp.asarray(B))
    ref = F @ np.linalg.pinv(B.T @ F) @ B.T
    np.testing.assert_allclose(to_host(P.matrix()), ref, atol=1e-10)
    X = rng.standard_normal((30, 3))
    np.testing.assert_allclose(to_host(P @ xp.asarray(X)), ref @ X, atol=1e-10)
    A = rng.standard_normal((20, 3)) @ rng.standard_normal((3, 15))
    np.testing.assert_allclose(to_host(projkit.pinv(xp.asarray(A))),
                               np.linalg.pinv(A, rtol=None), atol=1e-10)
    mf = projkit.meta_factorize(xp.asarray(A), xp.asarray(A[:, :3]), xp.asarray(A[:3].T))
    np.testing.assert_allclose(to_host(mf.to_dense()), A, atol=1e-10)


def test_projectors_pass_the_dot_test(xp, dtype):
    """⟨P x, y⟩ = ⟨x, Pᵀ y⟩ for the column and row projectors, oblique and orthogonal."""
    m, n = 15, 12
    A = rand((m, n), 20, dtype)
    F, H = rand((m, 3), 21, dtype), rand((n, 4), 22, dtype)
    B, D = rand((m, 5), 23, dtype), rand((n, 6), 24, dtype)
    for kw in ({}, {"B": xp.asarray(B), "D": xp.asarray(D)}):
        mf = projkit.meta_factorize(*(xp.asarray(M) for M in (A, F, H)), **kw)
        for P in (mf.column_projector, mf.row_projector):
            check_adjoint(P, xp=xp, dtype=dtype)
