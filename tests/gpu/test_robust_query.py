"""RobustSetQuery on CuPy: pool, products and answers stay on the device and in their dtype."""

from __future__ import annotations

import numpy as np
import pytest

from projkit.projectors._robust_query import RobustSetQuery, _private_median
from tests.conftest import to_host

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_pool_answers_within_bound(dtype):
    cp = pytest.importorskip("cupy")
    n = 200
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((n, 40)))
    P = cp.asarray((Q @ Q.T).astype(dtype))
    rq = RobustSetQuery(n, sketch_size=128, n_sketches=15, per_query=9, dp_epsilon=20.0,
                        max_queries=2, resolution=0.01, xp=cp, dtype=dtype, rng=0)
    rq.refresh(lambda X: P @ X)
    assert isinstance(rq._S, cp.ndarray) and rq._S.dtype == dtype
    cp.testing.assert_allclose(rq._S, rq._R @ P, rtol=1e-4, atol=1e-4)
    h = cp.asarray(np.random.default_rng(2).standard_normal(n).astype(dtype))
    g = to_host(P @ h)
    for _ in range(3):  # the third query redraws and refreshes lazily
        out = rq.query(h)
        assert isinstance(out, cp.ndarray) and out.dtype == dtype
        # b = 128: one estimate has sd ≤ 0.125‖g‖; the median of 9 with margin
        assert np.max(np.abs(to_host(out) - g)) <= 0.5 * np.linalg.norm(g)
    assert rq.n_redraws == 1 and rq.n_refreshes == 2
    out = rq.query(h, cp.asarray([0, 5]))
    assert out.shape == (2,)


def test_cupy_private_median_large_epsilon_is_median():
    cp = pytest.importorskip("cupy")
    X = np.random.default_rng(0).standard_normal((7, 100))
    gen = cp.random.default_rng(0)
    out = _private_median(cp, cp.asarray(X), 0.01, 1000, 1e4, gen)
    np.testing.assert_allclose(to_host(out), np.median(np.rint(X / 0.01) * 0.01, axis=0))
