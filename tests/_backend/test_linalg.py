"""The dense linear algebra layer: each routine against an exact reference, and the one failure
contract (LinAlgError) on every engine the machine has."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp

from projkit._backend import linalg
from projkit._backend.estimator import ParamsMixin
from projkit._backend.validation import check_input
from projkit.testing import check_adjoint
from tests.conftest import to_host


def _rand(shape, dtype, seed=0):
    g = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "c":
        return (g.standard_normal(shape) + 1j * g.standard_normal(shape)).astype(dtype)
    return g.standard_normal(shape).astype(dtype)


def test_eps_and_real_dtype():
    assert linalg.eps(np.float32) == np.finfo(np.float32).eps
    assert linalg.eps(np.complex64) == np.finfo(np.float32).eps
    assert linalg.eps(np.complex128) == linalg.eps(np.float64) == np.finfo(np.float64).eps
    assert linalg.real_dtype(np.complex64) is np.float32
    assert linalg.real_dtype(np.int64) is np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_svd_reconstructs_and_matches_lapack(xp, dtype):
    A = _rand((30, 12), dtype)
    U, s, Vh = linalg.svd(xp, xp.asarray(A))
    U, s, Vh = to_host(U), to_host(s), to_host(Vh)
    tol = 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12
    assert U.shape == (30, 12) and Vh.shape == (12, 12)
    np.testing.assert_allclose((U * s) @ Vh, A, atol=tol * np.linalg.norm(A))
    np.testing.assert_allclose(s, sla.svdvals(A), rtol=tol)


def test_svd_falls_back_to_gesvd_when_gesdd_fails(monkeypatch):
    calls = []
    real = sla.svd

    def fake(M, **kw):
        calls.append(kw["lapack_driver"])
        if kw["lapack_driver"] == "gesdd":
            raise np.linalg.LinAlgError("SVD did not converge")
        return real(M, **kw)

    monkeypatch.setattr(sla, "svd", fake)
    A = _rand((6, 4), np.float64)
    U, s, Vh = linalg.svd(np, A)
    assert calls == ["gesdd", "gesvd"]
    np.testing.assert_allclose((U * s) @ Vh, A, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_cholesky_lower_factor(xp, dtype, order):
    G = _rand((10, 10), np.float64)
    M = np.asarray(G @ G.T + 10 * np.eye(10), dtype=dtype, order=order)
    L = to_host(linalg.cholesky(xp, xp.asarray(M)))
    np.testing.assert_allclose(np.tril(L), L)  # clean=True: the upper triangle is zero
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(L @ L.T, M, rtol=tol, atol=tol * 20)
    np.testing.assert_allclose(L, np.linalg.cholesky(M.astype(np.float64)), rtol=10 * tol,
                               atol=10 * tol)


@pytest.mark.parametrize("M", [np.diag([1.0, -1.0, 2.0]), np.zeros((3, 3)),
                               np.array([[1.0, 2.0], [2.0, 1.0]])])
def test_cholesky_raises_linalgerror_when_not_positive_definite(xp, M):
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        linalg.cholesky(xp, xp.asarray(M))


def test_cholesky_complex_hermitian():
    G = _rand((5, 5), np.complex128)
    M = G @ G.conj().T + np.eye(5)
    L = linalg.cholesky(np, M)
    np.testing.assert_allclose(L @ L.conj().T, M, atol=1e-12)


def test_solve_triangular_and_cho_solve(xp):
    G = _rand((8, 8), np.float64)
    M = G @ G.T + 8 * np.eye(8)
    b = _rand((8, 3), np.float64, 1)
    L = np.linalg.cholesky(M)
    for trans, op in (("N", L), ("T", L.T)):
        x = to_host(linalg.solve_triangular(xp, xp.asarray(L), xp.asarray(b), trans=trans))
        np.testing.assert_allclose(op @ x, b, atol=1e-12)
    x = to_host(linalg.cho_solve(xp, xp.asarray(L), xp.asarray(b)))
    np.testing.assert_allclose(M @ x, b, atol=1e-11)


def test_solve_triangular_generic_namespace():
    strict = pytest.importorskip("array_api_strict")
    L = np.tril(_rand((5, 5), np.float64)) + 5 * np.eye(5)
    b = _rand((5, 2), np.float64, 2)
    x = linalg.solve_triangular(strict, strict.asarray(L), strict.asarray(b), trans="T")
    np.testing.assert_allclose(L.T @ np.asarray(x), b, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_orthonormal_bases_span_and_orthonormality(xp, dtype):
    Y = _rand((200, 15), dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for f in (linalg.cholqr2, linalg.orth, linalg.orth_householder):
        Q = to_host(f(xp, xp.asarray(Y.copy())))
        np.testing.assert_allclose(Q.T @ Q, np.eye(15), atol=tol)
        # the span of Y: Y = Q Qᵀ Y to rounding
        np.testing.assert_allclose(Q @ (Q.T @ Y), Y, atol=20 * tol * np.abs(Y).max())


def test_cholqr2_declines_rank_deficient_and_orth_falls_back():
    g = np.random.default_rng(3)
    Y = g.standard_normal((100, 4)) @ g.standard_normal((4, 8))  # rank 4 of 8 columns
    assert linalg.cholqr2(np, Y) is None
    Q = linalg.orth(np, Y.copy())
    np.testing.assert_allclose(Q @ (Q.T @ Y), Y, atol=1e-10)


def test_numerical_rank_and_pinv_svd(xp):
    g = np.random.default_rng(4)
    A = g.standard_normal((12, 3)) @ g.standard_normal((3, 9))  # rank 3
    s = sla.svdvals(A)
    assert linalg.numerical_rank(xp, xp.asarray(s), A.shape, None, A.dtype) == 3
    assert linalg.numerical_rank(xp, xp.asarray(s), A.shape, 2.0, A.dtype) == 0
    assert linalg.numerical_rank(xp, xp.asarray(np.zeros(3)), A.shape, None, A.dtype) == 0
    P = to_host(linalg.pinv_svd(xp, xp.asarray(A)))
    np.testing.assert_allclose(P, np.linalg.pinv(A), atol=1e-10)


def test_conj_t_dense_and_sparse():
    A = _rand((3, 4), np.complex128)
    np.testing.assert_array_equal(linalg.conj_t(np, A), A.conj().T)
    S = sp.csr_matrix(A)
    np.testing.assert_array_equal(linalg.conj_t(np, S).toarray(), A.conj().T)
    R = A.real.copy()
    assert linalg.conj_t(np, R).base is R  # real data: a view, no copy


def test_csr_builders():
    data, indices, indptr = np.array([1.0, 2.0]), np.array([0, 2]), np.array([0, 1, 2])
    C = linalg.csr(np, (data, indices, indptr), shape=(2, 3))
    np.testing.assert_array_equal(C.toarray(), [[1, 0, 0], [0, 0, 2]])
    assert linalg.csr(np, C) is C
    assert linalg.csr(np, C.tocoo()).format == "csr"
    assert linalg.csr(np, np.eye(2)).nnz == 2
    assert linalg.sparse_module(np) is sp


def test_check_input_opens_and_converts_back():
    A = np.arange(6.0).reshape(2, 3)
    x, xp, back = check_input(A, name="A")
    assert x is A and xp is np and back(x) is x
    with pytest.raises(ValueError, match="A: contains NaN"):
        check_input(np.array([[np.nan]]), name="A")
    with pytest.raises(TypeError, match="B: expected an array"):
        check_input(None, name="B")


class _Est(ParamsMixin):
    def __init__(self, alpha=1.0, *, mode="a", rng=None):
        self.alpha, self.mode, self.rng = alpha, mode, rng


def test_params_mixin_protocol():
    e = _Est(2.0)
    assert e.get_params() == {"alpha": 2.0, "mode": "a", "rng": None}
    assert e.set_params(mode="b") is e and e.mode == "b"
    assert repr(e) == "_Est(alpha=2.0, mode='b')"
    with pytest.raises(ValueError, match="invalid parameter 'beta' for estimator _Est"):
        e.set_params(beta=1)
    sklearn = pytest.importorskip("sklearn")
    c = sklearn.base.clone(e)
    assert c.get_params() == e.get_params() and c is not e


def test_check_adjoint_accepts_true_adjoints_and_rejects_wrong_ones():
    A = _rand((7, 5), np.float64)
    assert check_adjoint(A) < 1e-14
    assert check_adjoint(sp.random(40, 30, density=0.1, format="csr",
                                   rng=np.random.default_rng(0))) < 1e-14
    with pytest.raises(AssertionError, match="differ"):
        check_adjoint(A, adjoint=lambda y: 1.5 * (A.T @ y))
    with pytest.raises(AssertionError, match="differ"):
        check_adjoint(A, adjoint=lambda y: np.zeros((5, y.shape[1])))
    with pytest.raises(AssertionError, match="shape"):
        check_adjoint(A, adjoint=lambda y: A @ np.ones((5, y.shape[1])))


def test_cython_address_is_numbas_and_needs_no_numba():
    # the LAPACK pointer is read from SciPy's capsule without importing Numba (0.2 s)
    import subprocess
    import sys

    from numba.extending import get_cython_function_address

    for name in ("dsyevr", "ssyevr"):
        assert linalg._cython_address("scipy.linalg.cython_lapack", name) == (
            get_cython_function_address("scipy.linalg.cython_lapack", name))
    with pytest.raises(KeyError):
        linalg._cython_address("scipy.linalg.cython_lapack", "no_such_routine")
    code = ("import sys, numpy as np; from projkit._backend import linalg; "
            "linalg.eigh_top(np.eye(3), 1); print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("n", "k"), [(300, 40), (33, 33), (1, 1)])
def test_eigh_top_is_scipys_syevr_bit_for_bit(dtype, n, k):
    # the same LAPACK call (ctypes, the GIL released) as SciPy's wrapper, so the same bits
    assert linalg._syevr("d" if dtype == np.float64 else "s") is not None  # no silent fallback
    H = np.random.default_rng(n).standard_normal((n, n + 7)).astype(dtype)
    G = H @ H.T
    G0 = G.copy()
    w, V = linalg.eigh_top(G, k)
    w_ref, V_ref = sla.eigh(G, subset_by_index=[n - k, n - 1], driver="evr", check_finite=False)
    assert w.dtype == V.dtype == dtype and V.shape == (n, k)
    assert np.array_equal(w, w_ref) and np.array_equal(V, V_ref)
    assert np.array_equal(G, G0)  # the input is copied, not overwritten
    # and they are eigenpairs (the comparison above could pass for two wrong answers)
    tol = 50 * n * np.finfo(dtype).eps * float(w[-1])
    assert np.abs(G @ V - V * w).max() <= tol


def _gemm_bound(A, B, k):
    # the standard GEMM error bound, |C - AB| <= gamma_k |A||B| with gamma_k ~ k eps (Higham,
    # Accuracy and Stability, 3.5), doubled for the accumulate case's one extra rounding
    return 2 * (k + 2) * np.finfo(A.dtype).eps * (np.abs(A).astype(np.float64)
                                                  @ np.abs(B).astype(np.float64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout_a", ["C", "F", "view"])
@pytest.mark.parametrize("layout_b", ["C", "F", "view"])
def test_gemm_into_matches_the_product_in_every_layout(dtype, layout_a, layout_b):
    assert linalg._gemm("d" if dtype == np.float64 else "s") is not None  # no silent fallback
    g = np.random.default_rng(3)

    def make(shape, layout):
        big = g.standard_normal((shape[0] + 9, shape[1] + 5)).astype(dtype)
        if layout == "view":  # a strided window of a larger array, neither C nor F
            return big[4 : 4 + shape[0], 2 : 2 + shape[1]]
        M = big[: shape[0], : shape[1]]
        return np.ascontiguousarray(M) if layout == "C" else np.asfortranarray(M)

    A, B = make((37, 53), layout_a), make((53, 29), layout_b)
    A0, B0 = A.copy(), B.copy()
    exact = A.astype(np.float64) @ B.astype(np.float64)
    C = np.full((37, 29), np.nan, dtype)  # beta = 0 must ignore what C held, NaN included
    linalg.gemm_into(A, B, C, accumulate=False)
    assert C.dtype == dtype and np.all(np.abs(C - exact) <= _gemm_bound(A, B, 53))
    C0 = g.standard_normal((37, 29)).astype(dtype)
    C1 = C0.copy()
    linalg.gemm_into(A, B, C1, accumulate=True)
    assert np.all(np.abs(C1 - (C0 + exact)) <= _gemm_bound(A, B, 53) + 2 * np.finfo(dtype).eps
                  * np.abs(C0))
    assert np.array_equal(A, A0) and np.array_equal(B, B0)
    # a wrong answer fails the bound: the product with one entry of A changed
    A2 = A.copy()
    A2[5, 7] += 1e-3
    C2 = np.empty((37, 29), dtype)
    linalg.gemm_into(A2, B, C2, accumulate=False)
    assert not np.all(np.abs(C2 - exact) <= _gemm_bound(A, B, 53))


@pytest.mark.parametrize(("m", "k", "n"), [(1, 5, 1), (5, 1, 3), (1, 1, 1), (3, 4, 1),
                                           (1, 4, 3), (0, 3, 2), (3, 0, 2)])
def test_gemm_into_degenerate_shapes(m, k, n):
    g = np.random.default_rng(m * 100 + k * 10 + n)
    A, B = g.standard_normal((m, k)), g.standard_normal((k, n))
    C = np.full((m, n), np.nan)
    linalg.gemm_into(A, B, C, accumulate=False)
    assert np.allclose(C, A @ B, rtol=1e-14, atol=1e-14)
    C = np.ones((m, n))
    linalg.gemm_into(A, B, C, accumulate=True)
    assert np.allclose(C, 1 + A @ B, rtol=1e-14, atol=1e-14)


def test_gemm_into_falls_back_and_checks_shapes():
    g = np.random.default_rng(0)
    A, B = g.standard_normal((6, 4)), g.standard_normal((4, 5))
    for A_, B_, C in [(A.astype(np.float32), B, np.empty((6, 5))),  # mixed dtypes
                      (A.astype(np.int64), B.astype(np.int64), np.empty((6, 5), np.int64)),
                      (A, B, np.empty((5, 6)).T),  # C column-major: matmul writes it
                      (np.broadcast_to(A[:1], (6, 4)), B, np.empty((6, 5)))]:  # zero stride
        linalg.gemm_into(A_, B_, C, accumulate=False)
        assert np.allclose(C, A_ @ B_)
    with pytest.raises(ValueError, match="shapes"):
        linalg.gemm_into(A, B.T, np.empty((6, 4)), accumulate=False)
    with pytest.raises(ValueError, match="shapes"):
        linalg.gemm_into(A, B, np.empty((6, 4)), accumulate=False)
