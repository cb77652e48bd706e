"""GradientProjector on CuPy arrays and CUDA torch tensors: results stay on the device and agree
with the NumPy path."""

from __future__ import annotations

import numpy as np
import pytest

from projkit.optim import GradientProjector
from tests.conftest import to_host

pytestmark = pytest.mark.gpu

ALL = ["svd", "rsvd", "dct", "online_pca", "sparse_rows"]


def _grad(m=48, n=64, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    G = (rng.standard_normal((m, 6)) * [8, 6, 4, 3, 2, 1]) @ rng.standard_normal((6, n))
    return (G + 0.05 * rng.standard_normal((m, n))).astype(dtype)


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("side", ["left", "right"])
def test_cupy_stays_on_device_and_matches_numpy(method, side):
    cupy = pytest.importorskip("cupy")
    Gh = _grad()
    G = cupy.asarray(Gh)
    p = GradientProjector(4, method=method, side=side, rng=0)
    R = p.project(G, 0)
    assert isinstance(R, cupy.ndarray) and R.dtype == cupy.float32
    F = p.project_back(R)
    assert isinstance(F, cupy.ndarray) and F.shape == G.shape
    q = GradientProjector(4, method=method, side=side, rng=0)
    Fh = q.project_back(q.project(Gh, 0))
    if method in ("svd", "dct"):  # deterministic: the same projection up to float32 rounding
        np.testing.assert_allclose(to_host(F), Fh, rtol=1e-3, atol=1e-3 * np.abs(Gh).max())
    P = to_host(p.basis_matrix())
    if method != "sparse_rows":
        np.testing.assert_allclose(P.T @ P, np.eye(4), atol=1e-4)
    # identities on the device: idempotent projection for the orthonormal methods
    if method not in ("sparse_rows", "online_pca"):
        F2 = p.project_back(p.project(F, 1))
        np.testing.assert_allclose(to_host(F2), to_host(F), atol=1e-3 * np.abs(Gh).max())


def test_cupy_dct_matrix_on_device():
    cupy = pytest.importorskip("cupy")
    from projkit.optim._dct import dct_coefficients, dct_matrix

    Q = dct_matrix(256, np.float32, cupy)
    assert isinstance(Q, cupy.ndarray)
    np.testing.assert_allclose(to_host(Q.T @ Q), np.eye(256), atol=2e-5)
    x = np.random.default_rng(0).standard_normal((2, 256, 5)).astype(np.float32)
    np.testing.assert_allclose(to_host(dct_coefficients(cupy.asarray(x), cupy)),
                               dct_coefficients(x, np), atol=1e-4)


@pytest.mark.parametrize("method", ALL)
def test_cupy_batched_and_state(method):
    cupy = pytest.importorskip("cupy")
    layers = [cupy.asarray(_grad(seed=s)) for s in range(3)]
    p = GradientProjector(4, method=method, update_gap=2, rng=1)
    R = p.project(layers, 0)
    assert R.shape == (3, 4, 64) and isinstance(R, cupy.ndarray)
    st = p.state_dict()
    q = GradientProjector(4, method=method, rng=None)
    q.load_state_dict(st)
    for t in (1, 2, 3):
        cupy.testing.assert_array_equal(p.project(layers, t), q.project(layers, t))
    if p._rot is not None:
        assert p.rotation().shape == (3, 4, 4)


@pytest.mark.parametrize("method", ALL)
def test_torch_cuda_tensors_stay_on_device(method):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    G = torch.from_numpy(_grad()).cuda()
    p = GradientProjector(4, method=method, rng=0)
    R = p.project(G, 0)
    assert isinstance(R, torch.Tensor) and R.is_cuda
    F = p.project_back(R)
    assert F.is_cuda and F.shape == G.shape
    assert p.basis.is_cuda


def test_projected_adam_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    from projkit.interop.torch import ProjectedAdam

    torch.manual_seed(0)
    lin = torch.nn.Linear(32, 16).cuda()
    opt = ProjectedAdam(lin.parameters(), lr=1e-2, rank=4, method="dct", update_gap=2,
                        rotate_moments=True)
    X = torch.randn(64, 32, device="cuda")
    for _ in range(5):
        opt.zero_grad()
        lin(X).square().mean().backward()
        opt.step()
    assert opt.state[lin.weight]["exp_avg"].is_cuda
    assert tuple(opt.state[lin.weight]["exp_avg"].shape) == (16, 4)
