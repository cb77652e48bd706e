"""``sketch(..., dense_output=False)``: a CSR ``S @ A`` for sparse A and a sparse-family S."""

import numpy as np
import pytest
import scipy.sparse as sp

import projkit

A = sp.random(3000, 200, density=0.005, format="csr", rng=np.random.default_rng(2))


@pytest.mark.parametrize("method", ["countsketch", "sparse_sign", "sparse"])
def test_sparse_result_equals_dense_result(method, dtype):
    Ad = A.astype(dtype)
    sk = projkit.sketch(Ad, 800, method=method, rng=5, dense_output=False)
    ref = projkit.sketch(Ad, 800, method=method, rng=5)
    assert sp.issparse(sk.matrix) and sk.matrix.format == "csr"
    assert sk.matrix.dtype == dtype and sk.matrix.shape == (800, 200)
    # the same sums of products, in another order: n·eps·|S||A| (Higham §3.5), factor 4
    S = projkit.sketch_operator(3000, 800, method=method, rng=5, dtype=dtype,
                                **sk.options).toarray()
    bound = 4 * 3000 * np.finfo(dtype).eps * (np.abs(S) @ abs(Ad).toarray())
    assert np.all(np.abs(sk.matrix.toarray() - ref.matrix) <= bound)
    # sparse enough to pay: fewer bytes than the dense result at this size
    assert sk.nbytes < ref.nbytes
    # the input is not modified, and the sparse sketch combines like the dense one
    np.testing.assert_array_equal(Ad.toarray(), A.astype(dtype).toarray())
    est = projkit.approx_matmul(sk, sk)
    est = est.toarray() if sp.issparse(est) else est
    np.testing.assert_allclose(est, ref.matrix.T @ ref.matrix, rtol=1e-4 if dtype == np.float32
                               else 1e-10, atol=1e-4 if dtype == np.float32 else 1e-10)


def test_blocks_merge_to_the_whole():
    parts = [projkit.sketch(A[a:b], 400, method="countsketch", rng=8, offset=a, n_total=3000,
                            dense_output=False) for a, b in ((0, 1000), (1000, 3000))]
    whole = projkit.sketch(A, 400, method="countsketch", rng=8)
    merged = projkit.merge_sketches(parts)
    M = merged.matrix.toarray() if sp.issparse(merged.matrix) else merged.matrix
    np.testing.assert_allclose(M, whole.matrix, atol=1e-12)


def test_dense_input_gives_a_dense_result():
    # as scikit-learn's SparseRandomProjection: a dense input stays dense
    sk = projkit.sketch(A.toarray(), 100, method="sparse", rng=1, dense_output=False)
    assert isinstance(sk.matrix, np.ndarray)


def test_bad_dense_output():
    with pytest.raises(ValueError, match="dense_output"):
        projkit.sketch(A, 100, method="gaussian", dense_output=False)
    with pytest.raises(TypeError, match="dense_output"):
        projkit.sketch(A, 100, method="countsketch", dense_output="no")
