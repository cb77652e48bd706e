"""Factorizations on CuPy: GPU in, GPU out, same numbers as NumPy (to rounding and seeds)."""

from __future__ import annotations

import numpy as np
import pytest

import projkit
from tests.conftest import to_host

pytestmark = pytest.mark.gpu


def _decaying(m, n, decay=0.7, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    r = min(m, n)
    U = np.linalg.qr(rng.standard_normal((m, r)))[0]
    V = np.linalg.qr(rng.standard_normal((n, r)))[0]
    s = decay ** np.arange(r)
    return ((U * s) @ V.T).astype(dtype), s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
def test_rsvd_cupy_dense(dtype, shape):
    cp = pytest.importorskip("cupy")
    A, s = _decaying(*shape, dtype=dtype)
    res = projkit.rsvd(cp.asarray(A), 10, rng=0)
    assert isinstance(res.U, cp.ndarray) and res.U.dtype == dtype and res.s.dtype == dtype
    rtol = 1e-3 if dtype == np.float32 else 1e-8
    np.testing.assert_allclose(to_host(res.s), s[:10], rtol=rtol)
    U = to_host(res.U)
    np.testing.assert_allclose(U.T @ U, np.eye(10), atol=10 * rtol)
    # deterministic signs: same factors as the CPU (up to rounding)
    cpu = projkit.rsvd(A, 10, rng=0)
    np.testing.assert_allclose(U, cpu.U, atol=100 * rtol)


@pytest.mark.parametrize("sketch", ["gaussian", "srht", "sparse_sign"])
def test_rsvd_cupy_sparse_and_sketches(sketch):
    cp = pytest.importorskip("cupy")
    csp = pytest.importorskip("cupyx.scipy.sparse")
    import scipy.sparse as sp

    S = sp.random(400, 150, density=0.05, random_state=0, format="csr")
    res = projkit.rsvd(csp.csr_matrix(S), 5, n_iter=6, sketch=sketch, rng=0)
    assert isinstance(res.U, cp.ndarray)
    ref = np.linalg.svd(S.toarray(), compute_uv=False)[:5]
    np.testing.assert_allclose(to_host(res.s), ref, rtol=2e-2)


def test_rsvd_cupy_adaptive_and_range_finder():
    cp = pytest.importorskip("cupy")
    A, _ = _decaying(200, 150, decay=0.8)
    res = projkit.rsvd(cp.asarray(A), tol=0.01, rng=0)
    err = np.linalg.norm(A - to_host(res.to_dense())) / np.linalg.norm(A)
    assert err <= 0.0105
    Q = projkit.range_finder(cp.asarray(A), 12, rng=0)
    Qh = to_host(Q)
    np.testing.assert_allclose(Qh.T @ Qh, np.eye(12), atol=1e-10)


def test_cholesky_qr_normalizer():
    cp = pytest.importorskip("cupy")
    from projkit.factorizations.rsvd import _normalize

    Y = cp.asarray(np.random.default_rng(0).standard_normal((500, 20)) @ np.diag(
        10.0 ** -np.arange(20) / 2))
    Q = _normalize(cp, Y)
    Qh = to_host(Q)
    np.testing.assert_allclose(Qh.T @ Qh, np.eye(20), atol=1e-6)


def test_projector_meta_pinv_cupy():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(1)
    F, B = rng.standard_normal((30, 4)), rng.standard_normal((30, 6))
    P = projkit.Projector(cp.asarray(F), cp.asarray(B))
    ref = F @ np.linalg.pinv(B.T @ F) @ B.T
    np.testing.assert_allclose(to_host(P.matrix()), ref, atol=1e-10)
    X = rng.standard_normal((30, 3))
    np.testing.assert_allclose(to_host(P @ cp.asarray(X)), ref @ X, atol=1e-10)
    A = rng.standard_normal((20, 3)) @ rng.standard_normal((3, 15))
    np.testing.assert_allclose(to_host(projkit.pinv(cp.asarray(A))),
                               np.linalg.pinv(A, rtol=None), atol=1e-10)
    mf = projkit.meta_factorize(cp.asarray(A), cp.asarray(A[:, :3]), cp.asarray(A[:3].T))
    np.testing.assert_allclose(to_host(mf.reconstruct()), A, atol=1e-10)


@pytest.mark.parametrize("method", ["deim", "qr", "leverage"])
def test_cur_and_id_cupy(method):
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(2)
    A = rng.standard_normal((40, 5)) @ rng.standard_normal((5, 30))
    res = projkit.cur(cp.asarray(A), 5, method=method, rng=0)
    assert isinstance(res.C, cp.ndarray)
    np.testing.assert_allclose(to_host(res.to_dense()), A, atol=1e-8)
    idd = projkit.interpolative(cp.asarray(A), 5, rng=0)
    np.testing.assert_allclose(to_host(idd.to_dense()), A, atol=1e-8)


def test_nystrom_cupy():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(3)
    A = rng.standard_normal((40, 4)) @ rng.standard_normal((4, 30))
    ny = projkit.nystrom(cp.asarray(A), 4, rng=0)
    np.testing.assert_allclose(to_host(ny.reconstruct()), A, atol=1e-8)
    G = rng.standard_normal((40, 3))
    S = G @ G.T
    res = projkit.nystrom_psd(cp.asarray(S), 3, rng=0)
    np.testing.assert_allclose(to_host(res.to_dense()), S, atol=1e-8)


def test_rsvd_large_float32_runs():
    """The issue's GPU target case, scaled down: 4096² float32, rank 100, 4 power iterations."""
    cp = pytest.importorskip("cupy")
    g = cp.random.default_rng(0)
    A = g.standard_normal((4096, 4096), dtype=cp.float32)
    res = projkit.rsvd(A, 100, n_iter=4, rng=0)
    assert res.U.shape == (4096, 100) and res.U.dtype == cp.float32
