"""The Dask engine of the sketches (projkit/sketching/_linear_dask.py, _coordinated_dask.py):
chunk invariance, laziness, sparse chunks, combination, merging and bad input."""

from __future__ import annotations

import collections
import math
import threading

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from dask.core import get_dependencies
from dask.utils import key_split

import projkit
from projkit.distributed import transpose_matmul

LINEAR = ("gaussian", "countsketch", "sparse_sign", "sparse")
SAMPLING = ("coordinated", "threshold")
N, D, M = 103, 7, 20
# uneven row chunks; chunks along the columns too; one row per chunk (the small case)
CHUNKINGS = [((13, 40, 7, 43), (7,)), ((25, 30, 48), (3, 4)), ((17,) * 6 + (1,), (2, 2, 3))]


def _data(n=N, d=D, seed=0):
    A = np.random.default_rng(seed).standard_normal((n, d))
    A[5] = 0.0  # a zero row: never sampled, rank ∞
    return A


def _rounding(ref):
    # block sums reorder the n-term sums: |error| ≤ n·u·Σ|S_rj||A_jk| ≲ n·u·‖ref‖ scale
    return 50 * N * np.finfo(np.float64).eps * max(1.0, float(np.abs(ref).max()))


def _assert_same_sampling(sk, ref):
    # a sketch of a dask array is lazy: its sample is dask arrays until computed
    assert all(isinstance(a, da.Array) for a in (sk.matrix, sk.indices, sk.weights, sk.threshold))
    sk = sk.compute()
    assert isinstance(sk.threshold, float) and isinstance(sk.indices, np.ndarray)
    assert np.array_equal(sk.indices, ref.indices)
    assert np.array_equal(sk.weights, ref.weights)  # bit for bit: same row sums
    assert sk.threshold == ref.threshold
    mat = sk.matrix.toarray() if sp.issparse(sk.matrix) else sk.matrix
    refm = ref.matrix.toarray() if sp.issparse(ref.matrix) else ref.matrix
    assert np.array_equal(mat, refm)


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("method", LINEAR)
def test_linear_chunk_invariance(method, chunks):
    A = _data()
    ref = projkit.sketch(A, M, method=method, rng=5)
    sk = projkit.sketch(da.from_array(A, chunks=chunks), M, method=method, rng=5)
    assert isinstance(sk.matrix, da.Array) and sk.key == ref.key and sk.options == ref.options
    out = sk.matrix.compute()
    np.testing.assert_allclose(out, ref.matrix, rtol=0, atol=_rounding(ref.matrix))
    # and a different key is far from it (the comparison can fail)
    other = projkit.sketch(A, M, method=method, rng=6).matrix
    assert np.abs(out - other).max() > 0.1


def test_one_row_per_chunk():
    A = _data(n=24, d=3)
    X = da.from_array(A, chunks=(1, 3))
    for method in LINEAR:
        ref = projkit.sketch(A, 6, method=method, rng=2).matrix
        np.testing.assert_allclose(projkit.sketch(X, 6, method=method, rng=2).matrix.compute(),
                                   ref, rtol=0, atol=1e-13)
    for method in SAMPLING:
        _assert_same_sampling(projkit.sketch(X, 6, method=method, rng=2),
                              projkit.sketch(A, 6, method=method, rng=2))


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("method", SAMPLING)
def test_sampling_exact_chunk_invariance(method, chunks):
    A = _data()
    X = da.from_array(A, chunks=chunks)
    _assert_same_sampling(projkit.sketch(X, M, method=method, rng=9),
                          projkit.sketch(A, M, method=method, rng=9))
    _assert_same_sampling(projkit.sketch(X, M, method="threshold", rng=9, threshold=0.05),
                          projkit.sketch(A, M, method="threshold", rng=9, threshold=0.05))


def test_float32_and_int_input():
    A = _data().astype(np.float32)
    sk = projkit.sketch(da.from_array(A, chunks=(30, 7)), M, method="gaussian", rng=1)
    assert sk.matrix.dtype == np.float32 and sk.matrix.compute().dtype == np.float32
    np.testing.assert_allclose(sk.matrix.compute(),
                               projkit.sketch(A, M, method="gaussian", rng=1).matrix,
                               rtol=0, atol=1e-4)
    Ai = np.arange(60).reshape(20, 3)
    ski = projkit.sketch(da.from_array(Ai, chunks=7), 5, method="countsketch", rng=1)
    assert ski.matrix.dtype == np.float64
    np.testing.assert_allclose(ski.matrix.compute(),
                               projkit.sketch(Ai, 5, method="countsketch", rng=1).matrix)


class _ReadCounter:
    """A dask array whose chunk reads are counted (nothing mocked: the chunks are real)."""

    def __init__(self, A, chunks):
        self.calls: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

        def read(block, block_info=None):
            with self._lock:
                self.calls[tuple(block_info[0]["chunk-location"])] += 1
            return block

        self.X = da.from_array(A, chunks=chunks).map_blocks(read, dtype=A.dtype)


@pytest.mark.parametrize("method", LINEAR)
def test_lazy_graph_one_task_per_chunk(method):
    A = _data()
    rc = _ReadCounter(A, ((13, 40, 7, 43), (3, 4)))
    sk = projkit.sketch(rc.X, M, method=method, rng=3)
    assert sum(rc.calls.values()) == 0  # nothing computed at call time
    graph = dict(sk.matrix.__dask_graph__())
    xkeys = {k for row in rc.X.__dask_keys__() for k in row}
    readers = {k: get_dependencies(graph, k) & xkeys for k in graph if k not in xkeys}
    readers = {k: v for k, v in readers.items() if v}
    assert len(graph) > len(xkeys) + 1
    assert len(readers) == len(xkeys)  # one task per chunk of X ...
    assert all(len(v) == 1 for v in readers.values())  # ... and none sees more than one chunk
    sk.matrix.compute(scheduler="threads")
    assert set(rc.calls.values()) == {1} and len(rc.calls) == len(xkeys)


def _readers(arr, X):
    """Tasks of ``arr``'s graph that read chunks of ``X`` (their keys, including those of any
    clone of ``X``'s graph), each with the chunks it reads."""
    graph = dict(arr.__dask_graph__())
    xkeys = {k for k in graph if key_split(k) == key_split(X.name)}  # a clone's keys too
    assert {k for row in X.__dask_keys__() for k in row} <= xkeys
    readers = {k: get_dependencies(graph, k) & xkeys for k in graph if k not in xkeys}
    return {k: v for k, v in readers.items() if v}


@pytest.mark.parametrize("method", SAMPLING)
def test_sampling_sketch_is_lazy_two_passes_no_task_holds_x(method):
    """Nothing is read at the call; computing reads every chunk twice (rank the rows, then
    gather the sample, from a fresh read so that no chunk is held between the passes), or
    once for an explicit threshold, known at the call; no task sees more than one chunk."""
    A = _data()
    rc = _ReadCounter(A, ((13, 40, 7, 43), (7,)))
    for opts, reads in (({}, 2), ({"threshold": 0.05}, 1)):
        if method == "coordinated" and opts:
            continue
        rc.calls.clear()
        sk = projkit.sketch(rc.X, M, method=method, rng=3, **opts)
        assert sum(rc.calls.values()) == 0  # nothing computed at call time
        for arr in (sk.matrix, sk.indices, sk.weights):
            assert isinstance(arr, da.Array) and len(arr.__dask_graph__()) > 1
            readers = _readers(arr, rc.X)
            assert readers and all(len(v) == 1 for v in readers.values())
        assert math.isnan(sk.matrix.shape[0]) and sk.matrix.numblocks == (4, 1)
        with pytest.raises(ValueError, match="nbytes.*unknown length.*compute"):
            _ = sk.nbytes
        done = sk.compute(scheduler="threads")
        assert set(rc.calls.values()) == {reads} and len(rc.calls) == 4
        ref = projkit.sketch(A, M, method=method, rng=3, **opts)
        assert np.array_equal(done.matrix, ref.matrix) and done.nbytes == ref.nbytes


def test_persisted_input_is_not_cloned():
    A = _data()
    X = da.from_array(A, chunks=(20, 7)).persist(scheduler="threads")
    sk = projkit.sketch(X, M, method="coordinated", rng=3)
    xkeys = {k for row in X.__dask_keys__() for k in row}
    graph = dict(sk.matrix.__dask_graph__())
    assert xkeys <= set(graph)  # the take pass reads the held chunks themselves
    assert not any(str(k[0]).startswith(X.name) for k in graph
                   if isinstance(k, tuple) and k not in xkeys)
    _assert_same_sampling(sk, projkit.sketch(A, M, method="coordinated", rng=3))


def _sparse_data(n=N, d=D, seed=0):
    A = sp.random(n, d, density=0.3, random_state=seed, format="csr")
    A = A.tolil()
    A[5] = 0.0
    return A.tocsr()


@pytest.fixture
def no_densify(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("a sparse chunk was densified")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)


def _sparse_dask(A, chunks):
    # each chunk is a CSR slice of A (no dense intermediate)
    offs = np.cumsum((0,) + chunks[0])
    blocks = [[da.from_delayed(dask.delayed(A[offs[i]:offs[i + 1]].tocsr)(),
                               shape=(int(chunks[0][i]), A.shape[1]), dtype=A.dtype,
                               meta=sp.csr_matrix((0, 0), dtype=A.dtype))]
              for i in range(len(chunks[0]))]
    return da.block(blocks)


@pytest.mark.parametrize("method", LINEAR + SAMPLING)
def test_sparse_chunks_stay_sparse(method, no_densify):
    A = _sparse_data()
    X = _sparse_dask(A, ((13, 40, 7, 43),))
    assert sp.issparse(X._meta)
    ref = projkit.sketch(A, M, method=method, rng=4)
    sk = projkit.sketch(X, M, method=method, rng=4)
    if method in LINEAR:
        np.testing.assert_allclose(sk.matrix.compute(), ref.matrix, rtol=0, atol=1e-12)
    else:
        done = sk.compute()
        assert np.array_equal(done.indices, ref.indices) and done.threshold == ref.threshold
        rows = done.matrix
        assert sp.issparse(rows) and (rows != ref.matrix).nnz == 0
        W = projkit.approx_matmul(sk, sk).compute()
        Wref = projkit.approx_matmul(ref, ref)
        assert sp.issparse(W) and abs(W - Wref).max() < 1e-12


@pytest.mark.parametrize("method", LINEAR + SAMPLING)
def test_approx_matmul_of_separate_dask_sketches(method):
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((N, 4)), rng.standard_normal((N, 3))
    sa = projkit.sketch(da.from_array(A, chunks=(20, 2)), M, method=method, rng=11)
    sb = projkit.sketch(da.from_array(B, chunks=(33, 3)), M, method=method, rng=11)
    W = projkit.approx_matmul(sa, sb)
    assert isinstance(W, da.Array) and W.shape == (4, 3)
    ref = projkit.approx_matmul(projkit.sketch(A, M, method=method, rng=11),
                                projkit.sketch(B, M, method=method, rng=11))
    np.testing.assert_allclose(W.compute(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("order", [1, -1], ids=["in-order", "reversed"])
@pytest.mark.parametrize("method", LINEAR + SAMPLING)
def test_blockwise_merge_equals_whole(method, order):
    A = _data()
    X = da.from_array(A, chunks=(30, 7))
    k = 61
    opts = {"threshold": 0.05} if method == "threshold" else {}
    parts = [projkit.sketch(X[:k], M, method=method, rng=8, offset=0, n_total=N, **opts),
             projkit.sketch(X[k:], M, method=method, rng=8, offset=k, n_total=N, **opts)]
    merged = projkit.merge_sketches(parts[::order])  # blocks in any order
    whole = projkit.sketch(A, M, method=method, rng=8, **opts)
    assert merged.n_rows == N and merged.offset == 0 and merged.options == whole.options
    if method in SAMPLING:
        _assert_same_sampling(merged, whole)
        # the in-memory merge of the same blocks, given in the same order, agrees too
        mem = projkit.merge_sketches([p.compute() for p in parts[::order]])
        assert np.array_equal(mem.indices, whole.indices) and mem.threshold == whole.threshold
    else:
        assert isinstance(merged.matrix, da.Array)
        np.testing.assert_allclose(merged.matrix.compute(), whole.matrix, rtol=0,
                                   atol=_rounding(whole.matrix))


def test_sampling_products_and_merges_are_lazy():
    """approx_matmul and merge_sketches of lazy sampling sketches read nothing at the call,
    and their results equal the in-memory ones."""
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((N, 4)), rng.standard_normal((N, 3))
    ra, rb = _ReadCounter(A, ((20,) * 5 + (3,), (2, 2))), _ReadCounter(B, ((33, 70), (3,)))
    sa = projkit.sketch(ra.X, M, method="coordinated", rng=4)
    sb = projkit.sketch(rb.X, M, method="coordinated", rng=4)
    W = projkit.approx_matmul(sa, sb)
    parts = [projkit.sketch(ra.X[:50], M, method="coordinated", rng=4, offset=0, n_total=N),
             projkit.sketch(ra.X[50:], M, method="coordinated", rng=4, offset=50, n_total=N)]
    merged = projkit.merge_sketches(parts)
    assert isinstance(W, da.Array) and W.shape == (4, 3) and W.numblocks == (2, 1)
    assert sum(ra.calls.values()) + sum(rb.calls.values()) == 0
    ref_a = projkit.sketch(A, M, method="coordinated", rng=4)
    ref_b = projkit.sketch(B, M, method="coordinated", rng=4)
    np.testing.assert_allclose(W.compute(), projkit.approx_matmul(ref_a, ref_b), rtol=1e-13,
                               atol=1e-13)
    _assert_same_sampling(merged, ref_a)


def test_merging_dask_and_in_memory_sampling_sketches_is_refused():
    A = _data()
    parts = [projkit.sketch(da.from_array(A[:50], chunks=25), M, method="coordinated", rng=1,
                            offset=0, n_total=N),
             projkit.sketch(A[50:], M, method="coordinated", rng=1, offset=50, n_total=N)]
    with pytest.raises(TypeError, match="sketches: expected sketches of dask arrays only"):
        projkit.merge_sketches(parts)


@pytest.mark.parametrize("method", LINEAR)
def test_operator_and_adjoint_on_dask(method):
    rng = np.random.default_rng(2)
    A = rng.standard_normal((N, 5))
    S = projkit.sketch_operator(N, M, method=method, rng=3)
    SX = S @ da.from_array(A, chunks=(20, 3))
    assert isinstance(SX, da.Array)
    np.testing.assert_allclose(SX.compute(), S @ A, rtol=0, atol=_rounding(S @ A))
    Y = rng.standard_normal((M, 4))
    StY = S.T @ da.from_array(Y, chunks=(7, 2))
    assert isinstance(StY, da.Array) and StY.shape == (N, 4)
    np.testing.assert_allclose(StY.compute(), S.T @ Y, rtol=0, atol=1e-13)
    x = rng.standard_normal(N)
    np.testing.assert_allclose((S @ da.from_array(x, chunks=30)).compute(), S @ x, atol=1e-12)


def test_threaded_scheduler_matches_synchronous():
    A = _data()
    sk = projkit.sketch(da.from_array(A, chunks=(10, 3)), M, method="sparse_sign", rng=1)
    with dask.config.set(scheduler="threads"):
        a = sk.matrix.compute()
    with dask.config.set(scheduler="sync"):
        b = sk.matrix.compute()
    assert np.array_equal(a, b)  # the tree fixes the order of the sums


def test_methods_without_a_dask_engine():
    X = da.from_array(_data(), chunks=20)
    for method in ("srht", "linf"):
        with pytest.raises(ValueError, match="sparse_sign"):
            projkit.sketch(X, M, method=method, rng=0)
    S = projkit.sketch_operator(N, M, method="srht", rng=0)
    with pytest.raises(ValueError, match="not available for dask"):
        S @ X


def test_bad_dask_input():
    A = _data()
    X = da.from_array(A, chunks=20)
    unknown = X[X[:, 0] > 0]  # NaN chunk sizes
    with pytest.raises(ValueError, match="unknown.*NaN.*compute_chunk_sizes"):
        projkit.sketch(unknown, M, rng=0)
    with pytest.raises(ValueError, match="unknown"):
        projkit.sketch_operator(N, M, rng=0) @ unknown
    obj = da.from_array(np.empty((10, 2), dtype=object), chunks=5)
    with pytest.raises(TypeError, match="A: expected a real numeric"):
        projkit.sketch(obj, 3, rng=0)
    with pytest.raises(ValueError, match="X: expected 103 rows"):
        projkit.sketch_operator(N, M, rng=0) @ X[:50]
    with pytest.raises(ValueError, match="size: expected at most"):
        projkit.sketch(X, N + 1, rng=0)
    B = da.from_array(A[:, :2], chunks=(30, 2))
    with pytest.raises(ValueError, match="row chunks"):
        transpose_matmul(X, B)
    with pytest.raises(ValueError, match="A: expected a 2-D"):
        projkit.sketch(da.ones(5, chunks=2), 2, rng=0)
    # the sampling methods check at the call, before any graph is built
    with pytest.raises(ValueError, match="size: expected an int"):
        projkit.sketch(X, N + 1, method="coordinated", rng=0)
    with pytest.raises(ValueError, match="threshold: expected a positive finite"):
        projkit.sketch(X, M, method="threshold", rng=0, threshold=-1.0)
    with pytest.raises(ValueError, match="unknown.*NaN"):
        projkit.sketch(unknown, M, method="coordinated", rng=0)
    lazy = projkit.sketch(X, M, method="coordinated", rng=0)
    with pytest.raises(TypeError, match="mix array libraries"):
        projkit.approx_matmul(lazy, projkit.sketch(A, M, method="coordinated", rng=0))
    with pytest.raises(ValueError, match="different numbers of rows"):
        projkit.approx_matmul(lazy, projkit.sketch(X[:50], M, method="coordinated", rng=0))


def _cupy_chunks():
    cupy = pytest.importorskip("cupy")
    A = _data()
    return cupy, A, da.from_array(cupy.asarray(A), chunks=((13, 40, 7, 43), (3, 4)),
                                  asarray=False)


@pytest.mark.gpu
@pytest.mark.parametrize("method", LINEAR)
def test_cupy_chunks(method):
    cupy, A, X = _cupy_chunks()
    sk = projkit.sketch(X, M, method=method, rng=5)
    out = sk.matrix.compute()
    assert isinstance(out, cupy.ndarray)  # the chunks stay on the device
    ref = projkit.sketch(A, M, method=method, rng=5).matrix
    np.testing.assert_allclose(cupy.asnumpy(out), ref, rtol=0, atol=_rounding(ref))


@pytest.mark.parametrize("call", [
    lambda X: projkit.cur(X, 3, rng=0),
    lambda X: projkit.pinv(X),
    lambda X: projkit.nystrom(X, 3, rng=0),
    lambda X: projkit.SVDUpdater(X, 3),
    lambda X: projkit.sketch_lstsq(X, da.ones(X.shape[0], chunks=20), rng=0),
    lambda X: projkit.FastRP(4, rng=0).fit(X[:20, :20] @ X[:20, :20].T),
], ids=["cur", "pinv", "nystrom", "SVDUpdater", "sketch_lstsq", "FastRP.fit"])
def test_functions_without_a_dask_engine_refuse_instead_of_computing(call):
    """A lazy input is never computed into memory behind the user's back: a function with no
    Dask engine raises a TypeError naming the ones that have one, and computes no chunk."""
    computed = []

    def chunk(block_info=None):
        computed.append(block_info)
        return np.ones((20, 7))

    X = da.map_blocks(chunk, chunks=((20,) * 3, (7,)), dtype=np.float64, meta=np.empty((0, 0)))
    with pytest.raises(TypeError, match="no Dask engine.*sketch, sketch_operator"):
        call(X)
    assert computed == []


@pytest.mark.gpu
@pytest.mark.parametrize("method", SAMPLING)
def test_cupy_chunks_sampling(method):
    cupy, A, X = _cupy_chunks()
    sk = projkit.sketch(X, M, method=method, rng=5).compute()
    assert isinstance(sk.matrix, cupy.ndarray)  # the sampled rows stay on the device
    ref = projkit.sketch(A, M, method=method, rng=5)
    assert np.array_equal(sk.indices, ref.indices) and sk.threshold == ref.threshold
    assert np.array_equal(cupy.asnumpy(sk.matrix), ref.matrix)
    W = projkit.approx_matmul(projkit.sketch(X, M, method=method, rng=5),
                              projkit.sketch(X, M, method=method, rng=5)).compute()
    assert isinstance(W, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(W), projkit.approx_matmul(ref, ref), rtol=1e-12)
