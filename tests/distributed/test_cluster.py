"""The Dask engines on a real distributed.LocalCluster (two worker processes, one thread each),
started and closed by the test itself."""

from __future__ import annotations

import dask
import dask.array as da
import distributed  # in the test extra: these tests run in CI
import numpy as np
import pytest

import projkit


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", memory_limit="1GiB")
    cl = distributed.Client(cluster)
    try:
        yield cl
    finally:
        cl.close()
        cluster.close()


def _data():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((400, 6)) * np.logspace(0, -1, 6)) @ rng.standard_normal((6, 30))


def test_sketches_on_the_cluster(client):
    A = _data()
    X = da.from_array(A, chunks=((90, 110, 200), (12, 18)))
    for method in ("gaussian", "countsketch", "sparse_sign", "sparse"):
        sk = projkit.sketch(X, 25, method=method, rng=7)
        fut = client.compute(sk.matrix)
        out = fut.result()
        np.testing.assert_allclose(out, projkit.sketch(A, 25, method=method, rng=7).matrix,
                                   rtol=0, atol=1e-12)
    for method in ("coordinated", "threshold"):  # the lazy sample, computed on the workers
        sk = projkit.sketch(X, 25, method=method, rng=7)
        ref = projkit.sketch(A, 25, method=method, rng=7)
        done = sk.compute()  # the default scheduler is the client's cluster
        assert np.array_equal(done.indices, ref.indices) and done.threshold == ref.threshold
        assert np.array_equal(done.matrix, ref.matrix)
        W = client.compute(projkit.approx_matmul(sk, sk)).result()
        np.testing.assert_allclose(W, projkit.approx_matmul(ref, ref), rtol=1e-13)
    workers = {w for w in client.run(lambda: 1)}
    assert len(workers) == 2


def test_rsvd_on_the_cluster(client):
    A = _data()
    # a lazy X (its chunks computed on the workers): every pass re-reads it there
    X = da.from_array(A, chunks=(100, 15)).map_blocks(np.copy)
    res = projkit.rsvd(X, 4, n_iter=2, rng=1)
    U, s, Vt = dask.compute(*res)  # the default scheduler is the client's cluster
    ref = projkit.rsvd(A, 4, n_iter=2, rng=1)
    np.testing.assert_allclose(s, ref.s, rtol=1e-10)
    np.testing.assert_allclose(U, ref.U, atol=1e-10)
    np.testing.assert_allclose(Vt, ref.Vt, atol=1e-10)
