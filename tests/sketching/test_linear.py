import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import projkit
from projkit.sketching import _linear_xp as LX
from projkit.sketching import linear as L
from projkit.testing import check_adjoint
from tests.conftest import to_host, tol

METHODS = list(L.LINEAR_METHODS)
RNG = np.random.default_rng(1234)
A_DENSE = RNG.standard_normal((257, 6))  # 257: not a power of two (SRHT pads to 512)
A_SPARSE = sp.random(257, 6, density=0.2, rng=np.random.default_rng(5), format="csr")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_sketch_equals_operator_times_A(method, sparse, dtype):
    A = (A_SPARSE if sparse else A_DENSE).astype(dtype)
    sk = projkit.sketch(A, 40, method=method, rng=17)
    S = projkit.sketch_operator(257, 40, method=method, rng=17, dtype=dtype)
    dense = A.toarray() if sparse else A
    assert sk.matrix.dtype == dtype and S.toarray().dtype == dtype
    assert sk.matrix.shape == (40, 6) and sk.key == 17 and sk.n_rows == 257
    np.testing.assert_allclose(sk.matrix, S @ A, rtol=tol(dtype), atol=tol(dtype))
    np.testing.assert_allclose(sk.matrix, S.toarray() @ dense, rtol=10 * tol(dtype),
                               atol=10 * tol(dtype))


@pytest.mark.parametrize("method", METHODS)
def test_dot_test(method):
    S = projkit.sketch_operator(100, 30, method=method, rng=3)
    x = RNG.standard_normal((100, 2))
    y = RNG.standard_normal((30, 2))
    np.testing.assert_allclose(np.sum((S @ x) * y), np.sum(x * (S.T @ y)), rtol=1e-12)
    np.testing.assert_allclose(S.T @ y, S.toarray().T @ y, atol=1e-12)
    assert (S.T).shape == (100, 30) and S.T.T is S


@pytest.mark.parametrize("method", METHODS)
def test_check_adjoint(xp, method, dtype):
    """⟨Sx, y⟩ = ⟨x, Sᵀy⟩ on the operator's own engine, for a whole S and a block of one."""
    S = projkit.sketch_operator(300, 40, method=method, rng=7, dtype=dtype, xp=xp)
    check_adjoint(S, xp=xp, dtype=dtype)
    blk = projkit.sketch_operator(100, 40, method=method, rng=7, dtype=dtype, xp=xp,
                                  offset=150, n_total=300)
    check_adjoint(blk, xp=xp, dtype=dtype)


@pytest.mark.parametrize("method", METHODS)
def test_operator_on_device(xp, method):
    S_cpu = projkit.sketch_operator(1000, 64, method=method, rng=5)
    S_dev = projkit.sketch_operator(1000, 64, method=method, rng=5, xp=xp)
    np.testing.assert_allclose(to_host(S_dev.toarray()), S_cpu.toarray(), atol=1e-12)
    Y = xp.asarray(RNG.standard_normal((64, 3)))
    np.testing.assert_allclose(to_host(S_cpu.T @ Y), S_cpu.T @ to_host(Y), atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_vectorized_path_matches_kernels(method):
    """The array-namespace code (CuPy's path) gives the same S as the Numba kernels."""
    S = projkit.sketch_operator(300, 50, method=method, rng=2**63 + 5, offset=20, n_total=400)
    p = S._p
    X = RNG.standard_normal((300, 3))
    Y = RNG.standard_normal((50, 3))
    np.testing.assert_allclose(LX.apply(p, X, np), S @ X, atol=1e-12)
    np.testing.assert_allclose(LX.apply_adjoint(p, Y, np), S.T @ Y, atol=1e-12)
    if method in L._SPARSE_CODES:
        r, c, v = LX.sparse_columns(p, np)
        dense = sp.csr_matrix((v, (r, c)), shape=(50, 300)).toarray()
        np.testing.assert_array_equal(dense, S.toarray())


@pytest.mark.parametrize("method", METHODS)
def test_expected_gram_is_identity(method):
    # E[SᵀS] = I: over 400 keys every entry's mean is within 5 standard errors of I (the
    # standard error is estimated from the same draws; 300 entries, so a 5-sigma margin).
    n, m, reps = 24, 8, 400
    grams = np.array([(S.T @ S) for S in (
        projkit.sketch_operator(n, m, method=method, rng=key).toarray() for key in range(reps))])
    se = grams.std(axis=0) / np.sqrt(reps)
    assert np.all(np.abs(grams.mean(axis=0) - np.eye(n)) <= 5 * se + 1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_approx_matmul_unbiased(method):
    A = A_DENSE[:60, :3]
    B = RNG.standard_normal((60, 2))
    exact = A.T @ B
    ests = np.array([projkit.approx_matmul(projkit.sketch(A, 8, method=method, rng=k),
                                           projkit.sketch(B, 8, method=method, rng=k))
                     for k in range(300)])
    # standard error of the mean of 300 estimates; 5 standard errors (plus rounding)
    se = ests.std(axis=0) / np.sqrt(len(ests))
    assert np.all(np.abs(ests.mean(axis=0) - exact) <= 5 * se + 1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_matmul_error_bound_fixed_seeds(method):
    """JL-type bound: E‖(SA)ᵀ(SB) − AᵀB‖²_F ≤ (2/m)‖A‖²_F‖B‖²_F for these sketches, so by
    Markov the error exceeds sqrt(2/(mδ))‖A‖_F‖B‖_F with probability at most δ. With δ = 0.05
    every one of 20 fixed seeds must satisfy it (a failure here would be a 1-in-20 event per
    seed that the seeds happen not to show; they are fixed, so the test is deterministic)."""
    n, m = 2000, 200
    rng = np.random.default_rng(7)
    A = rng.standard_normal((n, 10)) * np.linspace(1, 5, 10)
    B = A @ rng.standard_normal((10, 4)) + 0.1 * rng.standard_normal((n, 4))
    bound = np.sqrt(2 / (m * 0.05)) * np.linalg.norm(A) * np.linalg.norm(B)
    for seed in range(20):
        est = projkit.approx_matmul(projkit.sketch(A, m, method=method, rng=seed),
                                    projkit.sketch(B, m, method=method, rng=seed))
        assert np.linalg.norm(est - A.T @ B) <= bound


@pytest.mark.parametrize("method", METHODS)
def test_reproducible(method):
    a = projkit.sketch(A_DENSE, 30, method=method, rng=9).matrix
    b = projkit.sketch(A_DENSE, 30, method=method, rng=9).matrix
    c = projkit.sketch(A_DENSE, 30, method=method, rng=10).matrix
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    g1 = projkit.sketch(A_DENSE, 30, method=method, rng=np.random.default_rng(4))
    g2 = projkit.sketch(A_DENSE, 30, method=method, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(g1.matrix, g2.matrix)
    assert g1.key == g2.key


@pytest.mark.parametrize("method", ["countsketch", "sparse_sign", "sparse", "gaussian", "srht"])
def test_sparse_input_never_densified(method, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("sparse input was densified")

    for cls in (sp.csr_matrix, sp.csr_array, sp.csc_matrix):
        monkeypatch.setattr(cls, "toarray", boom)
        monkeypatch.setattr(cls, "todense", boom)
    sk = projkit.sketch(A_SPARSE, 20, method=method, rng=1)
    assert isinstance(sk.matrix, np.ndarray)


@pytest.mark.parametrize("method", METHODS)
def test_merge_blocks_equals_whole(method):
    A = A_DENSE
    cuts = [0, 50, 51, 200, 257]
    parts = [projkit.sketch(A[a:b], 32, method=method, rng=21, offset=a, n_total=257)
             for a, b in zip(cuts, cuts[1:], strict=False)]
    whole = projkit.sketch(A, 32, method=method, rng=21)
    merged = projkit.merge_sketches(parts[::-1])
    np.testing.assert_allclose(merged.matrix, whole.matrix, atol=1e-12)
    assert merged.n_rows == 257 and merged.offset == 0
    # the merged sketch combines with a whole one
    projkit.approx_matmul(merged, whole)


def test_block_operator_is_a_column_slice():
    whole = projkit.sketch_operator(90, 10, method="srht", rng=4).toarray()
    blk = projkit.sketch_operator(30, 10, method="srht", rng=4, offset=40, n_total=90).toarray()
    np.testing.assert_allclose(blk, whole[:, 40:70])


@given(a=st.floats(-3, 3), b=st.floats(-3, 3), method=st.sampled_from(METHODS))
@settings(max_examples=25, deadline=None)
def test_linearity(a, b, method):
    S = projkit.sketch_operator(64, 16, method=method, rng=8)
    X = np.linspace(-1, 1, 128).reshape(64, 2)
    Y = np.cos(X)
    np.testing.assert_allclose(S @ (a * X + b * Y), a * (S @ X) + b * (S @ Y), atol=1e-11)


def test_float32_and_int_policy():
    A32 = A_DENSE.astype(np.float32)
    for method in METHODS:
        assert projkit.sketch(A32, 10, method=method, rng=0).matrix.dtype == np.float32
    Ai = (A_DENSE * 10).astype(np.int64)
    assert projkit.sketch(Ai, 10, rng=0).matrix.dtype == np.float64


def test_input_not_modified():
    A = A_DENSE.copy()
    for method in METHODS:
        projkit.sketch(A, 10, method=method, rng=0)
    np.testing.assert_array_equal(A, A_DENSE)


def test_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        projkit.sketch(np.array([[1.0], [np.nan]]), 1)
    with pytest.raises(ValueError, match="2-D"):
        projkit.sketch(np.ones(5), 2)
    with pytest.raises(ValueError, match="size"):
        projkit.sketch(A_DENSE, 0)
    with pytest.raises(ValueError, match="size: expected at most 257"):
        projkit.sketch(A_DENSE, 300)
    with pytest.raises(TypeError, match="size"):
        projkit.sketch(A_DENSE, 2.5)
    with pytest.raises(ValueError, match="method"):
        projkit.sketch(A_DENSE, 5, method="nope")
    with pytest.raises(TypeError, match="unexpected option"):
        projkit.sketch(A_DENSE, 5, method="gaussian", density=0.1)
    with pytest.raises(ValueError, match="density"):
        projkit.sketch(A_DENSE, 5, method="sparse", density=0.0)
    with pytest.raises(TypeError, match="rng"):
        projkit.sketch(A_DENSE, 5, rng=np.random.RandomState(0))
    S = projkit.sketch_operator(10, 3, rng=0)
    with pytest.raises(ValueError, match="X: expected 10 rows"):
        S @ np.ones((9, 2))
    with pytest.raises(ValueError, match="Y: expected 3 rows"):
        S.T @ np.ones((4, 2))
    with pytest.raises(TypeError, match="tosparse"):
        S.tosparse()
    with pytest.raises(ValueError, match=r"size: expected at most 10 \(the rows of the whole"):
        projkit.sketch_operator(10, 11, rng=0)
    with pytest.raises(ValueError, match="size: expected at most 30"):
        projkit.sketch_operator(10, 31, rng=0, offset=20, n_total=30)
    assert projkit.sketch_operator(10, 30, rng=0, n_total=30).shape == (30, 10)
    with pytest.raises(ValueError, match="size"):
        projkit.sketch_operator(10, 0, rng=0)
    xs = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="tosparse: no sparse format for array_api_strict"):
        projkit.sketch_operator(10, 3, method="countsketch", rng=0, xp=xs).tosparse()


def test_mismatched_sketches_raise():
    B = RNG.standard_normal((257, 2))
    sa = projkit.sketch(A_DENSE, 20, method="countsketch", rng=1)
    with pytest.raises(ValueError, match="key"):
        projkit.approx_matmul(sa, projkit.sketch(B, 20, method="countsketch", rng=2))
    with pytest.raises(ValueError, match="size"):
        projkit.approx_matmul(sa, projkit.sketch(B, 21, method="countsketch", rng=1))
    with pytest.raises(ValueError, match="method"):
        projkit.approx_matmul(sa, projkit.sketch(B, 20, method="gaussian", rng=1))
    with pytest.raises(ValueError, match="rows"):
        projkit.approx_matmul(sa, projkit.sketch(B[:200], 20, method="countsketch", rng=1))
    with pytest.raises(TypeError, match="Sketch"):
        projkit.approx_matmul(sa, np.ones((20, 2)))
    p1 = projkit.sketch(A_DENSE[:100], 20, method="countsketch", rng=1, offset=0, n_total=257)
    p2 = projkit.sketch(A_DENSE[50:], 20, method="countsketch", rng=1, offset=50, n_total=257)
    with pytest.raises(ValueError, match="overlap"):
        projkit.merge_sketches([p1, p2])
    with pytest.raises(ValueError, match="merge"):
        projkit.approx_matmul(p1, p1)
    with pytest.raises(ValueError, match="empty"):
        projkit.merge_sketches([])


def test_nbytes_counts_storage():
    sk = projkit.sketch(A_DENSE, 20, method="gaussian", rng=1)
    assert sk.nbytes == 20 * 6 * 8


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    A = torch.from_numpy(A_DENSE)
    sk = projkit.sketch(A, 20, method="srht", rng=3)
    assert isinstance(sk.matrix, torch.Tensor)
    np.testing.assert_allclose(sk.matrix.numpy(),
                               projkit.sketch(A_DENSE, 20, method="srht", rng=3).matrix)


@pytest.mark.parametrize("method", ["srht", "coordinated"])
def test_array_api_strict_in_and_out(method):
    xs = pytest.importorskip("array_api_strict")
    A = xs.asarray(A_DENSE)
    sk = projkit.sketch(A, 20, method=method, rng=3)
    W = projkit.approx_matmul(sk, sk)
    assert type(W) is type(A)
    ref = projkit.sketch(A_DENSE, 20, method=method, rng=3)
    np.testing.assert_allclose(np.asarray(W), projkit.approx_matmul(ref, ref), rtol=1e-12)
