import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import projkit
from projkit._backend import linalg
from projkit.sketching import _coordinated_xp
from tests.conftest import to_host

SAMPLING = ["coordinated", "threshold"]
RNG = np.random.default_rng(99)
N = 1500
A = RNG.standard_normal((N, 4)) * RNG.exponential(1.0, size=(N, 1))  # uneven row norms
B = A[:, :3] @ RNG.standard_normal((3, 3)) + 0.3 * RNG.standard_normal((N, 3))
AS = sp.random(N, 30, density=0.05, format="csr", rng=np.random.default_rng(1))
BS = sp.random(N, 20, density=0.05, format="csr", rng=np.random.default_rng(2))


@pytest.mark.parametrize("method", SAMPLING)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_unbiased(method, sparse):
    X, Y = (AS, BS) if sparse else (A, B)
    exact = np.asarray((X.T @ Y).toarray() if sparse else X.T @ Y)
    ests = []
    for k in range(300):
        W = projkit.approx_matmul(projkit.sketch(X, 60, method=method, rng=k),
                                  projkit.sketch(Y, 60, method=method, rng=k))
        ests.append(W.toarray() if sp.issparse(W) else W)
    ests = np.array(ests)
    # If unbiased, E‖mean − AᵀB‖²_F = E‖W − AᵀB‖²_F / R for R independent estimates, so the
    # mean's error is about rms/√R; allow 4× that (per-entry tests are unreliable here: sparse
    # products have entries that 300 draws rarely hit). A bias would not shrink with R.
    rms = np.sqrt(np.mean([np.linalg.norm(W - exact) ** 2 for W in ests]))
    assert np.linalg.norm(ests.mean(axis=0) - exact) <= 4 * rms / np.sqrt(len(ests))


@pytest.mark.parametrize("method", SAMPLING)
def test_frobenius_bound(method):
    # Daliri et al.: E‖W − AᵀB‖²_F ≤ 2/(k−1)‖A‖²_F‖B‖²_F, so at k = 2/(δε²) + 1 the error exceeds
    # ε‖A‖_F‖B‖_F with probability ≤ δ (Markov). ε = 0.25, δ = 0.2 → k = 161; over 25 fixed
    # seeds at most δ·25 = 5 may exceed it.
    eps, delta = 0.25, 0.2
    k = int(np.ceil(2 / (delta * eps**2) + 1))
    bound = eps * np.linalg.norm(A) * np.linalg.norm(B)
    fails = sum(
        np.linalg.norm(projkit.approx_matmul(projkit.sketch(A, k, method=method, rng=s),
                                             projkit.sketch(B, k, method=method, rng=s))
                       - A.T @ B) > bound for s in range(25))
    assert fails <= delta * 25


def test_independent_processes_agree():
    """Sketch B in another Python process with the same int seed: same estimate."""
    code = (
        "import numpy as np, sys, projkit;"
        "B = np.load(sys.argv[1]);"
        "s = projkit.sketch(B, 80, method='coordinated', rng=2024);"
        "np.savez(sys.argv[2], m=s.matrix, i=s.indices, w=s.weights, t=s.threshold)"
    )
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = Path(tmp) / "b.npy", Path(tmp) / "s.npz"
        np.save(fin, B)
        subprocess.run([sys.executable, "-c", code, str(fin), str(fout)], check=True)
        z = np.load(fout)
    local = projkit.sketch(B, 80, method="coordinated", rng=2024)
    np.testing.assert_array_equal(z["i"], local.indices)
    np.testing.assert_array_equal(z["m"], local.matrix)
    assert float(z["t"]) == local.threshold


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_merge_equals_whole_priority(sparse):
    X = AS if sparse else A
    cuts = [0, 400, 401, 1100, N]
    parts = [projkit.sketch(X[a:b], 90, method="coordinated", rng=5, offset=a, n_total=N)
             for a, b in zip(cuts, cuts[1:], strict=False)]
    whole = projkit.sketch(X, 90, method="coordinated", rng=5)
    # the blocks in any order: a merge kept them in the order given, so a shuffled list gave
    # unsorted indices and a wrong approx_matmul
    for order in ([0, 1, 2, 3], [3, 1, 0, 2]):
        merged = projkit.merge_sketches([parts[i] for i in order])
        np.testing.assert_array_equal(merged.indices, whole.indices)
        assert merged.threshold == whole.threshold and merged.n_rows == N
        Mm = merged.matrix.toarray() if sparse else merged.matrix
        Mw = whole.matrix.toarray() if sparse else whole.matrix
        np.testing.assert_array_equal(Mm, Mw)
        W = projkit.approx_matmul(merged, whole)
        Ww = projkit.approx_matmul(whole, whole)
        np.testing.assert_array_equal(W.toarray() if sparse else W,
                                      Ww.toarray() if sparse else Ww)


def test_merge_threshold_needs_explicit_threshold():
    c = 0.05
    parts = [projkit.sketch(A[a:b], 90, method="threshold", rng=5, offset=a, n_total=N,
                            threshold=c) for a, b in [(0, 700), (700, N)]]
    whole = projkit.sketch(A, 90, method="threshold", rng=5, threshold=c)
    merged = projkit.merge_sketches(parts)
    np.testing.assert_array_equal(merged.indices, whole.indices)
    np.testing.assert_array_equal(merged.matrix, whole.matrix)
    auto = [projkit.sketch(A[a:b], 90, method="threshold", rng=5, offset=a, n_total=N)
            for a, b in [(0, 700), (700, N)]]
    with pytest.raises(ValueError, match="explicit threshold"):
        projkit.merge_sketches(auto)


def test_threshold_expected_size():
    sizes = [projkit.sketch(A, 100, method="threshold", rng=s).indices.size for s in range(200)]
    # the size is a sum of independent Bernoullis with mean 100: variance <= 100, so the mean
    # of 200 draws is within 5 * 10 / sqrt(200) ≈ 3.5 of 100
    assert abs(np.mean(sizes) - 100) < 3.6


def test_priority_keeps_exactly_size_and_skips_zero_rows():
    X = A.copy()
    X[::3] = 0.0
    sk = projkit.sketch(X, 50, method="coordinated", rng=1)
    assert sk.indices.size == 50 and np.all(np.linalg.norm(X[sk.indices], axis=1) > 0)
    assert np.all(np.diff(sk.indices) > 0)
    # fewer non-zero rows than size: keep them all, τ = ∞ (exact product)
    Y = np.zeros((10, 2))
    Y[[1, 4]] = 1.0
    sy = projkit.sketch(Y, 5, method="coordinated", rng=1)
    assert sy.threshold == np.inf
    np.testing.assert_allclose(projkit.approx_matmul(sy, sy), Y.T @ Y)


def test_sparse_never_densified(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("densified")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", boom)
        monkeypatch.setattr(cls, "todense", boom)
    for method in SAMPLING:
        sa = projkit.sketch(AS, 100, method=method, rng=3)
        sb = projkit.sketch(BS, 100, method=method, rng=3)
        assert sp.issparse(sa.matrix)
        assert sp.issparse(projkit.approx_matmul(sa, sb))


def test_float32_kept_and_nbytes():
    sk = projkit.sketch(A.astype(np.float32), 40, method="coordinated", rng=0)
    assert sk.matrix.dtype == np.float32
    assert sk.nbytes == 40 * 4 * 4 + 40 * 8 + 40 * 8


def test_errors():
    sa = projkit.sketch(A, 40, method="coordinated", rng=1)
    with pytest.raises(ValueError, match="key"):
        projkit.approx_matmul(sa, projkit.sketch(B, 40, method="coordinated", rng=2))
    with pytest.raises(ValueError, match="method"):
        projkit.approx_matmul(sa, projkit.sketch(B, 40, method="threshold", rng=1))
    with pytest.raises(ValueError, match="rows"):
        projkit.approx_matmul(sa, projkit.sketch(B[:100], 40, method="coordinated", rng=1))
    with pytest.raises(ValueError, match="size"):
        projkit.sketch(A, N + 1, method="coordinated")
    with pytest.raises(ValueError, match="size"):
        projkit.sketch(A, 0, method="threshold")
    with pytest.raises(ValueError, match="threshold"):
        projkit.sketch(A, 5, method="threshold", threshold=-1.0)
    with pytest.raises(TypeError, match="unexpected option"):
        projkit.sketch(A, 5, method="coordinated", density=0.3)
    with pytest.raises(ValueError, match="NaN"):
        projkit.sketch(np.full((3, 2), np.nan), 2, method="coordinated")


def test_approx_matmul_on_device(xp):
    sa = projkit.sketch(xp.asarray(A), 200, method="coordinated", rng=1)
    sb = projkit.sketch(xp.asarray(B), 200, method="coordinated", rng=1)
    W = projkit.approx_matmul(sa, sb)
    assert isinstance(W, xp.ndarray)
    ref = projkit.approx_matmul(projkit.sketch(A, 200, method="coordinated", rng=1),
                                projkit.sketch(B, 200, method="coordinated", rng=1))
    np.testing.assert_allclose(to_host(W), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", SAMPLING)
def test_sparse_row_weights_on_device(xp, method):
    """The CSR row norms (Numba on the CPU, CuPyX on the GPU) agree with the array code."""
    X = linalg.sparse_module(xp).csr_matrix(AS)
    sk = projkit.sketch(X, 90, method=method, rng=4)
    ref = projkit.sketch(AS, 90, method=method, rng=4)
    np.testing.assert_array_equal(to_host(sk.indices), ref.indices)
    np.testing.assert_allclose(to_host(sk.weights), ref.weights, rtol=1e-12)
    np.testing.assert_allclose(_coordinated_xp.row_sq_norms_csr(AS, np),
                               np.asarray(AS.multiply(AS).sum(axis=1)).ravel(), rtol=1e-12)
