"""SVDUpdater on CuPy (dense) and CuPyX (sparse) data: same results as on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from projkit import SVDUpdater
from tests.conftest import to_host

pytestmark = pytest.mark.gpu

METHODS = ["sparse", "zha-simon", "gkl", "randomized"]


def _orth_err(up):
    U, V = to_host(up.U), to_host(up.Vt).T
    k = up.rank
    return max(np.abs(U.T @ U - np.eye(k)).max(), np.abs(V.T @ V - np.eye(k)).max())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sparse_input", [False, True])
def test_gpu_matches_cpu(method, sparse_input):
    cupy = pytest.importorskip("cupy")
    csp = pytest.importorskip("cupyx.scipy.sparse")
    A = sp.random(200, 120, density=0.05, random_state=0, format="csr")
    U0, s0, Vt0 = SVDUpdater(A[:100], 8, init="exact").svd
    cpu = SVDUpdater.from_factors(U0, s0, Vt0, method=method, subspace=64)
    gpu = SVDUpdater.from_factors(cupy.asarray(U0), cupy.asarray(s0), cupy.asarray(Vt0),
                                  method=method, subspace=64)
    for a in range(100, 200, 25):
        E = A[a : a + 25]
        cpu.add_rows(E)
        gpu.add_rows(csp.csr_matrix(E) if sparse_input else cupy.asarray(E.toarray()))
    C = sp.random(200, 10, density=0.1, random_state=1, format="csr")
    cpu.add_columns(C)
    gpu.add_columns(csp.csr_matrix(C) if sparse_input else cupy.asarray(C.toarray()))
    assert isinstance(gpu.s, cupy.ndarray)
    np.testing.assert_allclose(to_host(gpu.s), cpu.s, rtol=1e-9)
    np.testing.assert_allclose(to_host(gpu.svd.to_dense()), cpu.svd.to_dense(), atol=1e-9)
    assert _orth_err(gpu) < 1e-10
    np.testing.assert_allclose(to_host(gpu.row_factor(3)), cpu.row_factor(3), atol=1e-9)


def test_gpu_init_and_lowrank_float32():
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(0)
    A = (rng.standard_normal((80, 4)) @ rng.standard_normal((4, 60))).astype(np.float32)
    up = SVDUpdater(cupy.asarray(A), 4, init="exact")
    D, E = rng.standard_normal((80, 1)), rng.standard_normal((60, 1))
    up.update(cupy.asarray(D, dtype=cupy.float32), cupy.asarray(E, dtype=cupy.float32))
    assert up.s.dtype == cupy.float32
    ref = np.linalg.svd(A + D @ E.T, compute_uv=False)[:4]
    np.testing.assert_allclose(to_host(up.s), ref, rtol=1e-4)


def test_gpu_rejects_numpy_update():
    cupy = pytest.importorskip("cupy")
    up = SVDUpdater(cupy.eye(10)[:, :6], 3, init="exact")
    with pytest.raises(TypeError, match="library"):
        up.add_rows(np.ones((1, 6)))
