"""Tests for projkit.Projector: projector identities, range/null space, transposes, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import projkit
from projkit import Projector
from projkit.testing import check_adjoint
from tests._helpers import fp_tol
from tests.conftest import to_host, tol


def rand(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def ref_oblique(F, B):
    return F @ np.linalg.pinv(B.conj().T @ F) @ B.conj().T


@pytest.mark.parametrize("m,k,kp", [(20, 4, 4), (20, 4, 7), (15, 6, 9)])
def test_oblique_matches_formula_and_is_idempotent(xp, dtype, m, k, kp):
    F, B = rand((m, k), 0, dtype), rand((m, kp), 1, dtype)
    P = Projector(xp.asarray(F), xp.asarray(B))
    M = to_host(P.matrix())
    # P = F (BᵀF)⁺ Bᵀ: the error is c·m·eps·κ(BᵀF)κ(F) relative to ‖P‖ (Higham §19–20)
    F64, B64 = F.astype(float), B.astype(float)
    t = fp_tol(dtype, cond=np.linalg.cond(B64.T @ F64) * np.linalg.cond(F64), n=m)
    scale = np.abs(M).max()
    np.testing.assert_allclose(M, ref_oblique(F64, B64), atol=t * scale)
    np.testing.assert_allclose(M @ M, M, atol=t * scale)  # P² = P
    assert P.rank == k and P.shape == (m, m) and P.dtype == dtype
    # range: P F = F (projector equation F Yᵀ F = F); null space: range(B)^⊥
    np.testing.assert_allclose(to_host(P @ xp.asarray(F)), F, atol=t * scale * np.abs(F).max())
    N = np.linalg.svd(B64)[0][:, kp:]  # orthonormal basis of range(B)^⊥
    np.testing.assert_allclose(to_host(P @ xp.asarray(N.astype(dtype))), 0, atol=t * scale)


def test_orthogonal_projector_properties(dtype):
    F = rand((30, 5), 2, dtype)
    P = Projector(F)
    M = P.matrix()
    Q = np.linalg.qr(F.astype(float))[0]
    np.testing.assert_allclose(M, Q @ Q.T, atol=100 * tol(dtype))
    np.testing.assert_allclose(M, M.T, atol=100 * tol(dtype))
    assert P.orthogonal and P.rank == 5
    X = rand((30, 3), 3, dtype)
    np.testing.assert_allclose(P @ X, M @ X, atol=100 * tol(dtype))
    np.testing.assert_allclose(X.T @ P, X.T @ M, atol=100 * tol(dtype))


def test_complement():
    F, B = rand((12, 3), 4), rand((12, 3), 5)
    P = Projector(F, B)
    C = P.complement()
    np.testing.assert_allclose(C.matrix(), np.eye(12) - P.matrix(), atol=1e-12)
    np.testing.assert_allclose(C.matrix() @ C.matrix(), C.matrix(), atol=1e-10)
    assert C.rank == 9
    np.testing.assert_allclose(C @ F, 0, atol=1e-10)  # range(P) is the null space of I − P
    np.testing.assert_allclose(C.complement().matrix(), P.matrix(), atol=1e-12)
    x = rand(12, 6)
    np.testing.assert_allclose(P @ x + C @ x, x, atol=1e-12)


def test_transpose_and_adjoint():
    F, B = rand((10, 3), 6), rand((10, 4), 7)
    P = Projector(F, B)
    np.testing.assert_allclose(P.T.matrix(), P.matrix().T, atol=1e-12)
    np.testing.assert_allclose(P.H.matrix(), P.matrix().T, atol=1e-12)
    np.testing.assert_allclose(P.complement().T.matrix(), np.eye(10) - P.matrix().T, atol=1e-12)
    # dot test ⟨P x, y⟩ = ⟨x, Pᵀ y⟩
    x, y = rand(10, 8), rand(10, 9)
    assert np.isclose((P @ x) @ y, x @ (P.T @ y))


def test_complex_projector():
    rng = np.random.default_rng(8)
    F = rng.standard_normal((10, 3)) + 1j * rng.standard_normal((10, 3))
    B = rng.standard_normal((10, 3)) + 1j * rng.standard_normal((10, 3))
    P = Projector(F, B)
    np.testing.assert_allclose(P.matrix(), ref_oblique(F, B), atol=1e-10)
    np.testing.assert_allclose(P.H.matrix(), P.matrix().conj().T, atol=1e-10)
    np.testing.assert_allclose(P.T.matrix(), P.matrix().T, atol=1e-10)
    x = rng.standard_normal((4, 10)) + 0j
    np.testing.assert_allclose(x @ P, x @ P.matrix(), atol=1e-10)


def test_rank_deficient_basis():
    F = rand((20, 3), 9)
    F = np.hstack([F, F[:, :1] + F[:, 1:2]])  # rank 3 of 4 columns
    P = Projector(F)
    assert P.rank == 3
    np.testing.assert_allclose(P @ F, F, atol=1e-10)
    Pb = Projector(F, rand((20, 5), 10))
    assert Pb.rank == 3
    np.testing.assert_allclose(Pb.matrix() @ Pb.matrix(), Pb.matrix(), atol=1e-10)
    np.testing.assert_allclose(Pb @ F, F, atol=1e-10)


def test_onto_and_vectors_and_sparse():
    F, B = rand((15, 2), 11), rand((15, 2), 12)
    P = Projector.onto(F, along=B)
    np.testing.assert_allclose(P.matrix(), ref_oblique(F, B), atol=1e-12)
    v = rand(15, 13)
    np.testing.assert_allclose(P @ v, P.matrix() @ v, atol=1e-12)
    np.testing.assert_allclose(v @ P, v @ P.matrix(), atol=1e-12)
    Ps = Projector(sp.csr_matrix(F), sp.csr_matrix(B))
    np.testing.assert_allclose(Ps.matrix(), P.matrix(), atol=1e-12)
    Xs = sp.random(15, 4, density=0.3, random_state=0, format="csr")
    np.testing.assert_allclose(P @ Xs, P.matrix() @ Xs.toarray(), atol=1e-12)
    np.testing.assert_allclose(P.complement() @ Xs, (np.eye(15) - P.matrix()) @ Xs.toarray(),
                               atol=1e-12)
    op = P.as_linear_operator()
    np.testing.assert_allclose(op @ v, P @ v)


def test_from_factorization():
    rng = np.random.default_rng(14)
    A = rng.standard_normal((20, 4)) @ rng.standard_normal((4, 15))
    svd = projkit.rsvd(A, 4, rng=0)
    Pc = Projector.from_factorization(svd)
    Pr = Projector.from_factorization(svd, side="row")
    np.testing.assert_allclose(Pc @ A, A, atol=1e-10)
    np.testing.assert_allclose(A @ Pr, A, atol=1e-10)
    Q, R = np.linalg.qr(A[:, :4])
    np.testing.assert_allclose(Projector.from_factorization((Q, R)).matrix(), Q @ Q.T)
    with pytest.raises(TypeError, match="fact"):
        Projector.from_factorization(object())
    with pytest.raises(ValueError, match="side"):
        Projector.from_factorization(svd, side="diag")


@settings(max_examples=25, deadline=None)
@given(m=st.integers(3, 12), k=st.integers(1, 3), extra=st.integers(0, 3), seed=st.integers(0, 99))
def test_hypothesis_projector_identities(m, k, extra, seed):
    k = min(k, m)
    kp = min(k + extra, m)
    F, B = rand((m, k), seed), rand((m, kp), seed + 1000)
    P = Projector(F, B)
    M = P.matrix()
    scale = max(1.0, np.abs(M).max())
    np.testing.assert_allclose(M @ M, M, atol=1e-8 * scale**2)
    np.testing.assert_allclose(P @ F, F, atol=1e-8 * scale * np.abs(F).max())


def test_bad_input():
    F = rand((10, 2), 15)
    with pytest.raises(ValueError, match="B: expected 10 rows"):
        Projector(F, rand((9, 2), 16))
    with pytest.raises(ValueError, match="2-D"):
        Projector(np.ones(5))
    bad = F.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Projector(bad)
    P = Projector(F)
    with pytest.raises(ValueError, match="X: expected shape"):
        P @ np.ones((9, 2))
    with pytest.raises(ValueError, match="rtol"):
        Projector(F, rtol=-1.0)
    with pytest.raises(TypeError):
        Projector(None)


@pytest.mark.parametrize("oblique", [True, False])
@pytest.mark.parametrize("complement", [False, True])
def test_check_adjoint(xp, dtype, oblique, complement):
    # the dot test ⟨P x, y⟩ = ⟨x, Pᵀ y⟩ through P.T, on every engine
    F, B = rand((25, 4), 30, dtype), rand((25, 6), 31, dtype)
    P = Projector(xp.asarray(F), xp.asarray(B) if oblique else None)
    P = P.complement() if complement else P
    check_adjoint(P, xp=xp)
    check_adjoint(P.T, xp=xp)


def test_check_adjoint_complex():
    # complex P: the adjoint is P.H (⟨P x, y⟩ = ⟨x, Pᴴ y⟩ with complex test blocks)
    rng = np.random.default_rng(32)
    F = rng.standard_normal((18, 3)) + 1j * rng.standard_normal((18, 3))
    B = rng.standard_normal((18, 5)) + 1j * rng.standard_normal((18, 5))
    P = Projector(F, B)
    for op in (P, P.complement()):
        check_adjoint(op, adjoint=lambda Y, op=op: op.H @ Y)
        x = rng.standard_normal((18, 2)) + 1j * rng.standard_normal((18, 2))
        y = rng.standard_normal((18, 2)) + 1j * rng.standard_normal((18, 2))
        np.testing.assert_allclose(np.vdot(y, op @ x), np.vdot(op.H @ y, x), rtol=1e-12)
