import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import projkit
from projkit.sketching import _linear_xp as LX
from projkit.sketching import linear as L
from projkit.testing import check_adjoint
from tests._helpers import assert_never_densified
from tests.conftest import to_host, tol

METHODS = list(L.LINEAR_METHODS)
RNG = np.random.default_rng(1234)
A_DENSE = RNG.standard_normal((257, 6))  # 257: not a power of two (SRHT pads to 512)
A_SPARSE = sp.random(257, 6, density=0.2, rng=np.random.default_rng(5), format="csr")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_sketch_equals_operator_times_A(method, sparse, dtype):
    # sketch() applies S with the engine kernels; S.toarray() forms S by separate code (the
    # vectorized generator for the dense families, the CSR generator for the sparse ones), so
    # the two agree only if both build the S the key defines. (Comparing with ``S @ A`` would
    # run the very kernel sketch() runs.)
    A = (A_SPARSE if sparse else A_DENSE).astype(dtype)
    sk = projkit.sketch(A, 40, method=method, rng=17)
    S = projkit.sketch_operator(257, 40, method=method, rng=17, dtype=dtype)
    dense = A.toarray() if sparse else A
    Sd = S.toarray()
    assert sk.matrix.dtype == dtype and Sd.dtype == dtype
    assert sk.matrix.shape == (40, 6) and sk.key == 17 and sk.n_rows == 257
    # a sum of n = 257 products: |error| ≤ n·eps·(|S||A|) (Higham §3.5), with a factor 4
    bound = 4 * 257 * np.finfo(dtype).eps * (np.abs(Sd).astype(float) @ np.abs(dense))
    assert np.all(np.abs(sk.matrix - Sd.astype(float) @ dense) <= bound)
    # the distribution's structure, read off the formed S
    if method == "countsketch":
        assert np.all(np.count_nonzero(Sd, axis=0) == 1)
        np.testing.assert_array_equal(np.abs(Sd).sum(axis=0), 1.0)
    elif method == "sparse_sign":
        s = S.options.get("nnz_per_column", None) or np.count_nonzero(Sd[:, 0])
        assert np.all(np.count_nonzero(Sd, axis=0) == s)
        np.testing.assert_allclose(np.abs(Sd[Sd != 0]), 1 / np.sqrt(s), rtol=tol(dtype))
    elif method == "srht":
        # S = m^{-1/2} R H D: every entry is ±1/√m
        np.testing.assert_allclose(np.abs(Sd), 1 / np.sqrt(40), rtol=tol(dtype))


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


# Variance bound used by the unbiasedness tests, fixed in advance (not estimated from the draws):
# for every method here E‖(SA)ᵀ(SB) − AᵀB‖²_F ≤ (C/m)‖A‖²_F‖B‖²_F. Gaussian: exactly
# (‖A‖²‖B‖² + ‖AᵀB‖²)/m ≤ 2/m; CountSketch and sparse sign: ≤ 2/m; very sparse RP adds
# (1/p − 3)Σ_k‖a_k‖²‖b_k‖²/m (Li et al. 2006, Lemma 1) and the SRHT a fourth-moment term of
# the same order, both ≤ 1/m for the dense, well-spread data below; so C = 3 for every method.
# The mean of R independent estimates then has E‖mean − AᵀB‖² ≤ C‖A‖²‖B‖²/(mR); it is close
# to Gaussian (CLT), and for a Gaussian vector P(‖Z‖ > 4·(E‖Z‖²)^½) ≤ e^{-9/2} ≈ 0.011
# (Gaussian concentration of the norm). The keys are fixed, so each test is deterministic.
C_VAR = 3.0


def _aligned_pair(n, seed):
    """A (n × 4) and B (n × 3) sharing one dominant direction: ‖AᵀB‖_F ≈ 0.96‖A‖_F‖B‖_F, so a
    zero estimate (error ‖AᵀB‖) or a ×1.5 one (error ≥ 0.5‖AᵀB‖ on average) is far off."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n)
    A = np.outer(u, [1.0, 2.0, -1.5, 3.0]) + 0.3 * rng.standard_normal((n, 4))
    B = np.outer(u, [1.0, -2.0, 0.5]) + 0.3 * rng.standard_normal((n, 3))
    return A, B


@pytest.mark.parametrize("method", METHODS)
def test_expected_gram_is_identity(method):
    # E[SᵀS] = I (A = B = I_n in the bound above, where C = 2 already holds: Gaussian
    # (n² + n)/m, CountSketch n(n − 1)/m, very sparse n(n − 1)/m + n(1/p − 1)/m, ...):
    # ‖mean − I‖_F ≤ 4(2n²/(mR))^½ = 1.13 while ‖I‖_F = 3.46, so zeros (3.46) and ×1.5 (1.73) fail
    n, m, reps = 12, 6, 600
    grams = np.array([S.T @ S for S in (
        projkit.sketch_operator(n, m, method=method, rng=key).toarray() for key in range(reps))])
    tol_f = 4 * np.sqrt(2 * n * n / (m * reps))
    assert np.linalg.norm(grams.mean(axis=0) - np.eye(n)) <= tol_f


@pytest.mark.parametrize("method", METHODS)
def test_approx_matmul_unbiased(method):
    A, B = _aligned_pair(60, 3)
    exact = A.T @ B
    m, reps = 8, 300
    ests = np.array([projkit.approx_matmul(projkit.sketch(A, m, method=method, rng=k),
                                           projkit.sketch(B, m, method=method, rng=k))
                     for k in range(reps)])
    # 4 (C/(mR))^½ ‖A‖‖B‖ = 0.14‖A‖‖B‖ < 0.5‖AᵀB‖ ≈ 0.48‖A‖‖B‖: rejects zeros and ×1.5
    # (observed ‖mean − AᵀB‖ is 0.1–0.46 of the tolerance over the methods)
    tol_f = 4 * np.sqrt(C_VAR / (m * reps)) * np.linalg.norm(A) * np.linalg.norm(B)
    assert np.linalg.norm(ests.mean(axis=0) - exact) <= tol_f


@pytest.mark.parametrize("method", METHODS)
def test_matmul_error_bound_fixed_seeds(method):
    """Markov on the variance bound: ‖(SA)ᵀ(SB) − AᵀB‖_F ≤ (C/(mδ))^½‖A‖_F‖B‖_F with
    probability ≥ 1 − δ; δ = 0.05 and m = 800 make the bound 0.27‖A‖‖B‖, below the error of a
    zero (0.96‖A‖‖B‖) or ×1.5 (≈ 0.48‖A‖‖B‖) answer. Observed worst ratio to the bound
    0.2–0.43 over the methods."""
    n, m = 2000, 800
    A, B = _aligned_pair(n, 7)
    bound = np.sqrt(C_VAR / (m * 0.05)) * np.linalg.norm(A) * np.linalg.norm(B)
    assert np.linalg.norm(A.T @ B) > 3 * bound
    for seed in range(10):
        est = projkit.approx_matmul(projkit.sketch(A, m, method=method, rng=seed),
                                    projkit.sketch(B, m, method=method, rng=seed))
        assert np.linalg.norm(est - A.T @ B) <= bound


@pytest.mark.parametrize("method", METHODS)
def test_distances_preserved_jl(method):
    """Johnson–Lindenstrauss: the 190 pairwise distances of 20 points in R^2000 keep their
    squared length within 1 ± ε after a sketch to m = 400 rows. For the Gaussian sketch
    P(|‖Sx‖²/‖x‖² − 1| > ε) ≤ 2exp(−(ε²/2 − ε³/3)m/2) (Dasgupta & Gupta 2003); ε = 0.4 gives
    1.6e-5 per pair, 3e-3 for all 190; the SRHT and the sparse families meet the same ε on
    this dense data (observed worst distortion 0.29 over 5 seeds). A zero sketch (distortion 1)
    and a ×1.5 one (1.25) fail."""
    n, m, k = 2000, 400, 20
    X = np.random.default_rng(7).standard_normal((n, k)) * np.linspace(1, 3, k)
    iu = np.triu_indices(k, 1)

    def sq_dists(Y):
        G = Y.T @ Y
        d = np.diag(G)
        return (d[:, None] + d[None, :] - 2 * G)[iu]

    d0 = sq_dists(X)
    for seed in range(5):
        d1 = sq_dists(projkit.sketch(X, m, method=method, rng=seed).matrix)
        assert np.max(np.abs(d1 / d0 - 1)) <= 0.4


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


@pytest.mark.parametrize("method", ["srht", "linf"])
def test_srht_streams_fairly_dense_sparse_input_in_bands(method, monkeypatch):
    """A sparse input dense enough for the fast transform (here 50 %) is transformed 256
    columns at a time, by the Numba engine and by the array-namespace one (CuPy's): no dense
    block of it wider than 256 columns is ever formed, and the answer is S @ A."""
    A = sp.random(1000, 600, density=0.5, rng=np.random.default_rng(2), format="csr")
    dense = A.toarray()
    p = L._params("srht", 50, 1000, 9, {})
    ref_srht = LX.apply(p, dense, np)
    ref = projkit.sketch(dense, 50, method=method, rng=9).matrix
    got = assert_never_densified(
        monkeypatch, lambda: projkit.sketch(A, 50, method=method, rng=9).matrix, A, thin=256,
        peak_fraction=None)
    np.testing.assert_allclose(got, ref, atol=1e-10)
    xp_out = assert_never_densified(monkeypatch, lambda: LX.apply(p, A, np), A, thin=256,
                                    peak_fraction=None)
    np.testing.assert_allclose(xp_out, ref_srht, atol=1e-10)


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


@pytest.mark.parametrize("size", [40, 300])  # split by columns (< 128 rows a band), by rows
@pytest.mark.parametrize("threads", [1, 2])
def test_gaussian_grid_over_threads_equals_formed_S(size, threads, monkeypatch):
    # the engine splits S into a grid of row bands × column ranges, one block per thread, and
    # tiles each block; small tiles here make every block several tiles long
    import numba

    import projkit.sketching._linear_numba as LN

    monkeypatch.setattr(LN, "_ROW_TILE_BYTES", 8 * 256 * 40)  # 256-column tiles
    A = np.random.default_rng(8).standard_normal((1500, 5))
    S = projkit.sketch_operator(1500, size, method="gaussian", rng=3).toarray()
    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        got = projkit.sketch(A, size, method="gaussian", rng=3).matrix
    finally:
        numba.set_num_threads(old)
    # a sum of n = 1500 products: |error| ≤ n·eps·(|S||A|) (Higham §3.5), with a factor 4
    bound = 4 * 1500 * np.finfo(np.float64).eps * (np.abs(S) @ np.abs(A))
    assert np.all(np.abs(got - S @ A) <= bound)
    assert not np.allclose(got, 0)
