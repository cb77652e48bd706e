"""projkit.sketch on every engine: the input's device in, the same device out, and the same
sketch as on the CPU for the same key (to rounding); the method registry."""

import numpy as np
import pytest
import scipy.sparse as sp

import projkit
from projkit._backend import linalg
from projkit.sketching import _core
from tests.conftest import to_host, tol

LINEAR = ["gaussian", "srht", "countsketch", "sparse_sign", "sparse", "linf"]
RNG = np.random.default_rng(0)
A = RNG.standard_normal((1000, 7))
AS = sp.random(1000, 7, density=0.1, format="csr", rng=np.random.default_rng(1))


@pytest.mark.parametrize("method", LINEAR + ["coordinated", "threshold"])
def test_dense_on_device_equals_cpu(xp, method, dtype):
    cpu = projkit.sketch(A.astype(dtype), 64, method=method, rng=11)
    dev = projkit.sketch(xp.asarray(A.astype(dtype)), 64, method=method, rng=11)
    assert isinstance(dev.matrix, xp.ndarray) and dev.matrix.dtype == dtype
    np.testing.assert_allclose(to_host(dev.matrix), cpu.matrix, rtol=tol(dtype),
                               atol=tol(dtype))


@pytest.mark.parametrize("method", LINEAR + ["coordinated"])
def test_sparse_on_device_equals_cpu(xp, method):
    cpu = projkit.sketch(AS, 64, method=method, rng=3)
    dev = projkit.sketch(linalg.sparse_module(xp).csr_matrix(AS), 64, method=method, rng=3)
    np.testing.assert_allclose(to_host(linalg.dense(dev.matrix)), linalg.dense(cpu.matrix),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.gpu
def test_mixing_backends_raises():
    cupy = pytest.importorskip("cupy")
    sa = projkit.sketch(cupy.asarray(A), 50, method="gaussian", rng=1)
    sb = projkit.sketch(A, 50, method="gaussian", rng=1)
    with pytest.raises(TypeError, match="mix"):
        projkit.approx_matmul(sa, sb)


def test_registry_reads_the_linear_flag():
    methods = _core._methods()
    assert {m for m, spec in methods.items() if spec.linear} == set(LINEAR)
    assert {m for m, spec in methods.items() if not spec.linear} == {"coordinated",
                                                                      "threshold"}
    # sampling methods check size against their own options: no "rows of A" bound here
    with pytest.raises(ValueError, match="size: expected an int"):
        projkit.sketch(A, 2000, method="coordinated", rng=0)
    with pytest.raises(ValueError, match="size: expected at most 1000 \\(the rows of A\\)"):
        projkit.sketch(A, 2000, method="linf", rng=0)


def test_missing_provider_is_an_error(monkeypatch):
    monkeypatch.setattr(_core, "_PROVIDERS",
                        _core._PROVIDERS + ("projkit.sketching._not_written",))
    with pytest.raises(ModuleNotFoundError, match="_not_written"):
        projkit.sketch(A, 5, rng=0)
