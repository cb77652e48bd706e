"""KroneckerProjection and cholesky_update on CuPy: GPU in, GPU out, same numbers as NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import projkit
from tests.conftest import to_host

pytestmark = pytest.mark.gpu


def _problem(seed=0, n=6, m=15):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n * n))
    G = rng.standard_normal((n, n))
    return rng, A, G @ G.T / n + np.eye(n)


@pytest.mark.parametrize("form", ["w_kron_i", "sqrt_kron_sqrt"])
@pytest.mark.parametrize("mode", ["exact", "sketched"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_matches_numpy(form, mode, dtype):
    cp = pytest.importorskip("cupy")
    rng, A, W = _problem()
    A, W = A.astype(dtype), W.astype(dtype)
    eps = 0.1 if mode == "sketched" else None
    k_cpu = projkit.KroneckerProjection(A, W, form=form, mode=mode, eps=eps)
    k_gpu = projkit.KroneckerProjection(cp.asarray(A), cp.asarray(W), form=form, mode=mode,
                                        eps=eps)
    for t in range(6):
        U, _ = np.linalg.qr(rng.standard_normal((W.shape[0], 1 + t % 3)))
        c = 0.1 * rng.uniform(-1, 1, U.shape[1])
        U, c = U.astype(dtype), c.astype(dtype)
        k_cpu.update(U, c)
        k_gpu.update(cp.asarray(U), cp.asarray(c))
    H = rng.standard_normal((A.shape[1], 3)).astype(dtype)
    out = k_gpu.query(cp.asarray(H))
    assert isinstance(out, cp.ndarray) and out.dtype == dtype
    rtol = 1e-3 if dtype == np.float32 else 1e-9
    ref = k_cpu.query(H)
    assert np.linalg.norm(to_host(out) - ref) <= rtol * np.linalg.norm(ref)
    P = k_gpu.projector()
    assert np.allclose(to_host(P @ cp.asarray(H)), k_cpu.projector() @ H,
                       atol=10 * rtol * np.abs(ref).max())


@pytest.mark.parametrize("form", ["w_kron_i", "sqrt_kron_sqrt"])
def test_cupy_sparse_A(form):
    cp = pytest.importorskip("cupy")
    csp = pytest.importorskip("cupyx.scipy.sparse")
    import scipy.sparse as sps

    rng, _, W = _problem(3)
    A = sps.random(15, 36, density=0.3, random_state=3, format="csr")
    k_cpu = projkit.KroneckerProjection(A, W, form=form)
    k_gpu = projkit.KroneckerProjection(csp.csr_matrix(A), cp.asarray(W), form=form)
    U = np.linalg.qr(rng.standard_normal((6, 2)))[0]
    c = np.array([0.1, -0.05])
    k_cpu.update(U, c)
    k_gpu.update(cp.asarray(U), cp.asarray(c))
    h = rng.standard_normal(36)
    np.testing.assert_allclose(to_host(k_gpu.query(cp.asarray(h))), k_cpu.query(h), atol=1e-9)


def test_cupy_indefinite_update_raises():
    cp = pytest.importorskip("cupy")
    _, A, W = _problem(1)
    kp = projkit.KroneckerProjection(cp.asarray(A), cp.asarray(W))
    lam, Q = np.linalg.eigh(W)
    with pytest.raises(np.linalg.LinAlgError):
        kp.update(cp.asarray(Q[:, 0]), float(-2 * lam[0]))


def test_cupy_cholesky_update():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(2)
    G = rng.standard_normal((8, 8))
    L = np.linalg.cholesky(G @ G.T / 8 + np.eye(8))
    U = rng.standard_normal((8, 3))
    L1 = projkit.cholesky_update(cp.asarray(L), cp.asarray(U), 1)
    assert isinstance(L1, cp.ndarray)
    np.testing.assert_allclose(to_host(L1), projkit.cholesky_update(L, U, 1), atol=1e-10)
    with pytest.raises(np.linalg.LinAlgError):
        projkit.cholesky_update(cp.asarray(np.eye(3)), cp.asarray([0.0, 2.0, 0.0]), -1)


def test_cupy_set_query_within_bound():
    # the robust pool on the device: answers stay on the GPU and within the stated bound
    # (error_bound + γ/2)‖h‖ + √(8/b)‖P̃h‖ (see tests/projectors/test_kronecker.py for why)
    cp = pytest.importorskip("cupy")
    rng, A, W = _problem(5)
    b = 32
    kp = projkit.KroneckerProjection(cp.asarray(A), cp.asarray(W), mode="sketched", eps=0.2,
                                     sketch_size=b, rng=0)
    ref_kp = projkit.KroneckerProjection(A, W)
    for _ in range(5):
        U = np.linalg.qr(rng.standard_normal((W.shape[0], 1)))[0]
        c = 0.02 * rng.uniform(-1, 1, 1)
        kp.update(cp.asarray(U), cp.asarray(c))
        ref_kp.update(U, c)
        h = rng.standard_normal(A.shape[1])
        C = np.arange(0, A.shape[1], 3)
        ans = kp.query(cp.asarray(h), cp.asarray(C))
        assert isinstance(ans, cp.ndarray)
        lazy = to_host(kp.query(cp.asarray(h)))
        bound = ((kp.error_bound + 0.2 / 8) * np.linalg.norm(h)
                 + np.sqrt(8 / b) * np.linalg.norm(lazy))
        assert np.all(np.abs(to_host(ans) - ref_kp.query(h)[C]) <= bound + 1e-9)
