"""Tests of projkit.SVDUpdater: exact references, orthonormality, accuracy bounds, errors.

References used:
* one Zha--Simon step is *exact* for the truncated SVD of the current approximation plus the
  update: ``svd_k([U S Vᵀ; E])``, ``svd_k([U S Vᵀ, E])``, ``svd_k(U S Vᵀ + D Eᵀ)`` -- the
  augmented bases contain both. So ``"sparse"`` and ``"zha-simon"`` (and ``"gkl"`` /
  ``"randomized"`` when the update has at most ``subspace`` new directions) must match a
  dense LAPACK SVD of that matrix to rounding.
* for a matrix of rank exactly ``k`` every update is exact.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import projkit
from projkit import SVDUpdater
from projkit._backend.linalg import sparse_module
from tests.conftest import to_host

METHODS = ["sparse", "zha-simon", "gkl", "randomized"]


def _orth_err(up):
    U, V = up.U, up.Vt.T
    k = up.rank
    return max(np.abs(U.T @ U - np.eye(k)).max(), np.abs(V.T @ V - np.eye(k)).max())


def _tsvd(M, k):
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    return U[:, :k], s[:k], Vt[:k]


def _lowrank(rng, m, n, k, dtype=np.float64):
    X = rng.standard_normal((m, k))
    Y = rng.standard_normal((n, k))
    return X, Y, (X @ Y.T).astype(dtype)


# ---------------------------------------------------------------------------------------------
# exactness


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sparse_updates", [False, True])
def test_exact_rank_k_mixed_sequence(method, sparse_updates):
    rng = np.random.default_rng(0)
    k = 5
    X, Y, A = _lowrank(rng, 110, 80, k)
    up = SVDUpdater(A[:60, :50], k, method=method, init="exact", rng=1)
    conv = sp.csr_matrix if sparse_updates else np.asarray
    up.add_rows(conv(A[60:90, :50]))
    up.add_columns(conv(A[:90, 50:]))
    up.add_rows(conv(A[90:, :]))
    D = X @ rng.standard_normal((k, 2))
    E = Y @ rng.standard_normal((k, 2))
    up.update(conv(D), conv(E))
    target = A + D @ E.T
    # rank(target) <= k: every projection step is exact (to rounding, ~1e-14 here)
    err = np.linalg.norm(target - up.svd.to_dense()) / np.linalg.norm(target)
    assert err < 1e-10
    assert _orth_err(up) < 1e-10
    np.testing.assert_allclose(up.s, np.linalg.svd(target, compute_uv=False)[:k], rtol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_one_step_matches_dense_reference(method):
    """Each kind of update equals the truncated SVD of (current approximation + update)."""
    rng = np.random.default_rng(2)
    k = 6
    A = sp.random(70, 50, density=0.1, random_state=3, format="csr")
    # subspace >= batch size: gkl / randomized then compute the exact basis too
    up = SVDUpdater(A, k, method=method, init="exact", subspace=8, rng=0)
    Ak = up.svd.to_dense()
    E = sp.random(5, 50, density=0.2, random_state=4, format="csr")
    up.add_rows(E)
    ref = _tsvd(np.vstack([Ak, E.toarray()]), k)
    np.testing.assert_allclose(up.s, ref[1], rtol=1e-10)
    Ak = up.svd.to_dense()
    np.testing.assert_allclose(Ak, (ref[0] * ref[1]) @ ref[2], atol=1e-10)

    F = sp.random(75, 4, density=0.3, random_state=5, format="csr")
    up.add_columns(F)
    ref = _tsvd(np.hstack([Ak, F.toarray()]), k)
    np.testing.assert_allclose(up.s, ref[1], rtol=1e-10)
    Ak = up.svd.to_dense()

    D = sp.random(75, 3, density=0.2, random_state=6, format="csr")
    G = rng.standard_normal((54, 3))
    up.update(D, G)
    ref = _tsvd(Ak + D.toarray() @ G.T, k)
    np.testing.assert_allclose(up.s, ref[1], rtol=1e-10)
    np.testing.assert_allclose(up.svd.to_dense(), (ref[0] * ref[1]) @ ref[2], atol=1e-10)
    assert _orth_err(up) < 1e-10


def test_sparse_equals_zha_simon_over_a_sequence():
    """The paper's method is Zha--Simon reorganized: same subspaces, same result."""
    A = sp.random(300, 200, density=0.04, random_state=7, format="csr")
    k = 12
    ups = {m: SVDUpdater(A[:120, :150], k, method=m, init="exact", rng=0)
           for m in ("sparse", "zha-simon")}
    for up in ups.values():
        for i in range(120, 300, 30):
            up.add_rows(A[i : i + 30, :150])
        up.add_columns(A[:, 150:])
    a, b = ups["sparse"], ups["zha-simon"]
    np.testing.assert_allclose(a.s, b.s, rtol=1e-9)
    np.testing.assert_allclose(a.svd.to_dense(), b.svd.to_dense(), atol=1e-9)


# ---------------------------------------------------------------------------------------------
# accuracy on general matrices


@pytest.mark.parametrize("method", METHODS)
def test_error_within_factor_of_optimal(method):
    """Projection updates are not optimal on general matrices: their error accumulates
    (Zha & Simon 1999). On this matrix (rows in 8 batches, then columns in 2) the measured
    ratio to the optimal rank-k error is 1.01 (sparse, zha-simon) to 1.02 (gkl, randomized);
    the bound 1.1 leaves room for BLAS differences."""
    A = sp.random(400, 300, density=0.03, random_state=1, format="csr")
    k = 15
    Ad = A.toarray()
    sv = np.linalg.svd(Ad, compute_uv=False)
    best = np.sqrt(np.sum(sv[k:] ** 2))
    up = SVDUpdater(A[:200, :250], k, method=method, init="exact", rng=0)
    for i in range(200, 400, 25):
        up.add_rows(A[i : i + 25, :250])
    up.add_columns(A[:, 250:270]).add_columns(A[:, 270:])
    err = np.linalg.norm(Ad - up.svd.to_dense())
    assert best <= err <= 1.1 * best
    assert _orth_err(up) < 1e-10


def test_init_rsvd_close_to_exact():
    rng = np.random.default_rng(0)
    _, _, A = _lowrank(rng, 120, 90, 8)
    A = A + 1e-3 * rng.standard_normal(A.shape)
    a = SVDUpdater(A[:80], 8, init="rsvd", rng=0).add_rows(A[80:])
    b = SVDUpdater(A[:80], 8, init="exact").add_rows(A[80:])
    np.testing.assert_allclose(a.s, b.s, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# numerical safeguards


def test_nearly_dependent_update_stays_orthonormal():
    """Rows within 1e-7 of span(V): the implicit Gram matrix loses ~14 digits of such
    directions; the loss estimate must catch it (measure, re-orthogonalize)."""
    rng = np.random.default_rng(3)
    k = 6
    _, Y, A = _lowrank(rng, 60, 40, k)
    A = A + 1e-2 * rng.standard_normal(A.shape)
    up = SVDUpdater(A, k, init="exact")
    V = up.Vt.T
    E = rng.standard_normal((10, k)) @ V.T + 1e-7 * rng.standard_normal((10, 40))
    for _ in range(5):
        up.add_rows(E)
    assert _orth_err(up) < 1e-10
    ref = _tsvd(np.vstack([A] + [E] * 5), k)
    # only the small residuals differ from the optimum; singular values agree closely
    np.testing.assert_allclose(up.s, ref[1], rtol=1e-6)


def test_new_rows_dominate_old_subspace():
    """Huge rows orthogonal to the old subspace make K_U singular: the extended
    decomposition must fold it rather than solve with it."""
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.standard_normal((30, 6)))
    A = rng.standard_normal((20, 3)) @ Q[:, :3].T  # rank 3, row space Q[:, :3]
    E = 1e3 * rng.standard_normal((10, 3)) @ Q[:, 3:].T  # orthogonal, far larger
    for method in METHODS:
        up = SVDUpdater(A, 3, method=method, init="exact").add_rows(E)
        full = np.vstack([A, E])
        ref = _tsvd(full, 3)
        np.testing.assert_allclose(up.s, ref[1], rtol=1e-10)
        np.testing.assert_allclose(up.svd.to_dense(), (ref[0] * ref[1]) @ ref[2], atol=1e-8)
        assert _orth_err(up) < 1e-10


def test_many_small_updates_stay_orthonormal():
    A = sp.random(600, 150, density=0.05, random_state=8, format="csr")
    up = SVDUpdater(A[:100], 10, init="exact")
    for i in range(100, 400, 5):
        up.add_rows(A[i : i + 5])
    assert up.n_rows == 400
    assert _orth_err(up) < 1e-10


# ---------------------------------------------------------------------------------------------
# queries, dtypes, inputs


def test_row_and_col_factors():
    A = sp.random(80, 60, density=0.1, random_state=0, format="csr")
    up = SVDUpdater(A[:50], 5, init="exact").add_rows(A[50:])
    U, V = up.U, up.Vt.T
    np.testing.assert_allclose(up.row_factor(7), U[7], atol=1e-14)
    np.testing.assert_allclose(up.row_factor(-1), U[-1], atol=1e-14)
    np.testing.assert_allclose(up.row_factor(np.array([0, 79, 3])), U[[0, 79, 3]], atol=1e-14)
    np.testing.assert_allclose(up.col_factor(59), V[59], atol=1e-14)
    with pytest.raises(IndexError, match="i"):
        up.row_factor(80)
    with pytest.raises(IndexError, match="j"):
        up.col_factor(np.array([60]))
    with pytest.raises(TypeError):
        up.row_factor(np.array([0.5]))
    assert (up.n_rows, up.n_cols, up.rank) == (80, 60, 5)
    assert "SVDUpdater" in repr(up)


@pytest.mark.parametrize("method", METHODS)
def test_float32_stays_float32(method):
    rng = np.random.default_rng(0)
    _, _, A = _lowrank(rng, 50, 40, 4, dtype=np.float32)
    up = SVDUpdater(A[:30], 4, method=method, init="exact", rng=0)
    up.add_rows(A[30:]).add_columns(np.ones((50, 2), dtype=np.float64))
    assert up.U.dtype == up.s.dtype == up.Vt.dtype == np.float32
    assert _orth_err(up) < 1e-4  # float32: ~1000 ulps
    full = np.hstack([A, np.ones((50, 2))])
    np.testing.assert_allclose(up.s, np.linalg.svd(full, compute_uv=False)[:4], rtol=1e-4)


def test_integer_input_promoted_and_inputs_untouched():
    A = sp.random(40, 30, density=0.2, random_state=0, format="csr")
    A.data[:] = np.round(A.data * 10)
    Ai = A.astype(np.int64)
    E = sp.random(5, 30, density=0.3, random_state=1, format="csr")
    E_copy = E.copy()
    up = SVDUpdater(Ai, 4, init="exact").add_rows(E)
    assert up.s.dtype == np.float64
    assert (E != E_copy).nnz == 0


def test_from_factors_and_returned_arrays_are_copies():
    rng = np.random.default_rng(0)
    U, s, Vt = np.linalg.svd(rng.standard_normal((10, 8)), full_matrices=False)
    up = SVDUpdater.from_factors(U[:, :3], s[:3], Vt[:3])
    got = up.U
    got[:] = 0
    assert np.abs(up.U).max() > 0
    up.add_rows(rng.standard_normal((2, 8)))
    assert up.n_rows == 12
    assert isinstance(up.svd, projkit.SVD)


# ---------------------------------------------------------------------------------------------
# empty updates and errors


@pytest.mark.parametrize("method", METHODS)
def test_empty_updates_are_noops(method):
    A = sp.random(30, 20, density=0.2, random_state=0, format="csr")
    up = SVDUpdater(A, 3, method=method, init="exact")
    s0 = up.s
    up.add_rows(np.zeros((0, 20))).add_columns(sp.csr_matrix((30, 0)))
    up.update(np.zeros((30, 0)), np.zeros((20, 0)))
    assert (up.n_rows, up.n_cols) == (30, 20)
    np.testing.assert_array_equal(up.s, s0)


@pytest.mark.parametrize("method", METHODS)
def test_zero_update_keeps_factorization(method):
    A = sp.random(30, 20, density=0.2, random_state=0, format="csr")
    up = SVDUpdater(A, 3, method=method, init="exact")
    dense0 = up.svd.to_dense()
    up.add_rows(sp.csr_matrix((4, 20)))
    np.testing.assert_allclose(up.svd.to_dense()[:30], dense0, atol=1e-12)
    np.testing.assert_allclose(up.svd.to_dense()[30:], 0, atol=1e-12)
    up.update(np.zeros((34, 1)), np.ones(20))
    np.testing.assert_allclose(up.svd.to_dense()[:30], dense0, atol=1e-12)


def test_errors():
    A = sp.random(30, 20, density=0.2, random_state=0, format="csr")
    with pytest.raises(ValueError, match="method"):
        SVDUpdater(A, 3, method="brand")
    with pytest.raises(ValueError, match="init"):
        SVDUpdater(A, 3, init="svd")
    with pytest.raises(ValueError, match="rank"):
        SVDUpdater(A, 21)
    with pytest.raises(TypeError, match="rank"):
        SVDUpdater(A, 2.5)
    with pytest.raises(ValueError, match="subspace"):
        SVDUpdater(A, 3, subspace=0)
    with pytest.raises(ValueError, match="A"):
        SVDUpdater(np.zeros((0, 5)), 1)
    bad = A.toarray()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SVDUpdater(bad, 3)
    up = SVDUpdater(A, 3, init="exact")
    with pytest.raises(ValueError, match=r"E: expected shape \(s, 20\)"):
        up.add_rows(np.ones((2, 19)))
    with pytest.raises(ValueError, match=r"E: expected shape \(30, s\)"):
        up.add_columns(np.ones((29, 2)))
    with pytest.raises(ValueError, match="D, E"):
        up.update(np.ones((30, 2)), np.ones((20, 1)))
    with pytest.raises(ValueError, match="NaN"):
        up.add_rows(np.full((1, 20), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        up.update(np.ones(30), np.full(20, np.inf))
    with pytest.raises(TypeError):
        up.add_rows(np.ones((1, 20), dtype=complex))
    with pytest.raises(ValueError, match="expected a 2-D"):
        up.add_rows(np.ones(20))
    # a failed update leaves the factorization as it was
    assert (up.n_rows, up.n_cols) == (30, 20)
    with pytest.raises(ValueError, match="U, s, Vt"):
        SVDUpdater.from_factors(np.ones((4, 2)), np.ones(3), np.ones((2, 5)))
    with pytest.raises(ValueError, match="non-negative"):
        SVDUpdater.from_factors(np.eye(4)[:, :2], np.array([1.0, -1.0]), np.eye(5)[:2])


# ---------------------------------------------------------------------------------------------
# every engine: CuPy (dense) and CuPyX (sparse) data give the CPU's results


def _host_orth_err(up):
    U, V = to_host(up.U), to_host(up.Vt).T
    k = up.rank
    return max(np.abs(U.T @ U - np.eye(k)).max(), np.abs(V.T @ V - np.eye(k)).max())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sparse_input", [False, True])
def test_device_matches_cpu(xp, method, sparse_input):
    sparse = sparse_module(xp)  # scipy.sparse or cupyx.scipy.sparse
    A = sp.random(200, 120, density=0.05, random_state=0, format="csr")
    U0, s0, Vt0 = SVDUpdater(A[:100], 8, init="exact").svd
    cpu = SVDUpdater.from_factors(U0, s0, Vt0, method=method, subspace=64)
    dev = SVDUpdater.from_factors(xp.asarray(U0), xp.asarray(s0), xp.asarray(Vt0),
                                  method=method, subspace=64)
    for a in range(100, 200, 25):
        E = A[a : a + 25]
        cpu.add_rows(E)
        dev.add_rows(sparse.csr_matrix(E) if sparse_input else xp.asarray(E.toarray()))
    C = sp.random(200, 10, density=0.1, random_state=1, format="csr")
    cpu.add_columns(C)
    dev.add_columns(sparse.csr_matrix(C) if sparse_input else xp.asarray(C.toarray()))
    assert isinstance(dev.s, xp.ndarray)
    np.testing.assert_allclose(to_host(dev.s), cpu.s, rtol=1e-9)
    np.testing.assert_allclose(to_host(dev.svd.to_dense()), cpu.svd.to_dense(), atol=1e-9)
    assert _host_orth_err(dev) < 1e-10
    np.testing.assert_allclose(to_host(dev.row_factor(3)), cpu.row_factor(3), atol=1e-9)


def test_device_init_and_lowrank_float32(xp):
    rng = np.random.default_rng(0)
    A = (rng.standard_normal((80, 4)) @ rng.standard_normal((4, 60))).astype(np.float32)
    up = SVDUpdater(xp.asarray(A), 4, init="exact")
    D, E = rng.standard_normal((80, 1)), rng.standard_normal((60, 1))
    up.update(xp.asarray(D, dtype=xp.float32), xp.asarray(E, dtype=xp.float32))
    assert up.s.dtype == xp.float32
    ref = np.linalg.svd(A + D @ E.T, compute_uv=False)[:4]
    np.testing.assert_allclose(to_host(up.s), ref, rtol=1e-4)


@pytest.mark.gpu
def test_gpu_rejects_numpy_update():
    cupy = pytest.importorskip("cupy")
    up = SVDUpdater(cupy.eye(10)[:, :6], 3, init="exact")
    with pytest.raises(TypeError, match="library"):
        up.add_rows(np.ones((1, 6)))


def test_init_rsvd_is_the_rsvd_body():
    # init="rsvd" runs projkit.rsvd's body with rsvd's defaults: the same bits as the public call
    A = sp.random(90, 140, density=0.1, random_state=3, format="csr")
    for M in (A, A.toarray(), A.T.tocsr()):
        up = SVDUpdater(M, 6, rng=np.random.default_rng(5))
        ref = projkit.rsvd(M, 6, rng=np.random.default_rng(5))
        np.testing.assert_array_equal(up.U, ref.U)
        np.testing.assert_array_equal(up.s, ref.s)
        np.testing.assert_array_equal(up.Vt, ref.Vt)


# ---------------------------------------------------------------------------------------------
# property: random mixed sequences, the sparse method tracks Zha--Simon

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=6, deadline=None)
@hypothesis.given(
    ops=st.lists(st.tuples(st.sampled_from(["rows", "cols", "lowrank"]),
                           st.integers(0, 6), st.integers(0, 10_000)),
                 min_size=1, max_size=6),
    k=st.integers(1, 5),
)
def test_random_sequences_sparse_tracks_zha_simon(ops, k):
    A = sp.random(25, 20, density=0.2, random_state=0, format="csr")
    a = SVDUpdater(A, k, method="sparse", init="exact")
    b = SVDUpdater(A, k, method="zha-simon", init="exact")
    for kind, size, seed in ops:
        m, n = a.n_rows, a.n_cols
        if kind == "rows":
            E = sp.random(size, n, density=0.3, random_state=seed, format="csr")
            a.add_rows(E), b.add_rows(E)
        elif kind == "cols":
            E = sp.random(m, size, density=0.3, random_state=seed, format="csr")
            a.add_columns(E), b.add_columns(E)
        else:
            D = sp.random(m, size, density=0.3, random_state=seed, format="csr")
            E = np.random.default_rng(seed).standard_normal((n, size))
            a.update(D, E), b.update(D, E)
    assert _orth_err(a) < 1e-10
    # both compute the same projection; only a (near-)tie at the k-th singular value could
    # make them pick different triplets, so compare the approximations' norms and spectra
    np.testing.assert_allclose(a.s, b.s, rtol=1e-8, atol=1e-10 * float(b.s[0]))
