"""FastRP on CuPy (cuSPARSE path): GPU in, GPU out, same numbers as the CPU kernels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import projkit
from tests.conftest import to_host

pytestmark = pytest.mark.gpu


def _graph(n=60, p=0.1, seed=0):
    g = np.random.default_rng(seed)
    M = (g.random((n, n)) < p) * g.uniform(0.5, 2.0, size=(n, n))
    M[5, :] = M[:, 5] = 0  # an isolated node
    return sp.csr_matrix(M)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("normalize", [True, False])
def test_cupy_sparse_matches_cpu(dtype, normalize):
    cp = pytest.importorskip("cupy")
    csp = pytest.importorskip("cupyx.scipy.sparse")
    S = _graph()
    kw = dict(weights=(0.5, 1.0, 2.0), beta=-0.5, self_influence=0.3, normalize=normalize,
              dtype=dtype, rng=4)
    E_cpu = projkit.fastrp(S, 16, **kw)
    E_gpu = projkit.fastrp(csp.csr_matrix(S), 16, **kw)
    assert isinstance(E_gpu, cp.ndarray) and E_gpu.dtype == dtype
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(to_host(E_gpu), E_cpu, rtol=rtol,
                               atol=rtol * np.abs(E_cpu).max())
    assert np.isfinite(to_host(E_gpu)).all()


def test_cupy_dense_adjacency_and_features():
    cp = pytest.importorskip("cupy")
    S = _graph(seed=1)
    F = np.random.default_rng(0).random((60, 3))
    kw = dict(weights=(1.0, 1.0), features=F, feature_ratio=0.25, dtype=np.float64, rng=2)
    E_cpu = projkit.fastrp(S, 12, **kw)
    kw["features"] = cp.asarray(F)
    E_gpu = projkit.fastrp(cp.asarray(S.toarray()), 12, **kw)
    np.testing.assert_allclose(to_host(E_gpu), E_cpu, rtol=1e-10, atol=1e-12)


def test_cupy_mixing_libraries_is_an_error():
    cp = pytest.importorskip("cupy")
    with pytest.raises(TypeError, match="features"):
        projkit.fastrp(cp.asarray(_graph().toarray()), 8, features=np.ones((60, 2)),
                       feature_ratio=0.5, rng=0)


def test_cupy_transformer():
    csp = pytest.importorskip("cupyx.scipy.sparse")
    cp = pytest.importorskip("cupy")
    model = projkit.FastRP(8, rng=0).fit(csp.csr_matrix(_graph()))
    assert isinstance(model.embedding_, cp.ndarray) and model.n_nodes_ == 60
