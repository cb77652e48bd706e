"""GPU: CuPy in gives CuPy out, equal to the CPU result for the same key (to rounding)."""

import numpy as np
import pytest
import scipy.sparse as sp

import projkit

pytestmark = pytest.mark.gpu
cupy = pytest.importorskip("cupy")

LINEAR = ["gaussian", "srht", "countsketch", "sparse_sign", "sparse", "linf"]
RNG = np.random.default_rng(0)
A = RNG.standard_normal((1000, 7))
AS = sp.random(1000, 7, density=0.1, format="csr", rng=np.random.default_rng(1))


@pytest.mark.parametrize("method", LINEAR + ["coordinated", "threshold"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_gpu_equals_cpu(method, dtype):
    cpu = projkit.sketch(A.astype(dtype), 64, method=method, rng=11)
    gpu = projkit.sketch(cupy.asarray(A.astype(dtype)), 64, method=method, rng=11)
    assert isinstance(gpu.matrix, cupy.ndarray) and gpu.matrix.dtype == dtype
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(gpu.matrix.get(), cpu.matrix, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("method", LINEAR + ["coordinated"])
def test_sparse_gpu_equals_cpu(method):
    import cupyx.scipy.sparse as csp

    cpu = projkit.sketch(AS, 64, method=method, rng=3)
    gpu = projkit.sketch(csp.csr_matrix(AS), 64, method=method, rng=3)
    m = gpu.matrix
    m = m.toarray() if hasattr(m, "toarray") else m
    c = cpu.matrix.toarray() if sp.issparse(cpu.matrix) else cpu.matrix
    np.testing.assert_allclose(cupy.asnumpy(m), c, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["gaussian", "srht", "countsketch", "sparse_sign", "sparse"])
def test_operator_on_gpu(method):
    S_cpu = projkit.sketch_operator(1000, 64, method=method, rng=5)
    S_gpu = projkit.sketch_operator(1000, 64, method=method, rng=5, xp=cupy)
    np.testing.assert_allclose(S_gpu.toarray().get(), S_cpu.toarray(), atol=1e-12)
    Y = cupy.asarray(RNG.standard_normal((64, 3)))
    np.testing.assert_allclose((S_cpu.T @ Y).get(), S_cpu.T @ Y.get(), atol=1e-10)


def test_approx_matmul_and_lstsq_on_gpu():
    B = RNG.standard_normal((1000, 2))
    sa = projkit.sketch(cupy.asarray(A), 200, method="coordinated", rng=1)
    sb = projkit.sketch(cupy.asarray(B), 200, method="coordinated", rng=1)
    W = projkit.approx_matmul(sa, sb)
    assert isinstance(W, cupy.ndarray)
    x = projkit.sketch_lstsq(cupy.asarray(A), cupy.asarray(A @ np.ones(7)), size=100, rng=0)
    assert isinstance(x, cupy.ndarray)
    np.testing.assert_allclose(x.get(), 1.0, atol=1e-8)


def test_mixing_backends_raises():
    sa = projkit.sketch(cupy.asarray(A), 50, method="gaussian", rng=1)
    sb = projkit.sketch(A, 50, method="gaussian", rng=1)
    with pytest.raises(TypeError, match="mix"):
        projkit.approx_matmul(sa, sb)
