"""FastRP: graph embeddings by propagating a very sparse random projection.

FastRP (Chen, Sultan, Tian, Chen & Skiena, CIKM 2019) embeds the nodes of a graph by
multiplying a very sparse random projection ``R`` (Li, Hastie & Church, KDD 2006) by the first
``k`` powers of the graph's transition matrix and summing the (row-normalized) results with
weights. It needs ``k`` sparse-times-dense products and nothing else: no random walks, no SGD.

The function :func:`fastrp` computes the embedding; :class:`FastRP` wraps it as a
scikit-learn style transformer. On NumPy/SciPy input the propagation runs in fused parallel
Numba kernels (one pass per power: SpMM, row normalization and weighted sum together,
:mod:`._fastrp_numba`); on CuPy input it runs as cuSPARSE SpMM through
:mod:`cupyx.scipy.sparse`, on the device (:mod:`._fastrp_xp`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import linalg
from .._backend.dispatch import select
from .._backend.estimator import ParamsMixin, TransformerMixin, resolve_rng
from .._backend.namespace import is_cupy, is_dask, is_sparse, is_torch
from .._backend.random import draw_key, hash_row
from .._backend.validation import check_array, check_input, check_positive_int
from . import _fastrp_numba, _fastrp_xp
from . import linear as _linear

__all__ = ["FastRP", "fastrp"]

_DEFAULT_WEIGHTS = (0.0, 0.0, 1.0, 6.67)


def fastrp(
    graph: Any,
    dim: int = 128,
    *,
    weights: Sequence[float] = _DEFAULT_WEIGHTS,
    beta: float = -0.64,
    self_influence: float = 0.0,
    features: Any = None,
    feature_ratio: float = 0.0,
    transition: bool = True,
    normalize: bool = True,
    density: float | None = None,
    dtype: Any = np.float32,
    rng: Any = None,
) -> Any:
    r"""Embed the nodes of a graph with FastRP (very sparse random projection + propagation).

    Parameters
    ----------
    graph : sparse matrix, array, networkx graph or CuPy sparse matrix
        The ``n x n`` adjacency matrix ``S`` (``S[i, j]`` is the weight of the edge
        ``i -> j``): a SciPy sparse matrix or array (CSR, CSC, COO, ...), a dense NumPy array,
        a :mod:`networkx` graph (its ``"weight"`` attribute, 1 where absent; nodes in
        ``graph.nodes`` order), or a :mod:`cupyx.scipy.sparse` matrix / CuPy array (then the
        embedding is computed and returned on the GPU). Directed and weighted graphs, self-loops
        and isolated nodes are allowed. A ``dask.array`` adjacency (NumPy or SciPy sparse
        chunks, any chunking) gives a lazy dask embedding chunked like its rows, equal to the
        in-memory one to rounding; it makes ``len(weights) + 1`` passes over the chunks, takes
        no ``features``, and reports negative weights when the chunks are computed.
    dim : int, default 128
        The embedding dimension.
    weights : sequence of float, default (0.0, 0.0, 1.0, 6.67)
        ``alpha_1 .. alpha_k``: the weight of each power ``A^i`` of the transition matrix; its
        length is the number of propagation steps ``k``. The default weights the 3rd and 4th
        powers, which suits social networks such as BlogCatalog.
    beta : float, default -0.64
        The degree normalization strength: the random vector of node ``j`` is scaled by
        ``d_j^beta``, so negative values damp high-degree nodes.
    self_influence : float, default 0.0
        Weight of each node's own (normalized) initial vector in its embedding (Neo4j GDS's
        ``nodeSelfInfluence``).
    features : array or sparse matrix, shape (n, f), optional
        Node features, mixed in as GDS's ``propertyRatio`` does: the last
        ``round(feature_ratio * dim)`` columns of each node's initial vector are its features
        projected by an ``f x round(feature_ratio * dim)`` very sparse random projection.
    feature_ratio : float in [0, 1], default 0.0
        The share of the dimensions given to ``features`` (required > 0 with ``features``).
    transition : bool, default True
        Propagate with the random-walk transition matrix ``A = D^{-1} S`` (True) or with the
        adjacency ``S`` itself (False).
    normalize : bool, default True
        L2-normalize the rows of every ``N_i`` before the weighted sum (the paper's setting).
    density : float in (0, 1], optional
        Fraction of non-zeros of ``R``; default ``1 / sqrt(n)`` (Li et al.'s very sparse
        projection; GDS uses 1/3).
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        The dtype of the embedding and of the computation.
    rng : None, int or numpy.random.Generator
        Fixes ``R`` (SPEC 7). An int is the hash key of ``R`` itself, so the same int gives
        the same embedding in every process and on every device.

    Returns
    -------
    embedding : ndarray, shape (n, dim)
        On the input's device (CuPy in, CuPy out), in ``dtype``.

    Raises
    ------
    ValueError
        For a non-square adjacency, NaN/inf, negative edge weights where degrees are used
        (``transition=True`` or ``beta != 0``), or out-of-range options.
    TypeError
        For an input that is not an adjacency matrix or graph.

    See Also
    --------
    FastRP : the same as a scikit-learn style transformer.
    projkit.sketch_operator : the very sparse random projection ``R`` comes from it.

    Notes
    -----
    With ``S`` the adjacency, ``d = S 1`` the (weighted out-)degrees, ``A = D^{-1} S`` (or
    ``A = S``), ``L = diag(d^beta)``, ``R`` an ``n x dim`` very sparse random projection and
    ``V = L R`` the initial vectors,

    .. math::

        N_1 = A V, \qquad N_i = A N_{i-1}\ (i = 2..k), \qquad
        E = \sum_{i=1}^k \alpha_i \,\mathrm{nrm}(N_i) \;+\; \sigma\,\mathrm{nrm}(V),

    where ``nrm`` scales every row to unit L2 norm (rows that are zero stay zero; it is the
    identity when ``normalize=False``) and ``sigma`` is ``self_influence``. This is the
    paper's and the reference implementation's arithmetic: the powers propagate unnormalized
    and are normalized when summed (GDS instead propagates the normalized ``nrm(N_{i-1})``,
    which differs when degrees vary). A node with zero degree has a zero row in ``A`` (no
    division by zero) and the scale ``1`` in ``L`` (as in GDS), so an isolated node's
    embedding is zero unless ``self_influence > 0``.

    ``R`` is ``S_R^T`` for ``S_R = sketch_operator(n, dim, method="sparse", density=1/s)``:
    its entries are ``±sqrt(s / dim)`` with probability ``1/(2s)`` each and 0 otherwise. Li
    et al. write ``±sqrt(s)``; the constant ``1/sqrt(dim)`` (which gives every row of ``R``
    unit expected squared norm, as in GDS) cancels under ``nrm`` and only rescales ``E``
    otherwise. The paper's ``L = diag((d/2m)^beta)`` differs from ``diag(d^beta)`` by the
    constant ``(2m)^{-beta}``, which cancels the same way. With ``features = F`` the initial
    vectors are ``V = [L R_base, F P]`` (``P`` an ``f x round(ratio·dim)`` very sparse
    projection of density ``1/sqrt(f)``, ``R_base`` the remaining columns), as GDS builds
    them: the degree scale applies to the random part only.

    The cost is ``k`` products of the sparse ``A`` with an ``n x dim`` block, i.e.
    ``O(k · nnz(S) · dim)`` time and three ``n x dim`` blocks of memory.

    References
    ----------
    .. [1] H. Chen, S. F. Sultan, Y. Tian, M. Chen and S. Skiena, "Fast and Accurate Network
       Embeddings via Very Sparse Random Projection", CIKM 2019. arXiv:1908.11512.
    .. [2] P. Li, T. J. Hastie and K. W. Church, "Very Sparse Random Projections", KDD 2006.
    .. [3] Neo4j Graph Data Science, "Fast Random Projection" (``gds.fastRP``).

    Examples
    --------
    >>> import networkx as nx
    >>> import projkit
    >>> G = nx.karate_club_graph()
    >>> E = projkit.fastrp(G, 32, weights=(1.0, 1.0, 1.0), rng=0)
    >>> E.shape, E.dtype
    ((34, 32), dtype('float32'))
    >>> bool((projkit.fastrp(G, 32, weights=(1.0, 1.0, 1.0), rng=0) == E).all())
    True
    """
    if is_dask(graph):
        return _fastrp_on_dask(graph, dim, weights=weights, beta=beta,
                               self_influence=self_influence, features=features,
                               feature_ratio=feature_ratio, transition=transition,
                               normalize=normalize, density=density, dtype=dtype, rng=rng)
    S, xp, back = _check_graph(graph)
    n = S.shape[0]
    dim = check_positive_int(dim, name="dim")
    opts = _check_options(
        S, n, dim, weights=weights, beta=beta, self_influence=self_influence,
        feature_ratio=feature_ratio, transition=transition, normalize=normalize,
        density=density, dtype=dtype,
    )
    F = _check_features(features, n, xp, opts["feature_ratio"])
    key = draw_key(rng)
    return back(_fastrp(S, F, dim, key, xp=xp, **opts))


class FastRP(TransformerMixin, ParamsMixin):
    """FastRP node embeddings as a scikit-learn transformer.

    ``FastRP(dim, ...).fit(graph)`` embeds the nodes of ``graph`` (stored in ``embedding_``,
    returned by ``fit_transform``); :meth:`transform` embeds *new* nodes from their edges to
    the fitted ones. The parameters are those of :func:`fastrp` (which does the work).

    In scikit-learn's terms the estimator is *pairwise* (its ``X`` is the square
    adjacency/affinity matrix of the nodes, as for ``SpectralEmbedding(affinity=
    "precomputed")``) and takes non-negative input only (with ``transition=True`` the degrees
    must be non-negative), so it can be a step of a ``Pipeline`` after a kernel or a
    ``kneighbors_graph``.

    Parameters
    ----------
    dim, weights, beta, self_influence, feature_ratio, transition, normalize, density, dtype, rng
        As in :func:`fastrp`.
    random_state : None, int or numpy.random.RandomState
        scikit-learn's name for ``rng`` (give one of the two): an int is the same as
        ``rng=int``; a ``RandomState`` gives a fresh seed at each :meth:`fit`.

    Attributes
    ----------
    embedding_ : array, shape (n_nodes, dim)
        The embedding of the graph given to :meth:`fit`.
    n_nodes_ : int
        The number of nodes of that graph.
    n_features_in_ : int
        The same number (the adjacency's columns), scikit-learn's name.

    Notes
    -----
    :meth:`transform` takes ``X`` of shape ``(m, n_nodes_)``: row ``r`` holds the weights of
    the edges of a new node to the fitted nodes. With ``a_r = X_r / sum(X_r)``
    (``transition=True``) or ``a_r = X_r`` and the fitted graph's powers ``N_0 = V``,
    ``N_i = A N_{i-1}``, the new node's ``i``-th power is ``a_r N_{i-1}``, and its embedding is
    ``sum_i alpha_i nrm(a_r N_{i-1})``: exactly the row that a fitted node with the same
    out-edges has in ``embedding_`` (a new node has no random vector of its own, so
    ``self_influence`` does not enter). Hence ``transform(S)`` equals ``fit(S).embedding_``
    for ``self_influence=0``. It costs one propagation over the fitted graph (``k`` products,
    as :meth:`fit`) plus ``k`` products with ``X``; the fitted adjacency is kept for it.

    Examples
    --------
    >>> import networkx as nx
    >>> import numpy as np
    >>> from projkit import FastRP
    >>> model = FastRP(16, weights=(1.0, 2.0), rng=7).fit(nx.path_graph(5))
    >>> model.embedding_.shape
    (5, 16)
    >>> S = nx.to_numpy_array(nx.path_graph(5))
    >>> bool(np.allclose(model.transform(S), model.embedding_, atol=1e-6))
    True
    >>> model.transform(np.array([[1.0, 0, 0, 0, 1.0]])).shape  # a node linked to both ends
    (1, 16)
    """

    # a square adjacency in, non-negative weights (degrees); see the class docstring
    _projkit_tags = {"transformer": True, "pairwise": True, "positive_only": True,
                     "sparse": True}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        try:  # the output has the ``dtype`` parameter's dtype, whatever the input's
            tags.transformer_tags.preserves_dtype = [np.dtype(self.dtype).name]
        except TypeError:
            tags.transformer_tags.preserves_dtype = []
        return tags

    def __init__(
        self,
        dim: int = 128,
        *,
        weights: Sequence[float] = _DEFAULT_WEIGHTS,
        beta: float = -0.64,
        self_influence: float = 0.0,
        feature_ratio: float = 0.0,
        transition: bool = True,
        normalize: bool = True,
        density: float | None = None,
        dtype: Any = np.float32,
        rng: Any = None,
        random_state: Any = None,
    ) -> None:
        self.dim = dim
        self.weights = weights
        self.beta = beta
        self.self_influence = self_influence
        self.feature_ratio = feature_ratio
        self.transition = transition
        self.normalize = normalize
        self.density = density
        self.dtype = dtype
        self.rng = rng
        self.random_state = random_state

    def fit(self, graph: Any, y: Any = None, *, features: Any = None) -> FastRP:
        """Embed ``graph`` (and its node ``features``); ``y`` is ignored. Returns self."""
        back_in = None  # torch in, torch out: the conversion of the first check is kept
        if not type(graph).__module__.startswith("networkx"):
            graph, _, back_in = self._check_samples(graph, reset=True, name="graph",
                                                    accept_sparse=True)
        S, xp, back = _check_graph(graph)
        back = back_in or back
        n = S.shape[0]
        dim = check_positive_int(self.dim, name="dim")
        opts = _check_options(
            S, n, dim, weights=self.weights, beta=self.beta,
            self_influence=self.self_influence, feature_ratio=self.feature_ratio,
            transition=self.transition, normalize=self.normalize, density=self.density,
            dtype=self.dtype,
        )
        F = _check_features(features, n, xp, opts["feature_ratio"])
        key = draw_key(resolve_rng(self.rng, self.random_state))
        self.embedding_ = back(_fastrp(S, F, dim, key, xp=xp, **opts))
        self.n_nodes_ = self.n_features_in_ = int(n)
        self._fitted = (S, F, dim, key, opts)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """``fit(X, **fit_params).embedding_`` (``X`` the graph; ``features=`` may be passed).

        The fitted nodes' own embedding: it equals ``fit(X).transform(X)`` for
        ``self_influence=0`` and adds each node's own vector otherwise."""
        return self.fit(X, y, **fit_params).embedding_

    def transform(self, X: Any) -> Any:
        """Embed new nodes from their edges to the fitted nodes.

        Parameters
        ----------
        X : array or sparse matrix, shape (m, n_nodes_)
            ``X[r, j]`` is the weight of the edge from new node ``r`` to fitted node ``j``
            (non-negative with ``transition=True`` or ``beta != 0``).

        Returns
        -------
        embedding : array, shape (m, dim)
            See the class Notes; a row without edges embeds to zero.
        """
        self._check_is_fitted("_fitted")
        Xc, xp, back = self._check_samples(X, reset=False, accept_sparse=True)
        S, F, dim, key, opts = self._fitted
        if bool(is_cupy(Xc)) != bool(is_cupy(S)):
            where = "CuPy" if is_cupy(S) else "NumPy/SciPy"
            raise TypeError(f"X: expected {where} like the fitted graph, got {type(X).__name__}")
        B = linalg.csr(xp, Xc).astype(opts["dtype"])
        if (opts["transition"] or opts["beta"] != 0.0) and B.nnz and float(B.data.min()) < 0:
            raise ValueError(
                "X: Negative values in data: negative edge weights are not allowed with "
                f"transition=True or beta != 0, got a minimum weight of {float(B.data.min())}"
            )
        return back(_transform(S, F, B, dim, key, xp=xp, **opts))


# ---------------------------------------------------------------------------------------------
# validation


def _check_graph(graph: Any) -> tuple[Any, ModuleType, Any]:
    """The adjacency as CSR (SciPy or CuPyX), its namespace and the back-conversion."""
    if type(graph).__module__.startswith("networkx"):
        import networkx as nx

        if graph.number_of_nodes() == 0:
            raise ValueError("graph: expected at least one node, got an empty networkx graph")
        graph = nx.to_scipy_sparse_array(graph, weight="weight", dtype=np.float64, format="csr")
    if _is_array(graph):
        S, xp, back = check_input(graph, name="graph")
    else:  # nested lists and other array-likes: read as NumPy
        S, xp = check_array(graph, name="graph")
        back = _identity
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"graph: expected a square adjacency matrix, got shape {S.shape}")
    if S.shape[0] == 0:
        raise ValueError("graph: expected at least one node, got an empty adjacency matrix")
    return linalg.csr(xp, S), xp, back


def _is_array(x: Any) -> bool:
    """An array object of some library (not an array-like such as a nested list)."""
    return (isinstance(x, np.ndarray) or is_sparse(x) or is_cupy(x) or is_torch(x)
            or is_dask(x) or hasattr(x, "__array_namespace__"))


def _identity(y: Any) -> Any:
    return y


def _check_real(value: Any, name: str, *, low: float | None = None,
                high: float | None = None, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name}: expected a number {bound}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name}: expected a number <= {high}, got {value}")
    return value


def _check_options(S: Any | None, n: int, dim: int, *, weights: Any, beta: Any, self_influence: Any,
                   feature_ratio: Any, transition: Any, normalize: Any, density: Any,
                   dtype: Any) -> dict[str, Any]:
    if isinstance(weights, str | bytes) or not isinstance(weights, Sequence | np.ndarray):
        raise TypeError(
            f"weights: expected a sequence of floats (one per power), got {type(weights).__name__}"
        )
    alphas = tuple(_check_real(w, "weights") for w in np.asarray(weights).ravel().tolist())
    if len(alphas) == 0:
        raise ValueError("weights: expected at least one weight (one per power of A), got none")
    beta = _check_real(beta, "beta")
    self_influence = _check_real(self_influence, "self_influence")
    feature_ratio = _check_real(feature_ratio, "feature_ratio", low=0.0, high=1.0)
    if density is None:
        density = min(1.0, 1.0 / math.sqrt(n))
    else:
        density = _check_real(density, "density", low=0.0, high=1.0, low_open=True)
    for flag, name in ((transition, "transition"), (normalize, "normalize")):
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"{name}: expected a bool, got {type(flag).__name__}")
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype: expected float32 or float64, got {dt}")
    if S is not None and (transition or beta != 0.0) and S.nnz and float(S.data.min()) < 0:
        raise ValueError(
            "graph: Negative values in data: negative edge weights are not allowed with "
            "transition=True or beta != 0 (degrees must be non-negative); got a minimum weight "
            f"of {float(S.data.min())}"
        )
    return dict(alphas=alphas, beta=beta, self_influence=self_influence,
                feature_ratio=feature_ratio, transition=bool(transition),
                normalize=bool(normalize), density=density, dtype=dt)


def _fastrp_on_dask(graph: Any, dim: Any, *, features: Any, rng: Any, **options: Any) -> Any:
    """:func:`fastrp` of a chunked ``dask.array`` adjacency: checks that need no pass over
    the data, then the lazy engine (negative weights are found when the chunks are computed)."""
    from ..distributed import check_dask
    from . import _fastrp_dask

    S = check_dask(graph, name="graph")
    n = S.shape[0]
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"graph: expected a square adjacency matrix, got shape {S.shape}")
    if n == 0:
        raise ValueError("graph: expected at least one node, got an empty adjacency matrix")
    dim = check_positive_int(dim, name="dim")
    opts = _check_options(None, n, dim, **options)
    if features is not None:
        raise ValueError("features: node features are not supported with a dask graph; "
                         "compute the graph, or embed without features")
    _check_features(None, n, np, opts.pop("feature_ratio"))
    return _fastrp_dask.fastrp(S, dim, draw_key(rng), **opts)


def _check_features(features: Any, n: int, xp: ModuleType, ratio: float) -> Any:
    if features is None:
        if ratio > 0:
            raise ValueError(f"feature_ratio: expected 0 without features, got {ratio}")
        return None
    if ratio == 0:
        raise ValueError(
            "feature_ratio: expected a ratio in (0, 1] with features (the share of dimensions "
            "they get), got 0"
        )
    F, fxp = check_array(features, name="features", ndim=(1, 2))
    if fxp.__name__ != xp.__name__:
        raise TypeError(
            f"features: expected {xp.__name__} like the graph, got {fxp.__name__}; "
            "move them to one library first"
        )
    if F.ndim == 1:
        F = F.reshape(-1, 1)
    if F.shape[0] != n:
        raise ValueError(f"features: expected {n} rows (one per node), got shape {F.shape}")
    return F


# ---------------------------------------------------------------------------------------------
# computation


def _projection(n: int, size: int, density: float, key: int, dtype: np.dtype,
                xp: ModuleType = np) -> Any:
    """``R = S_R^T``: the ``n x size`` very sparse random projection as CSR on ``xp``'s device
    (SciPy or CuPyX), generated from the hash of ``key`` and never formed densely."""
    # S_R is size x n with size <= n_total; when size > n (tiny graphs, few features), take the
    # first n columns of a size x size operator: still i.i.d. very sparse columns.
    extra = {"n_total": size} if size > n else {}
    S_R = _linear._operator(n, size, "sparse", key, dtype=dtype, xp=xp, density=density,
                            **extra)
    return S_R.tosparse().T.tocsr()


def _feature_key(key: int) -> int:
    # an independent key for the feature projection P, derived from the user's key
    return int(hash_row(key, np.uint64(0xFEA7)))


def _initial_vectors(F: Any, n: int, dim: int, key: int, deg: Any, *, xp: ModuleType,
                     beta: float, feature_ratio: float, density: float,
                     dtype: np.dtype) -> Any:
    """``V = [L R_base, F P]`` (n x dim, CSR on the input's device)."""
    smod = linalg.sparse_module(xp)
    prop = 0 if F is None else min(dim, max(1, round(feature_ratio * dim)))
    base = dim - prop
    blocks = []
    if base:
        L = xp.ones(n, dtype=xp.float64)
        nz = deg > 0
        L[nz] = deg[nz] ** beta
        R = _projection(n, base, density, key, dtype, xp)
        blocks.append(_fastrp_xp.scale_rows(R, L, xp))
    if prop:
        f = F.shape[1]
        P = _projection(f, prop, min(1.0, 1.0 / math.sqrt(f)), _feature_key(key), dtype, xp)
        # F P = (P^T F^T)^T with the sparse P^T on the left: works for dense and sparse F
        FP = (P.T.tocsr() @ F.T).T.astype(dtype)
        if not is_sparse(FP):
            FP = xp.ascontiguousarray(FP)
        blocks.append(smod.csr_matrix(FP))
    if len(blocks) == 1:
        return smod.csr_matrix(blocks[0], dtype=dtype)
    return smod.csr_matrix(smod.hstack(blocks), dtype=dtype)


def _fastrp(S: Any, F: Any, dim: int, key: int, *, xp: ModuleType, alphas: tuple[float, ...],
            beta: float, self_influence: float, feature_ratio: float, transition: bool,
            normalize: bool, density: float, dtype: np.dtype) -> Any:
    """The body: S is CSR (SciPy or CuPyX) and every option is checked."""
    S = S.astype(dtype) if S.dtype != dtype else S
    n = S.shape[0]
    deg = xp.asarray(S.sum(axis=1), dtype=xp.float64).ravel()
    V = _initial_vectors(F, n, dim, key, deg, xp=xp, beta=beta, feature_ratio=feature_ratio,
                         density=density, dtype=dtype)
    rowscale = xp.ones_like(deg)
    if transition:
        rowscale = xp.zeros_like(deg)
        nz = deg > 0
        rowscale[nz] = 1.0 / deg[nz]
    propagate = select(xp, cpu=_fastrp_numba.propagate, gpu=_fastrp_xp.propagate,
                       fallback=_fastrp_xp.propagate, what="fastrp")
    return propagate(S, V, rowscale, xp, alphas, self_influence, normalize, dtype)


def _transform(S: Any, F: Any, B: Any, dim: int, key: int, *, xp: ModuleType,
               alphas: tuple[float, ...], beta: float, self_influence: float,
               feature_ratio: float, transition: bool, normalize: bool, density: float,
               dtype: np.dtype) -> Any:
    """New nodes' embeddings: ``sum_i alpha_i nrm(b N_{i-1})`` over the fitted graph's powers
    ``N_0 = V, N_i = A N_{i-1}``, ``b`` the (transition-scaled) rows of the CSR ``B``."""
    S = S.astype(dtype) if S.dtype != dtype else S
    n = S.shape[0]
    deg = xp.asarray(S.sum(axis=1), dtype=xp.float64).ravel()
    V = _initial_vectors(F, n, dim, key, deg, xp=xp, beta=beta, feature_ratio=feature_ratio,
                         density=density, dtype=dtype)

    def scale(M: Any) -> Any:
        if not transition:
            return M
        d = xp.asarray(M.sum(axis=1), dtype=xp.float64).ravel()
        inv = xp.zeros_like(d)
        inv[d > 0] = 1.0 / d[d > 0]
        return _fastrp_xp.scale_rows(M, inv, xp)

    A, Bs = scale(S), scale(B)
    nrm = (lambda M: _fastrp_xp._row_normalized(M, xp)) if normalize else (lambda M: M)
    acc = xp.zeros((B.shape[0], dim), dtype=dtype)
    N: Any = V
    for i, alpha in enumerate(alphas):
        if i:
            N = A @ N
            N = N.toarray() if is_sparse(N) else N
        if alpha != 0.0:
            M = Bs @ N
            acc += dtype.type(alpha) * nrm(M.toarray() if is_sparse(M) else xp.asarray(M))
    return acc
