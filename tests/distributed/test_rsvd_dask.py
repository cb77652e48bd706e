"""The Dask engine of rsvd and range_finder (projkit/factorizations/_rsvd_dask.py)."""

from __future__ import annotations

import collections
import threading

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp

import projkit


def _low_rank(m=240, n=40, seed=0):
    rng = np.random.default_rng(seed)
    A = (rng.standard_normal((m, 8)) * np.logspace(0, -1, 8)) @ rng.standard_normal((8, n))
    return A + 1e-3 * rng.standard_normal((m, n))


# agreement to rounding: the factors are the same functions of A and Ω computed in another
# order; σ gaps here are ≥ 0.1·σ₁, so perturbations of ~1e-15 move U, V by ≲ 1e-13
TOL = 1e-10


def _assert_svd_close(res, ref, chunks_rows):
    assert isinstance(res.U, da.Array) and res.U.chunks[0] == chunks_rows
    U, s, Vt = dask.compute(*res)
    np.testing.assert_allclose(s, ref.s, rtol=TOL)
    np.testing.assert_allclose(U, ref.U, rtol=0, atol=TOL)
    np.testing.assert_allclose(Vt, ref.Vt, rtol=0, atol=TOL)


@pytest.mark.parametrize("chunks", [((50, 17, 90, 83), (40,)), ((37,) * 6 + (18,), (15, 15, 10))])
@pytest.mark.parametrize("tall", [True, False])
def test_rsvd_equals_in_memory(chunks, tall):
    A = _low_rank()
    if not tall:  # short and fat: the engine works on Aᵀ, as in memory
        A, chunks = A.T, chunks[::-1]
    X = da.from_array(A, chunks=chunks)
    res = projkit.rsvd(X, 5, n_iter=2, rng=3)
    _assert_svd_close(res, projkit.rsvd(A, 5, n_iter=2, rng=3), X.chunks[0])
    other = projkit.rsvd(A, 5, n_iter=2, rng=4).U  # the comparison can fail: another key
    assert np.abs(np.abs(res.U.compute()) - np.abs(other)).max() < 1e-6  # same subspace ...
    assert not np.allclose(projkit.range_finder(A, 6, rng=4),
                           projkit.range_finder(X, 6, rng=3).compute())  # ... other bases


def test_one_row_per_chunk_and_structured_test_matrices():
    A = _low_rank(m=30, n=12)
    X = da.from_array(A, chunks=(1, 12))
    for sketch in ("gaussian", "sparse_sign", "srht"):
        res = projkit.rsvd(X, 3, n_iter=1, sketch=sketch, rng=2)
        _assert_svd_close(res, projkit.rsvd(A, 3, n_iter=1, sketch=sketch, rng=2), X.chunks[0])


def test_range_finder_equals_in_memory():
    A = _low_rank()
    X = da.from_array(A, chunks=((100, 140), (25, 15)))
    Q = projkit.range_finder(X, 6, rng=2)
    assert isinstance(Q, da.Array) and Q.chunks[0] == (100, 140)
    np.testing.assert_allclose(Q.compute(), projkit.range_finder(A, 6, rng=2), atol=TOL)


@pytest.fixture
def no_densify(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("a sparse chunk was densified")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)


def test_sparse_chunks(no_densify):
    A = sp.random(300, 50, density=0.2, random_state=1, format="csr")
    X = da.from_array(A, chunks=(70, 25), asarray=False)
    assert sp.issparse(X._meta)
    res = projkit.rsvd(X, 4, n_iter=2, rng=5)
    _assert_svd_close(res, projkit.rsvd(A, 4, n_iter=2, rng=5), X.chunks[0])


def test_float32_stays_float32():
    A = _low_rank().astype(np.float32)
    res = projkit.rsvd(da.from_array(A, chunks=(60, 40)), 4, n_iter=1, rng=1)
    assert res.U.dtype == res.s.dtype == res.Vt.dtype == np.float32
    U, s, Vt = dask.compute(*res)
    assert U.dtype == np.float32
    ref = projkit.rsvd(A, 4, n_iter=1, rng=1)
    np.testing.assert_allclose(s, ref.s, rtol=1e-4)


@pytest.mark.parametrize("view", ["whole", "slice", "rechunked slice"])
def test_passes_over_x_are_q_plus_2(view):
    # a power iteration's two products share one read of each chunk: q + 2 reads in all,
    # each a fresh read also when X is a slice or a rechunk (tasks that dask's own bind
    # leaves unrenamed, which would hold every chunk in memory across the passes)
    calls: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def read(block, block_info=None):
        with lock:
            calls[tuple(block_info[0]["chunk-location"])] += 1
        return block

    A = _low_rank()
    X = da.from_array(A, chunks=(50, 20)).map_blocks(read, dtype=A.dtype)
    if view != "whole":
        X = X[50:]
        A = A[50:]
    if view == "rechunked slice":
        X = X.rechunk((70, 20))
    for q in (0, 2):
        calls.clear()
        res = projkit.rsvd(X, 4, n_iter=q, rng=1)
        assert not calls  # lazy
        U, sv, Vt = dask.compute(*res, scheduler="threads")
        assert set(calls.values()) == {q + 2}
        np.testing.assert_allclose(sv, projkit.rsvd(A, 4, n_iter=q, rng=1).s, rtol=1e-10)


def test_bad_input():
    X = da.from_array(_low_rank(), chunks=50)
    with pytest.raises(ValueError, match="tol"):
        projkit.rsvd(X, 3, tol=0.1)
    with pytest.raises(ValueError, match="rank: expected an int"):
        projkit.rsvd(X, 41)
    with pytest.raises(ValueError, match="NaN"):
        projkit.rsvd(X[X[:, 0] > 0], 3)
    with pytest.raises(TypeError, match="A: expected a real numeric"):
        projkit.rsvd(da.from_array(np.empty((10, 4), dtype=object), chunks=5), 2)
    with pytest.raises(ValueError, match="sketch"):
        projkit.range_finder(X, 3, sketch="nope")


def test_persisted_input_is_read_where_it_lies():
    # a persisted X holds its chunks already: no re-reads, same factors
    A = _low_rank()
    X = da.from_array(A, chunks=(50, 40)).persist(scheduler="threads")
    res = projkit.rsvd(X, 5, n_iter=2, rng=3)
    lazy = projkit.rsvd(da.from_array(A, chunks=(50, 40)).map_blocks(np.copy), 5, n_iter=2,
                        rng=3)
    # the lazy X is cloned for each of the 3 reads after the first; the persisted one is not
    n_persisted, n_lazy = len(res.U.__dask_graph__()), len(lazy.U.__dask_graph__())
    assert n_lazy - n_persisted >= 3 * X.npartitions
    _assert_svd_close(res, projkit.rsvd(A, 5, n_iter=2, rng=3), X.chunks[0])
