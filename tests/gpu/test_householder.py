"""HouseholderProjector on CuPy (and torch CUDA): same numbers as the NumPy path, on the device."""

from __future__ import annotations

import numpy as np
import pytest

import projkit.projectors.householder as hh
from projkit import HouseholderProjector
from tests.conftest import to_host

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("convention", ["lapack", "full"])
@pytest.mark.parametrize("block", [3, 64])
def test_cupy_matches_numpy(dtype, convention, block, monkeypatch):
    cp = pytest.importorskip("cupy")
    monkeypatch.setattr(hh, "_BLOCK", block)
    rng = np.random.default_rng(0)
    n, k, r = 45, 40, 7
    V = rng.standard_normal((n, k)).astype(dtype)
    X = rng.standard_normal((r, 5)).astype(dtype)
    Y = rng.standard_normal((n, 5)).astype(dtype)
    G = rng.standard_normal((n, r)).astype(dtype)
    Pc = HouseholderProjector(V, r, convention=convention)
    Pg = HouseholderProjector(cp.asarray(V), r, convention=convention)
    t = 1e-4 if dtype == np.float32 else 1e-11
    Ug = Pg.matrix()
    assert isinstance(Ug, cp.ndarray) and Ug.dtype == dtype
    np.testing.assert_allclose(to_host(Ug), Pc.matrix(), atol=t)
    np.testing.assert_allclose(to_host(Pg @ cp.asarray(X)), Pc @ X, atol=t)
    np.testing.assert_allclose(to_host(Pg.T @ cp.asarray(Y)), Pc.T @ Y, atol=t)
    Cg, Cc = Pg.orthogonal_complement, Pc.orthogonal_complement
    np.testing.assert_allclose(to_host(Cg.T @ cp.asarray(Y)), Cc.T @ Y, atol=t)
    np.testing.assert_allclose(to_host(Pg.vjp(cp.asarray(G))), Pc.vjp(G), atol=t * 10)


def test_cupy_batched_and_mixing_error():
    cp = pytest.importorskip("cupy")
    V = cp.asarray(np.random.default_rng(1).standard_normal((4, 30, 30)))
    P = HouseholderProjector(V, 6)
    U = P.matrix()
    eye = cp.broadcast_to(cp.eye(6), (4, 6, 6))
    cp.testing.assert_allclose(cp.swapaxes(U, -1, -2) @ U, eye, atol=1e-12)
    with pytest.raises(TypeError, match="mix array libraries"):
        P @ np.ones((4, 6, 2))


@pytest.mark.parametrize("positive", [True, False])
def test_cupy_from_matrix_and_random(positive):
    cp = pytest.importorskip("cupy")
    W = np.random.default_rng(2).standard_normal((33, 9))
    Pg = HouseholderProjector.from_matrix(cp.asarray(W), 9, positive=positive)
    Pc = HouseholderProjector.from_matrix(W, 9, positive=positive)
    np.testing.assert_allclose(to_host(Pg.matrix()), Pc.matrix(), atol=1e-12)
    R = HouseholderProjector.random(50, 5, like=cp.zeros(1), rng=3)
    assert isinstance(R.vectors, cp.ndarray)
    U = R.matrix()
    cp.testing.assert_allclose(U.T @ U, cp.eye(5), atol=1e-12)


def test_torch_cuda_matches_householder_product():
    torch = pytest.importorskip("torch")
    pytest.importorskip("cupy")
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    from projkit.interop.torch import householder_apply

    g = torch.Generator(device="cuda").manual_seed(0)
    A = torch.randn(40, 12, dtype=torch.float64, device="cuda", generator=g)
    G = torch.randn(40, 12, dtype=torch.float64, device="cuda", generator=g)
    a = A.clone().requires_grad_(True)
    L = a.tril(-1)
    ref = torch.linalg.householder_product(L, 2.0 / (1.0 + (L * L).sum(0)))
    (ref * G).sum().backward()
    b = A.clone().requires_grad_(True)
    ours = householder_apply(b, rank=12)
    assert ours.device.type == "cuda"
    (ours * G).sum().backward()
    torch.testing.assert_close(ours.detach(), ref.detach(), atol=1e-12, rtol=0)
    torch.testing.assert_close(b.grad, a.grad, atol=1e-11, rtol=0)
