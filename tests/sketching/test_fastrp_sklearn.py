"""FastRP as a scikit-learn transformer: check_estimator, transform, random_state, Pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import projkit
from projkit import FastRP

sklearn = pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402


def _graph(n=40, p=0.15, seed=0):
    g = np.random.default_rng(seed)
    M = np.triu((g.random((n, n)) < p) * g.uniform(0.5, 2.0, (n, n)), 1)
    return sp.csr_matrix(M + M.T)


def test_check_estimator_passes_whole():
    # every check, none expected to fail: FastRP is tagged pairwise (X is the adjacency) and
    # positive_only (degrees), so scikit-learn feeds it square non-negative affinities
    check_estimator(FastRP(8))
    check_estimator(FastRP(6, weights=(1.0, 1.0), dtype=np.float64, random_state=3))


def test_transform_of_the_fitted_graph_is_the_embedding():
    S = _graph()
    model = FastRP(16, weights=(0.5, 1.0, 2.0), beta=-0.3, dtype=np.float64, rng=4).fit(S)
    # the same arithmetic by another route (sparse products, not the fused kernels)
    np.testing.assert_allclose(model.transform(S), model.embedding_, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(model.transform(S.toarray()[:7]), model.embedding_[:7],
                               rtol=1e-12, atol=1e-13)
    f32 = FastRP(16, rng=4).fit(S)
    assert f32.transform(S).dtype == np.float32
    np.testing.assert_allclose(f32.transform(S), f32.embedding_, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("transition", [True, False])
def test_transform_of_new_nodes_against_the_formula(transition):
    """A new node with edge weights x: its i-th power is a(x) N_{i-1} of the fitted graph.

    With weights (0, 1) and normalize=False the embedding is a(x) N_1, and N_1 = A V is
    fastrp's embedding with weights (1,) and normalize=False (same rng, so the same V)."""
    S = _graph(seed=1)
    kw = dict(beta=-0.5, transition=transition, normalize=False, dtype=np.float64, rng=9)
    N1 = projkit.fastrp(S, 12, weights=(1.0,), **kw)
    X = np.random.default_rng(2).random((5, 40)) * (np.random.default_rng(3).random((5, 40)) < .3)
    X[4] = 0.0  # a node without edges embeds to zero
    a = X / np.maximum(X.sum(1, keepdims=True), 1e-300) if transition else X
    got = FastRP(12, weights=(0.0, 1.0), **kw).fit(S).transform(X)
    np.testing.assert_allclose(got, a @ N1, rtol=1e-12, atol=1e-14)
    assert not got[4].any()
    X0 = X.copy()
    FastRP(12, weights=(0.0, 1.0), **kw).fit(S).transform(sp.csr_matrix(X))
    np.testing.assert_array_equal(X, X0)  # input not modified


def test_random_state_like_rng():
    S = _graph(seed=5)
    E_rng = FastRP(8, rng=11).fit_transform(S)
    np.testing.assert_array_equal(FastRP(8, random_state=11).fit_transform(S), E_rng)
    # a RandomState gives a fresh seed at each fit, reproducibly from its own seed
    rs = np.random.RandomState(0)
    model = FastRP(8, random_state=rs)
    E1, E2 = model.fit_transform(S), model.fit_transform(S)
    assert not np.array_equal(E1, E2)
    model.set_params(random_state=np.random.RandomState(0))
    np.testing.assert_array_equal(model.fit_transform(S), E1)
    with pytest.raises(ValueError, match="rng, random_state"):
        FastRP(8, rng=1, random_state=1).fit(S)
    with pytest.raises(TypeError, match="random_state"):
        FastRP(8, random_state="seed").fit(S)
    with pytest.raises(ValueError, match="random_state"):
        FastRP(8, random_state=-1).fit(S)


def test_pipeline_after_a_neighbors_graph():
    """KNeighborsTransformer gives the (n, n) graph at fit and the (m, n) edges of new points
    at transform: FastRP after it embeds new points without refitting."""
    from sklearn.datasets import make_blobs
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsTransformer
    from sklearn.pipeline import make_pipeline

    X, y = make_blobs(300, centers=3, cluster_std=1.0, random_state=0)
    pipe = make_pipeline(KNeighborsTransformer(mode="connectivity", n_neighbors=8),
                         FastRP(32, weights=(1.0, 1.0, 1.0), random_state=0),
                         LogisticRegression(max_iter=500))
    pipe.fit(X[:200], y[:200])
    # the embedding carries the neighbourhood information of the graph it propagates over:
    # about as accurate as a k-NN vote on the same graph (0.86 here; 0.87-0.89 over seeds
    # 0-2 of R). 0.05 below it leaves room for any R; chance (a useless embedding) is 1/3
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(8).fit(X[:200], y[:200]).score(X[200:], y[200:])
    assert pipe.score(X[200:], y[200:]) >= knn - 0.05


def test_transform_errors():
    S = _graph()
    with pytest.raises(sklearn.exceptions.NotFittedError):
        FastRP(8).transform(S)
    model = FastRP(8, rng=0).fit(S)
    with pytest.raises(ValueError, match="X has 39 features, but FastRP is expecting 40"):
        model.transform(np.ones((3, 39)))
    with pytest.raises(ValueError, match="Negative values"):
        model.transform(-np.ones((3, 40)))
    with pytest.raises(ValueError, match="Complex data not supported"):
        model.transform(np.ones((3, 40), dtype=complex))
    with pytest.raises(ValueError, match="Reshape your data"):
        model.transform(np.ones(40))
    assert model.n_features_in_ == model.n_nodes_ == 40


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    S = _graph(seed=7)
    T = torch.tensor(S.toarray(), dtype=torch.float32)
    model = FastRP(8, rng=2).fit(T)
    assert isinstance(model.embedding_, torch.Tensor)
    np.testing.assert_array_equal(model.embedding_.numpy(), FastRP(8, rng=2).fit_transform(S))
    assert isinstance(model.transform(T[:3]), torch.Tensor)
