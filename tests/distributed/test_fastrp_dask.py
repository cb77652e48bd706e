"""The Dask engine of FastRP (projkit/sketching/_fastrp_dask.py): equal to the in-memory
embedding for every chunking, lazy, sparse chunks kept sparse, and clear errors."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp

import projkit
from tests._helpers import _SPARSE_CLASSES

N = 120
CHUNKINGS = [((30, 45, 45), (N,)), ((17, 40, 63), (50, 70)), ((1,) * 8 + (112,), (60, 60))]


def _graph(n=N, seed=0):
    rng = np.random.default_rng(seed)
    A = sp.random_array((n, n), density=0.08, rng=rng, format="csr")
    A = (A + A.T).tocsr()
    A.data[:] = rng.uniform(0.5, 2.0, A.nnz)
    return A


def _tol(ref):
    # the dask engine sums S N over column chunks in another order and scales D⁻¹(S N)
    # instead of (D⁻¹S) N: a few roundings of each O(1) entry of the normalized sum
    return 64 * np.finfo(ref.dtype).eps * max(1.0, float(np.abs(ref).max()))


@pytest.mark.parametrize("chunks", CHUNKINGS, ids=["rows", "both", "one-row"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_in_memory_for_every_chunking(chunks, dtype):
    A = _graph()
    kw = dict(weights=(0.5, 1.0, 2.0), self_influence=0.3, dtype=dtype, rng=7)
    ref = projkit.fastrp(A, 24, **kw)
    E = projkit.fastrp(da.from_array(A.toarray(), chunks=chunks), 24, **kw)
    assert isinstance(E, da.Array) and E.chunks == (chunks[0], (24,)) and E.dtype == dtype
    got = E.compute()
    assert np.abs(got - ref).max() <= _tol(ref)
    # not trivially equal: another key gives another embedding
    other = projkit.fastrp(A, 24, **{**kw, "rng": 8})
    assert np.abs(other - ref).max() > 100 * _tol(ref)


def test_options_follow_the_in_memory_function():
    A = _graph(seed=1)
    D = da.from_array(A.toarray(), chunks=(40, 60))
    for kw in (dict(transition=False, beta=-0.5), dict(normalize=False), dict(beta=0.0),
               dict(weights=(0.0, 1.0))):
        ref = projkit.fastrp(A, 16, dtype=np.float64, rng=2, **kw)
        got = projkit.fastrp(D, 16, dtype=np.float64, rng=2, **kw).compute()
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    # dim larger than the number of nodes, as in memory
    small = _graph(n=20, seed=3)
    ref = projkit.fastrp(small, 48, rng=4)
    got = projkit.fastrp(da.from_array(small.toarray(), chunks=7), 48, rng=4).compute()
    assert np.abs(got - ref).max() <= _tol(ref)


def test_sparse_chunks_are_never_densified(monkeypatch):
    A = _graph(seed=5)
    ref = projkit.fastrp(A, 16, dtype=np.float64, rng=1)
    D = da.from_array(A, chunks=(40, 60), asarray=False)
    thin = 16  # the only dense blocks are thin: n_chunk x dim embeddings

    def guard(orig):
        def densify(self, *args, **kwargs):
            if min(self.shape) > thin:
                raise AssertionError(f"a {self.shape} sparse chunk was densified")
            return orig(self, *args, **kwargs)
        return densify

    for cls in _SPARSE_CLASSES:
        for name in ("toarray", "todense"):
            monkeypatch.setattr(cls, name, guard(getattr(cls, name)))
    got = projkit.fastrp(D, 16, dtype=np.float64, rng=1).compute(scheduler="threads")
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_lazy_and_blockwise():
    """Nothing is computed at call time, and no task of the graph takes the whole of S."""
    A = _graph(seed=6).toarray()
    calls = []

    def chunk(block_info=None):
        calls.append(1)
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        return A[r0:r1, c0:c1]

    S = da.map_blocks(chunk, chunks=((40,) * 3, (60, 60)), dtype=np.float64,
                      meta=np.empty((0, 0)))
    E = projkit.fastrp(S, 8, weights=(1.0, 1.0), rng=0)
    assert calls == []
    graph = dict(E.__dask_graph__())
    assert len(graph) > 6  # one task per chunk and per power, plus the tree sums
    got = E.compute(scheduler="sync")
    assert len(calls) > 0
    np.testing.assert_allclose(got, projkit.fastrp(A, 8, weights=(1.0, 1.0), rng=0),
                               atol=_tol(got))


def test_bad_input():
    A = _graph(seed=7).toarray()
    with pytest.raises(ValueError, match="graph: expected a square"):
        projkit.fastrp(da.from_array(A[:, :100], chunks=50), 8)
    with pytest.raises(ValueError, match="features: node features are not supported"):
        projkit.fastrp(da.from_array(A, chunks=60), 8, features=np.ones((N, 3)),
                       feature_ratio=0.5)
    with pytest.raises(ValueError, match="feature_ratio"):
        projkit.fastrp(da.from_array(A, chunks=60), 8, feature_ratio=0.5)
    unknown = da.from_array(A, chunks=60)
    unknown = unknown[unknown[:, 0] >= 0]  # row chunks of unknown (NaN) size
    with pytest.raises(ValueError, match="unknown \\(NaN\\) chunk sizes"):
        projkit.fastrp(unknown, 8)
    with pytest.raises(TypeError, match="graph"):
        projkit.fastrp(da.from_array(A.astype(object), chunks=60), 8)
    neg = A.copy()
    neg[3, 4] = -1.0
    E = projkit.fastrp(da.from_array(neg, chunks=60), 8)  # found when the chunk is computed
    with pytest.raises(ValueError, match="Negative values in data"), dask.config.set(
            scheduler="sync"):
        E.compute()
