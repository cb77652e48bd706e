"""FastRP: the formula against a dense computation, graph corner cases, inputs, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import projkit
from projkit._backend import linalg
from projkit.sketching import _fastrp_xp
from projkit.sketching import fastrp as fastrp_mod
from tests.conftest import to_host, tol


def _random_graph(n, p, *, seed, directed=False, weighted=False, loops=False):
    g = np.random.default_rng(seed)
    M = (g.random((n, n)) < p).astype(np.float64)
    if weighted:
        M *= g.uniform(0.1, 3.0, size=(n, n))
    if not directed:
        M = np.triu(M, 1)
        M = M + M.T
    if loops:
        M[np.diag_indices(n)] = g.random(n) < 0.5
    elif directed:
        M[np.diag_indices(n)] = 0
    return M


def _nrm(X):
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def _dense_fastrp(S, R, *, weights, beta, self_influence=0.0, transition=True, normalize=True,
                  FP=None):
    """The formula of the docstring, written densely in float64."""
    S = np.asarray(S, dtype=np.float64)
    d = S.sum(axis=1)
    L = np.ones_like(d)
    L[d > 0] = d[d > 0] ** beta
    A = S / np.where(d > 0, d, 1.0)[:, None] if transition else S
    A = np.where((d > 0)[:, None] | (not transition), A, 0.0)
    V = L[:, None] * np.asarray(R, dtype=np.float64)
    if FP is not None:
        V = np.hstack([V, FP])
    nrm = _nrm if normalize else (lambda X: X)
    E = self_influence * nrm(V)
    N = A @ V
    for i, a in enumerate(weights):
        if i:
            N = A @ N
        E = E + a * nrm(N)
    return E


@pytest.fixture
def fixed_R(monkeypatch):
    """Replace the very sparse projection by a fixed dense Gaussian R (n x dim, no zeros), so
    the test checks the propagation arithmetic independently of the projection."""
    store = {}

    def fake(n, size, density, key, dtype, xp=np):
        g = np.random.default_rng(key % 1000 + size)
        R = g.standard_normal((n, size))
        store[(n, size)] = R
        return sp.csr_matrix(R.astype(dtype))

    monkeypatch.setattr(fastrp_mod, "_projection", fake)
    return store


@pytest.mark.parametrize("transition", [True, False])
@pytest.mark.parametrize("normalize", [True, False])
def test_matches_dense_formula_fixed_R(fixed_R, dtype, transition, normalize):
    S = _random_graph(30, 0.15, seed=1, weighted=True)
    S[3, :] = S[:, 3] = 0  # an isolated node
    w = (0.5, 1.0, 2.0, 3.0)
    E = projkit.fastrp(sp.csr_matrix(S), 8, weights=w, beta=-0.5, transition=transition,
                       normalize=normalize, dtype=dtype, rng=3)
    assert E.dtype == dtype and E.shape == (30, 8)
    ref = _dense_fastrp(S, fixed_R[(30, 8)], weights=w, beta=-0.5, transition=transition,
                        normalize=normalize)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(E, ref, rtol=tol(dtype), atol=tol(dtype) * scale)
    assert np.all(E[3] == 0)


def test_matches_dense_formula_real_projection(dtype):
    """With the real very sparse R (read back through the same private helper)."""
    S = _random_graph(50, 0.1, seed=2)
    dim, density, key = 16, 0.3, 11
    E = projkit.fastrp(S, dim, weights=(1.0, 2.0, 4.0), beta=-0.7, density=density,
                       dtype=dtype, rng=key)
    R = fastrp_mod._projection(50, dim, density, key, np.float64).toarray()
    assert np.count_nonzero(R) < R.size  # very sparse: zeros present
    ref = _dense_fastrp(S, R, weights=(1.0, 2.0, 4.0), beta=-0.7)
    np.testing.assert_allclose(E, ref, rtol=tol(dtype), atol=tol(dtype) * np.abs(ref).max())


def test_self_influence_and_isolated(fixed_R):
    S = _random_graph(20, 0.2, seed=4)
    S[0, :] = S[:, 0] = 0
    E = projkit.fastrp(S, 6, weights=(1.0, 1.0), self_influence=0.7, dtype=np.float64, rng=1)
    ref = _dense_fastrp(S, fixed_R[(20, 6)], weights=(1.0, 1.0), beta=-0.64,
                        self_influence=0.7)
    np.testing.assert_allclose(E, ref, rtol=1e-10, atol=1e-12)
    # the isolated node keeps only its own (normalized) vector, no NaN from 0 / 0
    np.testing.assert_allclose(np.linalg.norm(E[0]), 0.7, rtol=1e-10)
    assert np.isfinite(E).all()


def test_isolated_nodes_zero_without_self_influence():
    S = sp.csr_matrix((5, 5))
    E = projkit.fastrp(S, 4, rng=0)
    assert E.shape == (5, 4) and np.all(E == 0)
    S = sp.csr_matrix(_random_graph(12, 0.3, seed=5))
    S = sp.block_diag([S, sp.csr_matrix((3, 3))], format="csr")
    E = projkit.fastrp(S, 8, weights=(1.0, 1.0), rng=0)
    assert np.isfinite(E).all() and np.all(E[-3:] == 0)


def test_self_loops_directed_weighted(fixed_R):
    S = _random_graph(25, 0.15, seed=6, directed=True, weighted=True, loops=True)
    S[:, 7] = 0  # node 7: no in-edges
    S[9, :] = 0  # node 9: a sink (zero out-degree, L scale 1)
    assert not np.allclose(S, S.T)
    w = (1.0, 0.0, 2.0)
    E = projkit.fastrp(sp.coo_matrix(S), 5, weights=w, beta=-0.3, dtype=np.float64, rng=9)
    ref = _dense_fastrp(S, fixed_R[(25, 5)], weights=w, beta=-0.3)
    np.testing.assert_allclose(E, ref, rtol=1e-10, atol=1e-12)
    assert np.all(E[9] == 0)


def test_features_mixed_like_gds(fixed_R):
    S = _random_graph(15, 0.3, seed=7)
    F = np.random.default_rng(0).standard_normal((15, 3))
    E = projkit.fastrp(S, 10, weights=(1.0, 1.0), features=F, feature_ratio=0.3,
                       dtype=np.float64, rng=2)
    P = fixed_R[(3, 3)]  # f x prop: the (fake) projection of the features
    ref = _dense_fastrp(S, fixed_R[(15, 7)], weights=(1.0, 1.0), beta=-0.64, FP=F @ P)
    np.testing.assert_allclose(E, ref, rtol=1e-10, atol=1e-12)
    # sparse features give the same, and all-feature embeddings are allowed
    E2 = projkit.fastrp(S, 10, weights=(1.0, 1.0), features=sp.csr_matrix(F),
                        feature_ratio=0.3, dtype=np.float64, rng=2)
    np.testing.assert_allclose(E2, E, rtol=1e-12, atol=1e-12)
    assert projkit.fastrp(S, 4, features=F, feature_ratio=1.0, rng=0).shape == (15, 4)


def test_reproducible_and_seed_dependent():
    S = sp.csr_matrix(_random_graph(40, 0.1, seed=8))
    a = projkit.fastrp(S, 16, rng=5)
    b = projkit.fastrp(S, 16, rng=5)
    c = projkit.fastrp(S, 16, rng=6)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(projkit.fastrp(S, 16, rng=g1), projkit.fastrp(S, 16, rng=g2))


def test_input_formats_agree():
    nx = pytest.importorskip("networkx")
    S = _random_graph(20, 0.2, seed=9)  # 0/1 weights, so the int version is the same graph
    ref = projkit.fastrp(sp.csr_matrix(S), 8, rng=1)
    for graph in (S, sp.csc_matrix(S), sp.coo_matrix(S), sp.csr_array(S), nx.from_numpy_array(S),
                  S.astype(np.float32), S.astype(np.int64), sp.csr_matrix(S.astype(np.int32))):
        E = projkit.fastrp(graph, 8, rng=1)
        assert E.dtype == np.float32 and E.shape == (20, 8)
        np.testing.assert_allclose(E, ref, rtol=1e-5, atol=1e-6)
    DG = nx.DiGraph([(0, 1), (1, 2)])
    assert projkit.fastrp(DG, 4, rng=0).shape == (3, 4)


def test_float32_default_float64_on_request():
    S = sp.csr_matrix(_random_graph(20, 0.2, seed=10))
    assert projkit.fastrp(S, 8, rng=0).dtype == np.float32
    assert projkit.fastrp(S.astype(np.float32), 8, rng=0).dtype == np.float32
    e64 = projkit.fastrp(S, 8, dtype=np.float64, rng=0)
    e32 = projkit.fastrp(S, 8, rng=0)
    assert e64.dtype == np.float64
    np.testing.assert_allclose(e32, e64, rtol=1e-4, atol=1e-5)


def test_input_not_modified():
    S = sp.csr_matrix(_random_graph(20, 0.2, seed=11, weighted=True))
    before = S.copy()
    projkit.fastrp(S, 8, rng=0)
    assert (S != before).nnz == 0 and S.dtype == before.dtype


def test_scipy_path_matches_numba_path():
    """The sparse-product body (used on CuPy) gives the Numba kernels' result on SciPy."""
    S = sp.csr_matrix(_random_graph(40, 0.15, seed=12, directed=True, weighted=True))
    F = np.random.default_rng(1).random((40, 4))
    for normalize in (True, False):
        kw = dict(weights=(0.3, 1.0, 2.0), beta=-0.5, self_influence=0.4, features=F,
                  feature_ratio=0.25, normalize=normalize, dtype=np.float64, rng=4)
        E = projkit.fastrp(S, 12, **kw)
        opts = fastrp_mod._check_options(
            S, 40, 12, weights=kw["weights"], beta=kw["beta"], self_influence=0.4,
            feature_ratio=0.25, transition=True, normalize=normalize, density=None,
            dtype=np.float64)
        deg = np.asarray(S.sum(axis=1)).ravel()
        V = fastrp_mod._initial_vectors(F, 40, 12, 4, deg, xp=np, beta=-0.5,
                                        feature_ratio=0.25, density=opts["density"],
                                        dtype=np.dtype(np.float64))
        rowscale = np.where(deg > 0, 1.0 / np.where(deg > 0, deg, 1.0), 0.0)
        E2 = _fastrp_xp.propagate(S, V, rowscale, np, opts["alphas"], 0.4, normalize,
                                  np.dtype(np.float64))
        np.testing.assert_allclose(E, E2, rtol=1e-10, atol=1e-12)


def test_negative_weights_allowed_only_without_degrees():
    S = _random_graph(10, 0.4, seed=13)
    S[0, 1] = S[1, 0] = -1.0
    with pytest.raises(ValueError, match="negative"):
        projkit.fastrp(S, 4, rng=0)
    with pytest.raises(ValueError, match="negative"):
        projkit.fastrp(S, 4, transition=False, rng=0)
    E = projkit.fastrp(S, 4, transition=False, beta=0.0, rng=0)
    assert np.isfinite(E).all()


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(graph=np.ones((3, 4))), ValueError, "square"),
        (dict(graph=np.ones(3)), ValueError, "2-D"),
        (dict(graph=np.array([[0, np.nan], [1, 0]])), ValueError, "NaN"),
        (dict(graph="abc"), TypeError, "graph"),
        (dict(graph=None), TypeError, "graph"),
        (dict(graph=np.zeros((0, 0))), ValueError, "node"),
        (dict(dim=0), ValueError, "dim"),
        (dict(dim=2.5), TypeError, "dim"),
        (dict(weights=()), ValueError, "weights"),
        (dict(weights=1.0), TypeError, "weights"),
        (dict(weights=(1.0, np.inf)), ValueError, "weights"),
        (dict(beta=np.nan), ValueError, "beta"),
        (dict(density=0.0), ValueError, "density"),
        (dict(density=1.5), ValueError, "density"),
        (dict(dtype=np.int32), ValueError, "dtype"),
        (dict(feature_ratio=0.5), ValueError, "feature_ratio"),
        (dict(features=np.ones((4, 2))), ValueError, "feature_ratio"),
        (dict(features=np.ones((3, 2)), feature_ratio=0.5), ValueError, "rows"),
        (dict(features=np.ones((4, 2)), feature_ratio=1.5), ValueError, "feature_ratio"),
        (dict(transition=1), TypeError, "transition"),
        (dict(rng=-1), ValueError, "rng"),
        (dict(rng="seed"), TypeError, "rng"),
    ],
)
def test_bad_input(kwargs, exc, match):
    kwargs = dict(kwargs)
    graph = kwargs.pop("graph", np.ones((4, 4)) - np.eye(4))
    with pytest.raises(exc, match=match):
        projkit.fastrp(graph, kwargs.pop("dim", 4), **kwargs)


def test_transformer():
    S = sp.csr_matrix(_random_graph(30, 0.2, seed=14))
    model = projkit.FastRP(8, weights=(1.0, 2.0), rng=3)
    assert model.fit(S) is model
    np.testing.assert_array_equal(model.embedding_,
                                  projkit.fastrp(S, 8, weights=(1.0, 2.0), rng=3))
    assert model.n_nodes_ == 30
    np.testing.assert_array_equal(model.fit_transform(S), model.embedding_)
    assert model.get_params()["dim"] == 8
    model.set_params(dim=4, beta=-0.2)
    assert model.fit_transform(S).shape == (30, 4)
    with pytest.raises(ValueError, match="invalid parameter 'n_components' for estimator FastRP"):
        model.set_params(n_components=3)
    assert "dim=4" in repr(model) and "beta=-0.2" in repr(model)
    F = np.ones((30, 2))
    assert model.set_params(feature_ratio=0.5).fit(S, features=F).embedding_.shape == (30, 4)
    clone = pytest.importorskip("sklearn.base").clone
    assert clone(model).get_params() == model.get_params()


def test_quality_on_karate_club():
    """Embeddings separate the two karate-club factions (a smoke test of usefulness).

    Nearest-centroid accuracy on the known split; with dim 64 and a fixed seed it is 1.0 in
    practice; 0.85 leaves room for any valid very sparse R."""
    nx = pytest.importorskip("networkx")
    G = nx.karate_club_graph()
    y = np.array([G.nodes[v]["club"] == "Officer" for v in G], dtype=int)
    E = projkit.fastrp(G, 64, weights=(1.0, 1.0, 1.0), beta=0.0, density=1 / 3, rng=0)
    E = _nrm(E.astype(np.float64))
    c0, c1 = E[y == 0].mean(0), E[y == 1].mean(0)
    pred = (E @ c1 > E @ c0).astype(int)
    assert (pred == y).mean() >= 0.85


# ------------------------------------------------------------------- every engine (NumPy, CuPy)


def _device_graph(n=60, p=0.1, seed=0):
    g = np.random.default_rng(seed)
    M = (g.random((n, n)) < p) * g.uniform(0.5, 2.0, size=(n, n))
    M[5, :] = M[:, 5] = 0  # an isolated node
    return sp.csr_matrix(M)


@pytest.mark.parametrize("normalize", [True, False])
def test_sparse_on_device_matches_cpu(xp, dtype, normalize):
    S = _device_graph()
    kw = dict(weights=(0.5, 1.0, 2.0), beta=-0.5, self_influence=0.3, normalize=normalize,
              dtype=dtype, rng=4)
    E_cpu = projkit.fastrp(S, 16, **kw)
    E_dev = projkit.fastrp(linalg.sparse_module(xp).csr_matrix(S), 16, **kw)
    assert isinstance(E_dev, xp.ndarray) and E_dev.dtype == dtype
    np.testing.assert_allclose(to_host(E_dev), E_cpu, rtol=tol(dtype),
                               atol=tol(dtype) * np.abs(E_cpu).max())
    assert np.isfinite(to_host(E_dev)).all()


def test_dense_adjacency_and_features_on_device(xp):
    S = _device_graph(seed=1)
    F = np.random.default_rng(0).random((60, 3))
    kw = dict(weights=(1.0, 1.0), features=F, feature_ratio=0.25, dtype=np.float64, rng=2)
    E_cpu = projkit.fastrp(S, 12, **kw)
    kw["features"] = xp.asarray(F)
    E_dev = projkit.fastrp(xp.asarray(S.toarray()), 12, **kw)
    np.testing.assert_allclose(to_host(E_dev), E_cpu, rtol=1e-10, atol=1e-12)


@pytest.mark.gpu
def test_mixing_libraries_is_an_error():
    cp = pytest.importorskip("cupy")
    with pytest.raises(TypeError, match="features"):
        projkit.fastrp(cp.asarray(_device_graph().toarray()), 8, features=np.ones((60, 2)),
                       feature_ratio=0.5, rng=0)


def test_transformer_on_device(xp):
    model = projkit.FastRP(8, rng=0).fit(linalg.sparse_module(xp).csr_matrix(_device_graph()))
    assert isinstance(model.embedding_, xp.ndarray) and model.n_nodes_ == 60


def test_nested_list_adjacency():
    """A nested list is read as a dense NumPy adjacency (as before check_input)."""
    M = [[0.0, 1.0, 0.0], [1.0, 0.0, 2.0], [0.0, 2.0, 0.0]]
    np.testing.assert_array_equal(projkit.fastrp(M, 4, rng=1),
                                  projkit.fastrp(np.array(M), 4, rng=1))
